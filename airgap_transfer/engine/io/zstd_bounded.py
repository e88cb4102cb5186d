"""Decode a zstd chunk from a drive without trusting it: bounded in, bounded out.

A compressed chunk is one zstd frame.  Its header may declare any content
size, and ``zstandard`` ignores ``max_output_size`` when a frame declares one,
so the limit is enforced here instead: the frame is decoded as a stream into
the caller's reused buffer, with a byte counter that stops one byte past the
length the signed index declares.  The window is capped with
``max_window_size`` so a frame cannot make the decoder allocate gigabytes,
and the compressed file itself is read at most ``stored_length + 1`` bytes
(an overlong file is detected without reading it all).

For unpack (issue 7's ``_Assembler._copy``)::

    decode_chunk(fd, chunk.stored_length, chunk.length, view, sink, stored_hasher)

``sink`` receives each decoded piece (a memoryview into ``view``, valid only
during the call) to hash and write; ``stored_hasher`` sees the compressed
bytes, to compare with ``chunk.stored_blake3``.  Any problem raises
``BadChunk`` with a short reason, so a bad copy is reported and the next
copy tried.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import zstandard

# zstd levels up to 19 use windows of at most 8 MiB; --long uses 128 MiB (2^27).
MAX_WINDOW_SIZE = 2**27
READ_SIZE = 2**20


class BadChunk(Exception):
    """This copy of a compressed chunk cannot be used; ``str`` says why."""


class _BoundedSource:
    """A raw reader over ``fd`` that yields at most ``limit + 1`` bytes and hashes them."""

    def __init__(self, fd: int, limit: int, hasher) -> None:
        self.fd, self.limit, self.hasher, self.seen = fd, limit, hasher, 0

    def read(self, size: int = -1) -> bytes:
        room = self.limit + 1 - self.seen
        if room <= 0:
            return b""
        want = room if size is None or size < 0 else min(size, room)
        data = os.read(self.fd, want)
        self.seen += len(data)
        if self.seen > self.limit:
            raise BadChunk(f"compressed file is longer than the {self.limit} bytes the index declares")
        if self.hasher is not None:
            self.hasher.update(data)
        return data

    def drain(self) -> None:
        while self.read(READ_SIZE):
            pass


def decode_chunk(fd: int, stored_length: int, length: int, view: memoryview,
                 sink: Callable[[memoryview], None], stored_hasher=None,
                 max_window_size: int = MAX_WINDOW_SIZE) -> None:
    """Decode exactly ``length`` bytes from the frame in ``fd``; BadChunk otherwise."""
    source = _BoundedSource(fd, stored_length, stored_hasher)
    decoder = zstandard.ZstdDecompressor(max_window_size=max_window_size)
    produced = 0
    try:
        reader = decoder.stream_reader(source, read_size=READ_SIZE, closefd=False)
        while produced <= length:
            got = reader.readinto(view[:min(len(view), length + 1 - produced)])
            if not got:
                break
            produced += got
            if produced > length:
                raise BadChunk(f"decodes to more than the {length} bytes the index declares")
            sink(view[:got])
        source.drain()  # the rest of the file must still be within the stored length
    except zstandard.ZstdError as exc:
        raise BadChunk(f"not a valid zstd frame ({_short(exc)})") from None
    except OSError as exc:
        raise BadChunk(f"read error ({exc.strerror})") from None
    if produced < length:
        raise BadChunk(f"decodes to {produced} of {length} bytes (truncated frame)")
    if source.seen != stored_length:
        raise BadChunk(f"compressed file is {source.seen} bytes, the index declares {stored_length}")


def _short(exc: Exception) -> str:
    return str(exc).removeprefix("zstd decompress error: ")[:120]
