#!/usr/bin/env python3
"""A misbehaving USB stick for tests: a FUSE file system over a small flash array.

    python3 tests/fakestick.py MOUNT --real 16MiB --fake 64MiB [--die-after-read BYTES --death eio|exit]
                                                               [--write-rate BYTES_PER_SECOND]

Like a fake-capacity stick's controller, it claims ``--fake`` bytes (statfs)
but holds only ``--real``: every newly written 4 KiB page gets the next page
of an ever-growing logical address space, stored at that address modulo the
real size.  Writes past the real capacity therefore land on top of earlier
data; each file reads back fine right after it is written, and is silently
changed by a later one.  File names and sizes live in the controller's table,
so the damage shows only in the bytes.

``--die-after-read N`` models a stick whose driver dies: once N bytes were
read, every call fails with EIO (``--death eio``) or the process exits so the
mount's endpoint is gone (``--death exit``, ENOTCONN).  SIGUSR1 kills it the
same way at once.  ``--write-rate`` makes it a slow stick (each write waits its
time), so a test can act while a pack is still writing.  Runs in the foreground until unmounted; needs fusepy and
libfuse2.  Mounted with direct_io, so nothing is served from the page cache.
"""

from __future__ import annotations

import argparse
import errno
import os
import signal
import stat
import time

from fuse import FUSE, FuseOSError, Operations

PAGE = 4096
UNITS = {"": 1, "K": 2**10, "KIB": 2**10, "M": 2**20, "MIB": 2**20, "G": 2**30, "GIB": 2**30,
         "KB": 10**3, "MB": 10**6, "GB": 10**9}


def parse_size(text: str) -> int:
    digits = text.rstrip("KMGiBkmgb")
    return int(digits) * UNITS[text[len(digits):].upper()]


class Node:
    def __init__(self, mode: int) -> None:
        now = time.time()
        self.mode, self.size, self.pages = mode, 0, {}  # file page index -> logical page number
        self.times = [now, now, now]
        self.children: dict[str, Node] = {}


