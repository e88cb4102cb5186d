"""A directory read as one deterministic tar stream, generated on the fly.

The same tree always gives the same bytes (so a resumed pack can trust what is
already on the drives): entries in sorted order, POSIX (pax) headers built by
``tarfile`` itself, owner ids and names normalised to 0/empty, mtimes in whole
seconds, symlinks stored as links (never followed), empty folders kept.

Nothing is copied into memory beyond the small headers: the stream is planned
up front as a list of segments (header bytes, file contents, padding), so its
total size is known before the first byte is read and any position can be
sought to directly (pack re-reads a chunk after a drive fills up).
"""

from __future__ import annotations

import bisect
import os
import stat
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from airgap_transfer import limits
from airgap_transfer.errors import UsageError

BLOCK = tarfile.BLOCKSIZE              # 512
RECORD = tarfile.RECORDSIZE            # 10240: GNU tar pads the archive to whole records


@dataclass
class _Segment:
    offset: int                  # where it starts in the stream
    length: int
    data: bytes | None = None    # header or padding bytes
    path: Path | None = None     # or the contents of this regular file


def _header(name: str, info: os.stat_result, kind: bytes, linkname: str = "") -> bytes:
    member = tarfile.TarInfo(name)
    member.type = kind
    member.mode = stat.S_IMODE(info.st_mode)
    member.mtime = max(0, int(info.st_mtime))
    member.size = info.st_size if kind == tarfile.REGTYPE else 0
    member.linkname = linkname
    member.uid = member.gid = 0
    member.uname = member.gname = ""
    return member.tobuf(format=tarfile.PAX_FORMAT, encoding="utf-8", errors="surrogateescape")


def _walk(root: Path, top: str) -> Iterator[tuple[str, Path, os.stat_result]]:
    """(archive name, path, lstat) for ``root`` and everything below, sorted by name bytes."""
    stack = [(top, root)]
    count = 0
    while stack:
        name, path = stack.pop()
        info = os.stat(path) if path is root else os.lstat(path)  # the root itself may be a link
        count += 1
        if count > limits.MAX_SOURCE_ENTRIES:
            raise UsageError(f"{root} holds more than {limits.MAX_SOURCE_ENTRIES} entries", hint="pack it in parts")
        yield name, path, info
        if stat.S_ISDIR(info.st_mode):
            children = sorted(os.listdir(path), key=os.fsencode)
            # Pushed in reverse so they pop in sorted order: depth-first, like `tar`.
            stack.extend((f"{name}/{child}", path / child) for child in reversed(children))


def plan(root: Path, top: str) -> list[_Segment]:
    segments: list[_Segment] = []
    offset = 0

    def add(length: int, data: bytes | None = None, path: Path | None = None) -> None:
        nonlocal offset
        if length:
            segments.append(_Segment(offset, length, data, path))
            offset += length

    for name, path, info in _walk(root, top):
        mode = info.st_mode
        if stat.S_ISDIR(mode):
            header = _header(name + "/", info, tarfile.DIRTYPE)
            add(len(header), header)
        elif stat.S_ISLNK(mode):
            header = _header(name, info, tarfile.SYMTYPE, os.readlink(path))
            add(len(header), header)
        elif stat.S_ISREG(mode):
            header = _header(name, info, tarfile.REGTYPE)
            add(len(header), header)
            add(info.st_size, path=path)
            add(-info.st_size % BLOCK, bytes(-info.st_size % BLOCK))
        else:
            raise UsageError(f"{path} is a device, socket or pipe; only files, folders and symlinks are packed",
                             hint="remove it from the folder or pack the files it holds")
    end = 2 * BLOCK
    add(end + (-(offset + end) % RECORD), bytes(end + (-(offset + end) % RECORD)))
    return segments


class DirectoryStream:
    """A read-only, seekable byte stream: the tar of one directory."""

    def __init__(self, root: Path, top: str) -> None:
        self.root = root
        self.segments = plan(root, top)
        self.starts = [s.offset for s in self.segments]
        last = self.segments[-1]
        self.size = last.offset + last.length
        self.position = 0
        self._fd: int | None = None
        self._fd_segment = -1

    def tell(self) -> int:
        return self.position

    def seek(self, position: int) -> None:
        if not 0 <= position <= self.size:
            raise ValueError(f"position {position} outside the stream")
        self.position = position

    def readinto(self, view: memoryview) -> int:
        done = 0
        while done < len(view) and self.position < self.size:
            index = bisect.bisect_right(self.starts, self.position) - 1
            segment = self.segments[index]
            inside = self.position - segment.offset
            want = min(len(view) - done, segment.length - inside)
            if segment.data is not None:
                view[done:done + want] = segment.data[inside:inside + want]
                got = want
            else:
                got = self._read_file(index, segment, inside, view[done:done + want])
            done += got
            self.position += got
        return done

    def _read_file(self, index: int, segment: _Segment, inside: int, view: memoryview) -> int:
        try:
            if self._fd is None or self._fd_segment != index:
                self._close_file()
                assert segment.path is not None  # a segment holds either bytes or a file
                self._fd = os.open(segment.path, os.O_RDONLY | os.O_NOFOLLOW)
                self._fd_segment = index
            got = os.preadv(self._fd, [view], inside)
        except OSError as exc:  # not ENOSPC on a drive: the source is at fault, say so
            raise UsageError(f"cannot read {segment.path}: {exc.strerror}",
                             hint="check the folder's permissions and that nothing changes it during pack") from None
        if got == 0:
            raise UsageError(f"{segment.path} shrank while it was read",
                             hint="pack a folder that is not being written to")
        return got

    def _close_file(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd, self._fd_segment = None, -1

    def close(self) -> None:
        self._close_file()

    def __enter__(self) -> DirectoryStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
