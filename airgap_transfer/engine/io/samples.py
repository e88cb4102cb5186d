"""Samples of a chunk file: digests of a few blocks, taken during its read-back, re-read later.

A fake-capacity stick stores writes past its real size on top of earlier
data: each chunk reads back correctly right after it is written, and a later
chunk silently overwrites it.  So once a drive is finished, every chunk on it
must be shown to be still intact.  Re-reading everything doubles the reading;
instead the read-back (which proves the whole chunk against its digest) also
records the digest of a few blocks of it, always the first and the last, and
the last check re-reads just those blocks from the medium.  An overwrite
larger than the gap between two samples cannot be missed; wrap-around on a
fake stick overwrites whole chunks.
"""

from __future__ import annotations

import os

import blake3

from airgap_transfer.media import fsio

SAMPLE_BLOCK = 64 * 2**10
SAMPLES_PER_CHUNK = 16  # first, last, and evenly between: at most 1 MiB re-read per chunk


def ranges(length: int, block: int = SAMPLE_BLOCK, count: int = SAMPLES_PER_CHUNK) -> list[tuple[int, int]]:
    """(offset, length) of the blocks to sample in a file of ``length`` bytes, in order, disjoint."""
    if length <= block * count:  # a small file is sampled whole
        return [(offset, min(block, length - offset)) for offset in range(0, length, block)]
    last = length - block
    step = last / (count - 1)
    starts = sorted({round(i * step) for i in range(count - 1)} | {last})
    return [(start, block) for start in starts]


class SampleTap:
    """Fed the file's bytes in order (as a pipeline tap); keeps the digests of the sample blocks.

    A pack of 10^5 small chunks holds one tap per chunk until its drive's
    last check, so a finished tap keeps only ``digests``: the 32-byte
    digests, concatenated, of the blocks ``ranges(length)`` names again at
    the re-read (a few dozen bytes a chunk, not a hasher's 2 KB).
    """

    __slots__ = ("_wanted", "current", "digests", "hasher", "length", "position")

    def __init__(self, length: int) -> None:
        self.length = length
        self._wanted: list[tuple[int, int]] | None = ranges(length)
        self.position = 0
        self.current = 0          # index of the first sample not yet complete
        self.hasher: blake3.blake3 | None = blake3.blake3()
        self.digests: bytes | bytearray = bytearray()
        if not self._wanted:  # an empty file has nothing to sample
            self._wanted, self.hasher, self.digests = None, None, b""

    @property
    def complete(self) -> bool:
        """Every sample block was seen (a read-back cut short leaves it incomplete)."""
        return self._wanted is None

    def update(self, view: memoryview) -> None:
        wanted, start, end = self._wanted, self.position, self.position + len(view)
        self.position = end
        if wanted is None or self.hasher is None:
            return  # bytes past the last sample (a file longer than declared is the read-back's to name)
        while self.current < len(wanted):
            offset, length = wanted[self.current]
            if offset >= end:
                break
            lo, hi = max(offset, start), min(offset + length, end)
            if hi > lo:
                self.hasher.update(view[lo - start:hi - start])
            if offset + length > end:
                break
            self.digests += self.hasher.digest()
            self.hasher.reset()
            self.current += 1
        if self.current == len(wanted):
            self._wanted, self.hasher, self.digests = None, None, bytes(self.digests)


def recheck(path: str | os.PathLike[str], stored_length: int, digests: bytes, buffer: bytearray) -> str | None:
    """Re-read the sampled blocks from the medium (page cache dropped); a problem, or None."""
    blocks = ranges(stored_length)
    if len(digests) != 32 * len(blocks):
        raise ValueError(f"{len(digests)} bytes of sample digests for {len(blocks)} blocks")
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        size = os.fstat(fd).st_size
        if size != stored_length:
            return f"now {size} bytes, {stored_length} were written"
        fsio.drop_cache(fd)
        view = memoryview(buffer)
        for number, (offset, length) in enumerate(blocks):
            got = os.preadv(fd, [view[:length]], offset)
            if got != length or blake3.blake3(view[:got]).digest() != digests[32 * number:32 * number + 32]:
                return f"the block at byte {offset} changed after it was read back"
    finally:
        os.close(fd)
    return None
