"""Reading the fit records of a cache folder: one JSON object per fit, checked before anyone uses it.

A record describes a fit (see :meth:`skbatch.cache.store.FitCache.make_record`);
the search report, the out-of-memory advice and continued fits read them.
A file that is not one (not a regular file, not a JSON object, or one whose
``key`` is not its file name) is skipped with a warning naming it, so a bad
file can neither hang a reader (a FIFO) nor crash a search after its fits
have trained.
"""

import json
import os
import stat
import warnings
from pathlib import Path

__all__ = ["read_records", "read_regular_file"]

# A record is a few kB; anything much larger is not one.
_MAX_RECORD_BYTES = 1 << 20


def read_regular_file(path, *, limit=None):
    """The bytes of ``path`` and its modification time; raise ValueError unless it is a regular file of this account.

    Opened without following a link and without blocking, so a FIFO or a
    device placed at ``path`` is refused rather than waited on.
    """
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as error:
        raise ValueError(f"it cannot be opened as a regular file ({error.strerror})") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("it is not a regular file")
        if hasattr(os, "getuid") and info.st_uid != os.getuid():
            raise ValueError(f"it belongs to uid {info.st_uid}, not to this account (uid {os.getuid()})")
        if limit is not None and info.st_size > limit:
            raise ValueError(f"it holds {info.st_size} bytes, more than a record ever does")
        return handle.read(), info.st_mtime


def read_records(directory):
    """Every valid record in ``directory``'s ``records/`` folder, as a list of dicts; warn about the rest."""
    folder = Path(directory) / "records"
    if not folder.is_dir():
        return []
    records = []
    for path in sorted(folder.glob("*.json")):
        if path.name.startswith(".tmp-"):
            continue
        try:
            data, _ = read_regular_file(path, limit=_MAX_RECORD_BYTES)
            record = json.loads(data)
            if not isinstance(record, dict):
                raise ValueError(f"it holds a JSON {type(record).__name__}, not an object")
            if record.get("key") != path.stem:
                raise ValueError("its key is not its file name")
        except (OSError, ValueError) as error:
            warnings.warn(f"Ignoring the fit record {path}: {error}.", RuntimeWarning, stacklevel=3)
            continue
        records.append(record)
    return records
