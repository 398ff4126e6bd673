"""Files written whole or not at all.

:func:`write_atomically` writes to a temporary file beside the target, flushes and
fsyncs it, gives it the old file's permissions (or the umask's for a new file) and
renames it over the target (:func:`os.replace`), then syncs the folder: a crash, a full
disk or a Ctrl-C leaves either the old file or the new one, never a torn mix. Every
report, table and checkpoint the kit writes goes through it.
"""

import contextlib
import json
import os
import stat
import tempfile


__all__ = ["write_atomically", "write_json", "write_text"]


def write_atomically(path, write):
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it over
    ``path``; on any failure (Ctrl-C included) remove it and leave ``path`` alone."""
    folder = os.path.dirname(path) or "."
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.",
                                     suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, _mode_for(path))
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    _sync_folder(folder)


def _mode_for(path):
    """The old file's permissions, or those a new file gets under the umask."""
    with contextlib.suppress(OSError):
        return stat.S_IMODE(os.stat(path).st_mode)
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _sync_folder(folder):
    """Make the rename durable (best effort: not every file system can sync a folder)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_text(path, text):
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    write_atomically(path, lambda file: file.write(text.encode()))


def write_json(path, data, indent=2):
    """Write ``data`` as JSON to ``path`` atomically."""
    write_text(path, json.dumps(data, indent=indent) + "\n")