class FakeStick(Operations):
    def __init__(self, real: int, fake: int, die_after_read: int | None, death: str,
                 write_rate: int | None = None) -> None:
        self.write_rate = write_rate
        self.flash = bytearray(real)
        self.real_pages, self.fake = real // PAGE, fake
        self.next_page = 0
        self.root = Node(stat.S_IFDIR | 0o755)
        self.read_total, self.die_after_read, self.death = 0, die_after_read, death
        self.dead = False

    def kill(self) -> None:
        self.dead = True
        if self.death == "exit":
            os._exit(0)  # the FUSE endpoint goes with the process: callers see ENOTCONN

    def __call__(self, op, *args):
        if self.dead:
            raise FuseOSError(errno.EIO)
        return super().__call__(op, *args)  # nothreads: one call at a time, like the controller

    # -- the table -----------------------------------------------------------------------------
    def _lookup(self, path: str) -> Node:
        node = self.root
        for part in [p for p in path.split("/") if p]:
            if not stat.S_ISDIR(node.mode) or part not in node.children:
                raise FuseOSError(errno.ENOENT)
            node = node.children[part]
        return node

    def _parent(self, path: str) -> tuple[Node, str]:
        head, _, name = path.rstrip("/").rpartition("/")
        return self._lookup(head or "/"), name

    def _used_pages(self) -> int:
        return min(self.next_page, self.fake // PAGE)

    # -- file system calls -----------------------------------------------------------------------
    def getattr(self, path, fh=None):
        node = self._lookup(path)
        return {"st_mode": node.mode, "st_size": node.size, "st_nlink": 2 if stat.S_ISDIR(node.mode) else 1,
                "st_uid": 0, "st_gid": 0, "st_atime": node.times[0], "st_mtime": node.times[1],
                "st_ctime": node.times[2], "st_blocks": (node.size + 511) // 512, "st_blksize": PAGE}

    def readdir(self, path, fh):
        return [".", "..", *self._lookup(path).children]

    def statfs(self, path):
        blocks = self.fake // PAGE
        free = max(0, blocks - self.next_page)  # what the controller claims, not what it has
        return {"f_bsize": PAGE, "f_frsize": PAGE, "f_blocks": blocks, "f_bfree": free, "f_bavail": free,
                "f_files": 10**6, "f_ffree": 10**6, "f_favail": 10**6, "f_namemax": 255, "f_flag": 0}

    def access(self, path, mode):
        self._lookup(path)

    def mkdir(self, path, mode):
        parent, name = self._parent(path)
        if name in parent.children:
            raise FuseOSError(errno.EEXIST)
        parent.children[name] = Node(stat.S_IFDIR | (mode & 0o7777))

    def rmdir(self, path):
        parent, name = self._parent(path)
        if self._lookup(path).children:
            raise FuseOSError(errno.ENOTEMPTY)
        del parent.children[name]

    def unlink(self, path):
        parent, name = self._parent(path)
        self._lookup(path)
        del parent.children[name]  # like the stick, never reclaims the pages

    def rename(self, old, new):
        node = self._lookup(old)
        old_parent, old_name = self._parent(old)
        new_parent, new_name = self._parent(new)
        del old_parent.children[old_name]
        new_parent.children[new_name] = node

    def chmod(self, path, mode):
        node = self._lookup(path)
        node.mode = stat.S_IFMT(node.mode) | (mode & 0o7777)

    def chown(self, path, uid, gid):
        self._lookup(path)

    def utimens(self, path, times=None):
        node = self._lookup(path)
        now = time.time()
        node.times[0], node.times[1] = times or (now, now)

    def create(self, path, mode, fi=None):
        parent, name = self._parent(path)
        if name in parent.children:
            raise FuseOSError(errno.EEXIST)
        parent.children[name] = Node(stat.S_IFREG | (mode & 0o7777))
        return 0

    def open(self, path, flags):
        self._lookup(path)
        return 0

    def read(self, path, size, offset, fh):
        node = self._lookup(path)
        end = min(node.size, offset + size)
        out = bytearray()
        position = offset
        while position < end:
            index, within = divmod(position, PAGE)
            n = min(PAGE - within, end - position)
            logical = node.pages.get(index)
            if logical is None:
                out += bytes(n)
            else:
                start = (logical % self.real_pages) * PAGE + within
                out += self.flash[start:start + n]
            position += n
        self.read_total += len(out)
        if self.die_after_read is not None and self.read_total > self.die_after_read:
            self.kill()
            raise FuseOSError(errno.EIO)
        return bytes(out)

    def write(self, path, data, offset, fh):
        node = self._lookup(path)
        if self.write_rate:
            time.sleep(len(data) / self.write_rate)
        position, view = offset, memoryview(data)
        while view:
            index, within = divmod(position, PAGE)
            n = min(PAGE - within, len(view))
            if index not in node.pages:
                if self.next_page >= self.fake // PAGE:
                    raise FuseOSError(errno.ENOSPC)
                node.pages[index] = self.next_page
                self.next_page += 1
            start = (node.pages[index] % self.real_pages) * PAGE + within
            self.flash[start:start + n] = view[:n]
            position += n
            view = view[n:]
        node.size = max(node.size, position)
        return len(data)

    def truncate(self, path, length, fh=None):
        node = self._lookup(path)
        node.size = length
        for index in [i for i in node.pages if i * PAGE >= length]:
            del node.pages[index]

    def flush(self, path, fh):
        return 0

    def fsync(self, path, datasync, fh):
        return 0

    def release(self, path, fh):
        return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mount")
    parser.add_argument("--real", type=parse_size, required=True, help="bytes the stick really holds")
    parser.add_argument("--fake", type=parse_size, required=True, help="bytes it claims to hold")
    parser.add_argument("--die-after-read", type=parse_size, default=None)
    parser.add_argument("--death", choices=["eio", "exit"], default="eio")
    parser.add_argument("--write-rate", type=parse_size, default=None, help="bytes per second written")
    args = parser.parse_args()
    stick = FakeStick(args.real, args.fake, args.die_after_read, args.death, args.write_rate)
    signal.signal(signal.SIGUSR1, lambda *_: stick.kill())
    FUSE(stick, args.mount, foreground=True, nothreads=True, direct_io=True, big_writes=True,
         max_write=131072, max_read=131072, fsname="fakestick")


if __name__ == "__main__":
    main()
