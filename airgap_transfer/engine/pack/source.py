"""What pack reads from: a regular file, a directory (as a tar stream) or stdin."""

from __future__ import annotations

import io
import os
import stat
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from airgap_transfer import limits
from airgap_transfer.engine.pack.dirsource import DirectoryStream
from airgap_transfer.errors import UsageError
from airgap_transfer.format.names import renamed_because, sanitize_bundle_name

# A file or stdin (unbuffered), or a folder as a tar stream.
Stream = io.FileIO | DirectoryStream


@dataclass
class Source:
    stream: Stream
    name: str
    size: int | None       # None when unknown up front (stdin, a pipe)
    seekable: bool
    kind: str = "file"
    at_eof: bool = False
    original_name: str | None = None  # the name as given, when sanitising changed it

    @property
    def renamed_because(self) -> str | None:
        return None if self.original_name is None else renamed_because(self.original_name, self.name)

    def readinto(self, view: memoryview) -> int:
        got = self.stream.readinto(view) or 0
        if got == 0:
            self.at_eof = True
        return got

    def tell(self) -> int:
        return self.stream.tell() if self.seekable else -1

    def fileno(self) -> int:
        """The descriptor of a file source (the only kind written to several drives at once)."""
        if not isinstance(self.stream, io.FileIO):
            raise TypeError(f"{self.name} is a {self.kind}, not a file")
        return self.stream.fileno()

    def sample(self, size: int) -> bytes | None:
        """The first ``size`` bytes, read without moving on; None for a stream that cannot be re-read."""
        if not self.seekable:
            return None
        position = self.stream.tell()
        self.stream.seek(0)
        buffer = bytearray(size)
        view, got = memoryview(buffer), 0
        while got < size:
            n = self.stream.readinto(view[got:]) or 0
            if n == 0:
                break
            got += n
        self.stream.seek(position)
        return bytes(buffer[:got])

    def seek(self, position: int) -> None:
        self.stream.seek(position)
        self.at_eof = False


@contextmanager
def open_source(spec: str, name: str | None = None) -> Iterator[Source]:
    if spec == "-":
        # An inherited O_NONBLOCK would make a pause in the producer look like end
        # of input, and pack would sign a truncated bundle as complete.
        os.set_blocking(sys.stdin.fileno(), True)
        stream = io.FileIO(sys.stdin.fileno(), "rb", closefd=False)
        yield Source(stream, sanitize_bundle_name(name or "stdin.bin"), None, False, kind="stream",
                     original_name=_original(name or "stdin.bin"))
        return
    path = Path(spec)
    try:
        info = path.stat()
    except OSError as exc:
        raise UsageError(f"cannot read source {spec}: {exc.strerror}", hint="check the path") from None
    if stat.S_ISDIR(info.st_mode):
        bundle_name = sanitize_bundle_name(name or path.resolve().name)
        with DirectoryStream(path, bundle_name) as tree:
            yield Source(tree, bundle_name, tree.size, True, kind="directory",
                         original_name=_original(name or path.resolve().name))
        return
    with open(path, "rb", buffering=0) as stream:
        try:
            os.posix_fadvise(stream.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)
        except OSError:
            pass
        regular = stat.S_ISREG(info.st_mode)
        yield Source(stream, sanitize_bundle_name(name or path.name),
                     info.st_size if regular else None, regular, original_name=_original(name or path.name))


def _original(name: str) -> str | None:
    """The name as given, kept only when sanitising changes it (capped: it is a record, not a path)."""
    return None if sanitize_bundle_name(name) == name else name[:limits.MAX_ORIGINAL_NAME_CHARS]
