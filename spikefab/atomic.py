"""Write a file atomically: a temporary file in the same folder, then ``os.replace``.

A reader (or a run stopped half-way) never sees half a file; the new file gets the
permissions a plain ``open`` would give it under the umask.
"""

import os
import tempfile
from pathlib import Path


__all__ = ["write_atomically"]


def _new_file_mode():
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_atomically(path, write):
    """Call ``write(file)`` on a binary file that then replaces ``path``."""
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                                         suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
        os.chmod(temporary, _new_file_mode())
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
