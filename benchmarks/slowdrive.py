#!/usr/bin/env python3
"""A stand-in for a USB stick: a folder served through FUSE at a stick's speed.

    python3 benchmarks/slowdrive.py BACKING MOUNT --write 30MB --read 90MB

Every read and write waits its turn on one clock per drive, as a stick's
controller does one thing at a time: n bytes written take n / write-rate
seconds, read n / read-rate.  Two mounts are two independent sticks, which a
machine without real USB ports cannot otherwise show.  BACKING is best a
size-limited tmpfs, so free space is the stick's.  Runs in the foreground
until unmounted (umount MOUNT).  Needs fusepy (pip) and libfuse2 (Debian).
"""

from __future__ import annotations

import argparse
import errno
import os
import threading
import time
from pathlib import Path

from fuse import FUSE, FuseOSError, Operations

ONE_MB = 10**6


class Clock:
    """When the drive is free again; callers sleep until their transfer would have finished."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.busy_until = time.monotonic()

    def spend(self, seconds: float) -> None:
        with self.lock:
            start = max(time.monotonic(), self.busy_until)
            self.busy_until = start + seconds
            done = self.busy_until
        time.sleep(max(0.0, done - time.monotonic()))


class SlowDrive(Operations):
    def __init__(self, root: str, write_rate: float, read_rate: float) -> None:
        self.root, self.write_rate, self.read_rate = root, write_rate, read_rate
        self.clock = Clock()

    def _path(self, path: str) -> str:
        return os.path.join(self.root, path.lstrip("/"))

    def __call__(self, op, path, *args):
        try:
            return super().__call__(op, self._path(path) if op not in ("read", "write", "fsync", "release",
                                                                        "flush", "truncate") else path, *args)
        except OSError as exc:
            raise FuseOSError(exc.errno or errno.EIO) from None

    def getattr(self, path, fh=None):
        info = os.lstat(path)
        return {key: getattr(info, key) for key in ("st_atime", "st_ctime", "st_gid", "st_mode", "st_mtime",
                                                     "st_nlink", "st_size", "st_uid")}

    def readdir(self, path, fh):
        return [".", ".."] + os.listdir(path)

    def statfs(self, path):
        info = os.statvfs(path)
        return {key: getattr(info, key) for key in ("f_bavail", "f_bfree", "f_blocks", "f_bsize", "f_favail",
                                                     "f_ffree", "f_files", "f_flag", "f_frsize", "f_namemax")}

    def access(self, path, mode):
        if not os.access(path, mode):
            raise FuseOSError(errno.EACCES)

    def mkdir(self, path, mode):
        os.mkdir(path, mode)

    def rmdir(self, path):
        os.rmdir(path)

    def unlink(self, path):
        os.unlink(path)

    def rename(self, old, new):
        os.replace(old, self._path(new))

    def chmod(self, path, mode):
        os.chmod(path, mode)

    def chown(self, path, uid, gid):
        os.chown(path, uid, gid)

    def utimens(self, path, times=None):
        os.utime(path, times)

    def create(self, path, mode, fi=None):
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)

    def open(self, path, flags):
        return os.open(path, flags & ~os.O_NOFOLLOW)

    def read(self, path, size, offset, fh):
        data = os.pread(fh, size, offset)
        self.clock.spend(len(data) / self.read_rate)
        return data

    def write(self, path, data, offset, fh):
        self.clock.spend(len(data) / self.write_rate)
        return os.pwrite(fh, data, offset)

    def truncate(self, path, length, fh=None):
        os.truncate(self._path(path), length)

    def flush(self, path, fh):
        return 0

    def fsync(self, path, datasync, fh):
        os.fsync(fh)

    def release(self, path, fh):
        os.close(fh)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("backing", type=Path)
    parser.add_argument("mount", type=Path)
    parser.add_argument("--write", type=float, default=30, help="MB/s written (default 30)")
    parser.add_argument("--read", type=float, default=90, help="MB/s read (default 90)")
    args = parser.parse_args()
    FUSE(SlowDrive(str(args.backing.resolve()), args.write * ONE_MB, args.read * ONE_MB), str(args.mount),
         foreground=True, nothreads=False, allow_other=False, big_writes=True, max_write=1048576,
         max_read=1048576)


if __name__ == "__main__":
    main()
