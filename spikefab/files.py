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


__all__ = ["write_atomically", "write_json", "write_text", "check_writable", "target_of"]


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


def target_of(path):
    """The file a write replaces: through a symbolic link, the file it points to."""
    return os.path.realpath(path) if os.path.islink(path) else path


def check_writable(path, *, option, what, error):
    """Refuse, with one ``error`` line, a ``path`` that ``what`` (``"a checkpoint"``)
    cannot be written to: called before any work, so that a run is not lost to a typo at
    its end. The folder must exist and take a new file; the path (``option``'s value)
    must not be empty, a folder or a device."""
    path = os.fspath(path)
    if not path:
        raise error(f"{option} needs a file name")
    where = f"cannot save {what} to {path}"
    target = target_of(path)
    if os.path.isdir(target):
        raise error(f"{where}: it is a folder")
    if os.path.exists(target) and not stat.S_ISREG(os.stat(target).st_mode):
        raise error(f"{where}: it is not a regular file")
    folder = os.path.dirname(target) or "."
    if not os.path.exists(folder):
        raise error(f"{where}: folder {folder} does not exist")
    if not os.path.isdir(folder):
        raise error(f"{where}: {folder} is not a folder")
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".spikefab-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as failure:
        raise error(f"{where}: cannot write in {folder}: {failure.strerror}") from None
