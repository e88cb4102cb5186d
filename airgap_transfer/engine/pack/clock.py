"""Index creation times that strictly increase on this host, one second at least apart.

The rollback rule (trust/replay.py) orders two indexes of one bundle by their
signed ``created`` time, which has second resolution (FORMAT.md).  Two packs of
the same bundle within one second carried equal times, and then the older could
be replayed after the newer.  So each pack run takes a time at least one second
after the last one this state folder handed out: when packs follow each other
that fast, a time at most a few seconds ahead of the clock.
"""

from __future__ import annotations

import fcntl
import os
from datetime import UTC, datetime, timedelta

from airgap_transfer.format.fields import CREATED_FORMAT
from airgap_transfer.state import paths

LAST_NAME = "last-created"
MAX_AHEAD = timedelta(hours=1)   # a stored time further ahead is a clock that jumped, or a bad file: not followed


def next_created(now: datetime | None = None) -> str:
    """``created`` for a new index: the clock's second, or one after the last handed out if that is not earlier."""
    moment = (now or datetime.now(UTC)).replace(microsecond=0)
    path = paths.state_dir() / LAST_NAME
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError:
        return moment.strftime(CREATED_FORMAT)  # no state folder to remember in: the clock alone
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)          # two packs starting together get different seconds
        last = _parse(os.pread(fd, 64, 0))
        if last is not None and moment <= last < moment + MAX_AHEAD:
            moment = last + timedelta(seconds=1)
        text = moment.strftime(CREATED_FORMAT)
        os.ftruncate(fd, 0)
        os.pwrite(fd, text.encode("ascii"), 0)
        return text
    except OSError:
        return moment.strftime(CREATED_FORMAT)
    finally:
        os.close(fd)


def _parse(data: bytes) -> datetime | None:
    try:
        return datetime.strptime(data.decode("ascii").strip(), CREATED_FORMAT).replace(tzinfo=UTC)
    except (UnicodeDecodeError, ValueError):
        return None
