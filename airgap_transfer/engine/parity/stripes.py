"""Which chunks share a stripe, and how much parity that makes.

Stripe s holds the s-th chunk (in sequence order) of every data drive that has
one, ordered by drive ordinal.  A drive thus adds at most one shard to any
stripe, so losing any m whole drives, or damaging chunks on at most m drives,
costs each stripe at most m shards: exactly what m parity shards rebuild.
Each parity drive holds one parity file per stripe, as long as the stripe's
longest chunk, so it needs about as much room as the fullest data drive.
"""

from __future__ import annotations

from typing import Protocol, TypeVar


class _Placed(Protocol):
    seq: int
    drive: int
    stored_length: int


_C = TypeVar("_C", bound=_Placed)


def plan(chunks: list[_C]) -> list[list[_C]]:
    """The stripes of ``chunks`` (each a list of chunks, ordered by drive ordinal)."""
    by_drive: dict[int, list[_C]] = {}
    for chunk in sorted(chunks, key=lambda c: c.seq):
        by_drive.setdefault(chunk.drive, []).append(chunk)
    depth = max((len(held) for held in by_drive.values()), default=0)
    return [[by_drive[d][s] for d in sorted(by_drive) if s < len(by_drive[d])] for s in range(depth)]


def parity_bytes(per_drive: list[list[int]]) -> int:
    """Bytes each parity drive needs, for data drives holding chunks of these lengths (in order)."""
    depth = max((len(lengths) for lengths in per_drive), default=0)
    return sum(max(lengths[s] for lengths in per_drive if s < len(lengths)) for s in range(depth))
