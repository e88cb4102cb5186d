"""Guards of the state folder: one run per journal at a time, and room for what it will record.

Two runs of the same pack would share a transfer and its journal: the second
would take the first one's fresh chunks for leftovers and delete them.  So a
run holds an exclusive ``flock`` on ``<journal>.lock`` for as long as it
writes; the kernel releases it when the process ends, however it ends, so a
stale lock file never blocks anyone.  The file names the holder (pid, start
time, command) for the refusal message.

A state folder that fills up mid-run leaves drives with chunks but no journal
or custody log; checking for room up front turns that into exit 6 before
anything is written.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import sys
import time
from pathlib import Path

from airgap_transfer import limits
from airgap_transfer.errors import AirgapError, DriveIOError, NoSpaceError, UsageError
from airgap_transfer.state import paths


class Held:
    """An exclusive lock on one journal; released by ``release`` or when the process ends."""

    def __init__(self, fd: int, path: Path) -> None:
        self.fd, self.path = fd, path

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # closing drops the flock; the file stays (removing it would race)
            self.fd = -1

    def __enter__(self) -> Held:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def lock(journal_path: Path, what: str) -> Held:
    """Hold ``journal_path``'s lock, or refuse naming the process that holds it."""
    path = journal_path.with_name(journal_path.name + ".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        holder = _holder(fd)
        os.close(fd)
        if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise
        raise UsageError(f"{what} is already running ({holder}); two runs would spoil each other's work",
                         hint="wait for it to finish (or stop it: it resumes), then run the command again") from None
    record = json.dumps({"pid": os.getpid(), "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                         "command": " ".join(sys.argv)[:1000]}).encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, record, 0)
    return Held(fd, path)


def _holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, limits.MAX_LOCK_HOLDER_BYTES, 0) or b"{}")
        pid, started, command = int(info["pid"]), str(info["started"]), str(info["command"])
    except (OSError, ValueError, KeyError, TypeError):
        return "by another process"
    return f"process {pid}, started {started}: {command[:200]}"


def check_room(folder: Path, chunks: int | None, what: str) -> None:
    """Exit 6, naming the state folder, unless it has room for the records of ``chunks`` chunks."""
    folder.mkdir(parents=True, exist_ok=True)
    need = limits.STATE_BYTES_FIXED + limits.STATE_BYTES_PER_CHUNK * (chunks or 1000)
    stats = os.statvfs(folder)
    free = stats.f_bavail * stats.f_frsize
    if free < need:
        raise NoSpaceError(f"the state folder {folder} has {free} bytes free; {what} needs about {need} for its "
                           "journal and custody log",
                           hint="free space there (or point XDG_STATE_HOME at a disk with room), then run the "
                                "same command again")


def state_folder_error(exc: OSError, what: str) -> AirgapError:
    """A failed write to the state folder, blamed on the state folder (not the drive or the output)."""
    folder = paths.state_dir()
    if exc.errno == errno.ENOSPC:
        return NoSpaceError(f"the state folder {folder} is full: {what}'s journal could not be written",
                            hint="free space there (or point XDG_STATE_HOME at a disk with room), then run the "
                                 f"same {what} command again to resume")
    return DriveIOError(f"the state folder {folder} could not be written ({exc.strerror})",
                        hint=f"check that disk, then run the same {what} command again to resume")
