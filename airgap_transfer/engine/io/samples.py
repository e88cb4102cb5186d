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
from dataclasses import dataclass

import blake3

from airgap_transfer.media import fsio

SAMPLE_BLOCK = 64 * 2**10
SAMPLES_PER_CHUNK = 16  # first, last, and evenly between: at most 1 MiB re-read per chunk


@dataclass(frozen=True)
class Sample:
    offset: int
    length: int
    blake3: str


def ranges(length: int, block: int = SAMPLE_BLOCK, count: int = SAMPLES_PER_CHUNK) -> list[tuple[int, int]]:
    """(offset, length) of the blocks to sample in a file of ``length`` bytes, in order, disjoint."""
    if length <= block * count:  # a small file is sampled whole
        return [(offset, min(block, length - offset)) for offset in range(0, length, block)]
    last = length - block
    step = last / (count - 1)
    starts = sorted({round(i * step) for i in range(count - 1)} | {last})
    return [(start, block) for start in starts]


class SampleTap:
    """Fed the file's bytes in order (as a pipeline tap); keeps the digests of the sample blocks."""

    def __init__(self, length: int) -> None:
        self.wanted = ranges(length)
        self.position = 0
        self.current = 0          # index of the first sample not yet complete
        self.hasher = blake3.blake3()
        self.samples: list[Sample] = []

    def update(self, view: memoryview) -> None:
        start, end = self.position, self.position + len(view)
        while self.current < len(self.wanted):
            offset, length = self.wanted[self.current]
            if offset >= end:
                break
            lo, hi = max(offset, start), min(offset + length, end)
            if hi > lo:
                self.hasher.update(view[lo - start:hi - start])
            if offset + length > end:
                break
            self.samples.append(Sample(offset, length, self.hasher.hexdigest()))
            self.hasher = blake3.blake3()
            self.current += 1
        self.position = end


def recheck(path: str | os.PathLike[str], stored_length: int, samples: list[Sample], buffer: bytearray) -> str | None:
    """Re-read the sampled blocks from the medium (page cache dropped); a problem, or None."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        size = os.fstat(fd).st_size
        if size != stored_length:
            return f"now {size} bytes, {stored_length} were written"
        fsio.drop_cache(fd)
        view = memoryview(buffer)
        for sample in samples:
            got = os.preadv(fd, [view[:sample.length]], sample.offset)
            if got != sample.length or blake3.blake3(view[:got]).hexdigest() != sample.blake3:
                return f"the block at byte {sample.offset} changed after it was read back"
    finally:
        os.close(fd)
    return None
