"""Chunk files that are age files: the byte plumbing around a sealer and an opener.

Pack writes an encrypted chunk as one age file (``.chunk.age``, or
``.chunk.zst.age`` when its plaintext is a zstd frame): ``SealedWriter``
feeds the plain (or compressed) bytes to a sealer and writes, counts and
hashes what the sealer emits, which is what the signed index records as the
stored bytes.  Unpack reads one with ``SealedReader``: at most
``stored_length + 1`` bytes are read, all of them hashed, and the opener
decrypts them into the pipeline's buffers.

The cryptography is not here (``engine/crypt`` sits above this layer): the
caller hands in ``start(emit)`` and ``open_(read_into, cap)``; an opener
signals a bad file by raising ``SealError`` with a ``kind``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Protocol

import blake3

Emit = Callable[[memoryview], None]


class Sealer(Protocol):
    def write(self, data: memoryview | bytes) -> None: ...
    def finish(self) -> None: ...


class Opener(Protocol):
    def readinto(self, view: memoryview) -> int: ...
    def read(self, size: int = -1) -> bytes: ...


StartSealer = Callable[[Emit], Sealer]
OpenSealed = Callable[[Callable[[memoryview], int], int], Opener]


class SealError(Exception):
    """An encrypted chunk cannot be opened.  ``kind``: "key" (no identity opens it),
    "format" (not a well-formed age file) or "auth" (MAC or payload fails)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class SealedWriter:
    """One age file: plaintext in through ``write``, ciphertext out to ``sink``, counted and hashed."""

    def __init__(self, sink: Callable[[memoryview], None], stored_cap: int, start: StartSealer) -> None:
        self.sink, self.stored_cap = sink, stored_cap
        self.stored = blake3.blake3(max_threads=blake3.blake3.AUTO)
        self.stored_length = 0
        self.sealer = start(self._emit)

    def write(self, view: memoryview | bytes) -> None:
        self.sealer.write(view)

    def finish(self) -> None:
        self.sealer.finish()

    def _emit(self, view: memoryview) -> None:
        self.stored_length += len(view)
        if self.stored_length > self.stored_cap:
            # the planners size the plaintext so this cannot happen; never write past the room given
            raise RuntimeError(f"age file grew past {self.stored_cap} bytes")
        self.stored.update(view)
        self.sink(view)


class _CappedSource:
    """Reads ``fd`` up to ``cap`` bytes, hashing and counting everything read."""

    def __init__(self, fd: int, cap: int) -> None:
        self.fd, self.cap, self.seen = fd, cap, 0
        self.hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)

    def readinto(self, view: memoryview) -> int:
        room = self.cap - self.seen
        if room <= 0:
            return 0
        got = os.readv(self.fd, [view[:room]])
        self.hasher.update(view[:got])
        self.seen += got
        return got


class SealedReader:
    """Plaintext of one encrypted chunk file; ``stored_digest`` covers every byte of the file read."""

    def __init__(self, fd: int, stored_length: int) -> None:
        self.raw = _CappedSource(fd, stored_length + 1)
        self.opener: Opener | None = None

    def open(self, open_: OpenSealed) -> None:
        """Read and open the header (SealError when it cannot be); then ``fill``/``read`` give plaintext."""
        self.opener = open_(self.raw.readinto, self.raw.cap)

    def fill(self, view: memoryview) -> int:
        assert self.opener is not None, "open() first"
        return self.opener.readinto(view)

    def read(self, size: int = -1) -> bytes:
        assert self.opener is not None, "open() first"
        return self.opener.read(size)

    def stored_digest(self) -> tuple[str, int]:
        """Hash whatever the opener left unread too, so trailing bytes cannot hide."""
        scratch = memoryview(bytearray(2**16))
        while self.raw.readinto(scratch):
            pass
        return self.raw.hasher.hexdigest(), self.raw.seen
