"""Streaming encode and rebuild of one stripe, over reused numpy buffers.

Both are the same operation: each output is a GF(2^8) linear combination of
the inputs (``matrix.cauchy`` rows to encode, ``matrix.recovery_rows`` to
rebuild).  The stripe is walked in blocks: every input fills its row of one
reused array (zeros past its own end: a shorter shard is padded with zeros up
to the stripe length), every output is computed into its row of another and
handed to its sink.  Memory is (inputs + outputs + 1) blocks, whatever the
stripe length.  Every input is hashed as it is read, so the caller can tell a
shard that was read wrong from one that was right.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import blake3
import numpy as np

from airgap_transfer.engine.parity import gf256, matrix

MAX_BLOCK = 1 * 2**20
MEMORY_BUDGET = 48 * 2**20  # all blocks of one stripe together
MIN_BLOCK = 64 * 2**10

Fill = Callable[[memoryview], int]   # read into the view, return the count (0: no more)
Sink = Callable[[memoryview], None]


@dataclass
class ShardIn:
    """One input shard: where its bytes come from, and how many it has (the rest is zero padding)."""

    fill: Fill
    length: int


class ShortShard(Exception):
    """An input gave fewer bytes than its declared length (truncated file, or read error)."""

    def __init__(self, position: int, got: int, length: int) -> None:
        super().__init__(f"input {position} ended after {got} of {length} bytes")
        self.position, self.got, self.length = position, got, length


def block_size(shards: int) -> int:
    size = min(MAX_BLOCK, MEMORY_BUDGET // max(1, shards + 1))
    return max(MIN_BLOCK, size - size % MIN_BLOCK)


class Combiner:
    """Computes outputs = coefficients x inputs, block by block, in buffers it keeps."""

    def __init__(self, inputs: int, outputs: int) -> None:
        self.block = block_size(inputs + outputs)
        self.ins = np.zeros((inputs, self.block), dtype=np.uint8)
        self.outs = np.zeros((outputs, self.block), dtype=np.uint8)
        self.product = np.empty(self.block, dtype=np.uint8)
        self.in_views = [memoryview(row.data) for row in self.ins]
        self.out_views = [memoryview(row.data) for row in self.outs]

    def run(self, coefficients: list[list[int]], shards: list[ShardIn], stripe_length: int,
            sinks: list[Sink], progress: Callable[[int], None] | None = None) -> list[str]:
        """Stream ``stripe_length`` bytes of every output to its sink; returns each input's blake3."""
        if len(shards) > len(self.ins) or len(sinks) > len(self.outs):
            raise ValueError("combiner built for fewer shards")
        hashers = [blake3.blake3() for _ in shards]
        got = [0] * len(shards)
        position = 0
        while position < stripe_length:
            n = min(self.block, stripe_length - position)
            for r, shard in enumerate(shards):
                want = max(0, min(n, shard.length - position))
                self._fill(r, shard, want, position)
                if want < n:
                    self.ins[r, want:n] = 0
                hashers[r].update(self.in_views[r][:want])
                got[r] += want
            for t, row in enumerate(coefficients):
                self._combine(row, t, n, len(shards))
                sinks[t](self.out_views[t][:n])
            position += n
            if progress is not None:
                progress(position)
        return [h.hexdigest() for h in hashers]

    def _fill(self, r: int, shard: ShardIn, want: int, position: int) -> None:
        view = self.in_views[r]
        done = 0
        while done < want:
            count = shard.fill(view[done:want])
            if count <= 0:
                raise ShortShard(r, position + done, shard.length)
            done += count

    def _combine(self, row: list[int], t: int, n: int, inputs: int) -> None:
        """outs[t] = XOR of row[r] * ins[r]; two bytes per table lookup (gf256.mul16), the odd last one alone."""
        even = n - n % 2
        out, product = self.outs[t, :n], self.product[:n]
        product16 = product[:even].view(np.uint16)
        out[:] = 0
        for r in range(inputs):
            factor = row[r]
            if factor == 0:
                continue
            if factor == 1:
                np.bitwise_xor(out, self.ins[r, :n], out=out)
                continue
            np.take(gf256.mul16(factor), self.ins[r, :even].view(np.uint16), out=product16, mode="clip")
            if even < n:
                product[even] = gf256.MUL[factor, self.ins[r, even]]
            np.bitwise_xor(out, product, out=out)


def encode(shards: list[ShardIn], m: int, stripe_length: int, sinks: list[Sink],
           progress: Callable[[int], None] | None = None, combiner: Combiner | None = None) -> list[str]:
    """Write the m parity shards of one stripe of data ``shards``; returns the data shards' blake3.

    ``combiner``: buffers to reuse across stripes (built for at least as many shards).
    """
    combiner = combiner or Combiner(len(shards), m)
    return combiner.run(matrix.cauchy(len(shards), m), shards, stripe_length, sinks, progress)


def rebuild(k: int, m: int, available: list[int], shards: list[ShardIn], wanted: list[int],
            stripe_length: int, sinks: list[Sink], progress: Callable[[int], None] | None = None,
            combiner: Combiner | None = None) -> list[str]:
    """Rebuild the data shards ``wanted`` from k shards ``available`` (indexes into [data..., parity...]).

    Each rebuilt shard is produced padded to ``stripe_length``; the caller keeps
    only its own length.  Returns the inputs' blake3, in order.
    """
    rows = matrix.recovery_rows(k, m, available, wanted)
    combiner = combiner or Combiner(k, len(wanted))
    return combiner.run(rows, shards, stripe_length, sinks, progress)
