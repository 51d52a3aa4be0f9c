"""Write a file so that readers see the old version or the whole new one, never a part."""

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["atomic_write"]


def atomic_write(path, write):
    """Call ``write(binary_file)`` on a temporary file beside ``path``, then move it into place.

    The temporary file is flushed to disk before one ``os.replace`` puts it
    at ``path``, so an interruption or a full disk at any point leaves the
    old file (or none) and no partial one; on failure the temporary file is
    removed. The parent directory is created if needed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp makes the file readable by its owner only; results are shared.
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
