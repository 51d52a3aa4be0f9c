"""Write a file so that readers see the old version or the whole new one, never a part."""

import contextlib
import os
import re
import socket
import tempfile
import threading
import time
from pathlib import Path

__all__ = ["atomic_write"]

# A temporary file this old is a dead writer's, whatever host wrote it:
# entries take seconds to write.
STALE_AFTER = 30 * 60

_PREFIX = ".tmp-"
_HOST = re.sub(r"[^A-Za-z0-9]", "_", socket.gethostname())[:40] or "host"

# Folders this process has cleaned already: the first write in each does it.
_cleaned = set()
_cleaned_lock = threading.Lock()


def _writer_is_dead(name):
    """Whether the temporary file ``name`` was written by a process of this host that no longer runs."""
    match = re.fullmatch(re.escape(_PREFIX) + r"(\w+?)-(\d+)-.*", name)
    if match is None or match.group(1) != _HOST:
        return False
    try:
        os.kill(int(match.group(2)), 0)
    except ProcessLookupError:
        return True
    except (OSError, OverflowError):  # it runs as another user, or the number is not a pid
        return False
    return False


def remove_stale_temporaries(folder, *, now=None):
    """Remove the ``.tmp-*`` files in ``folder`` left by killed writers; return their names.

    A file goes if its writer (named in the file name) was a process of
    this host that has ended, or if it is older than :data:`STALE_AFTER`.
    """
    now = time.time() if now is None else now
    removed = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            if not entry.name.startswith(_PREFIX):
                continue
            with contextlib.suppress(OSError):
                if _writer_is_dead(entry.name) or now - entry.stat(follow_symlinks=False).st_mtime > STALE_AFTER:
                    os.unlink(entry.path)
                    removed.append(entry.name)
    return removed


def atomic_write(path, write, *, sync=True):
    """Call ``write(binary_file)`` on a temporary file beside ``path``, then move it into place.

    The temporary file is flushed to disk before one ``os.replace`` puts it
    at ``path``, so an interruption or a full disk at any point leaves the
    old file (or none) and no partial one; on failure the temporary file is
    removed. ``sync=False`` skips the flush to disk, for a folder that does
    not outlive this process (a search's temporary cache). The parent
    directory is created if needed. The first write of this process in a
    folder removes the temporary files that killed writers left there.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    folder = str(path.parent.resolve())
    with _cleaned_lock:
        first = folder not in _cleaned
        _cleaned.add(folder)
    if first:
        remove_stale_temporaries(folder)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{_PREFIX}{_HOST}-{os.getpid()}-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            if sync:
                os.fsync(handle.fileno())
        # mkstemp makes the file readable by its owner only; results are shared.
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
