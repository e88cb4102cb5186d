"""Naming many chunks in one custody event without the event growing with them.

A transfer may have 200,000 chunks; the log's lines are capped at 64 KiB and
its events at 100,000 (chain.py), and every event is kept in memory while a
log is checked.  So an event that concerns many chunks names them as
run-length ranges (``chunk_ranges``: ``[[first, last], ...]``, inclusive) with
``details.chunk_count``, and where the chunks' digests matter,
``details.chunks_blake3``: BLAKE3 over the lines ``<seq> <blake3 hex>\\n`` of
its chunks in order, which anyone can recompute from the signed index.

``Grouper`` decides when chunks are recorded one event each (the first
``CUSTODY_SINGLE_CHUNK_EVENTS`` of a run, as small transfers always were) and
when in groups of ``CUSTODY_CHUNK_GROUP`` per drive.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import blake3

from airgap_transfer.limits import (
    CUSTODY_CHUNK_GROUP,
    CUSTODY_CHUNK_LIST,
    CUSTODY_MAX_RANGES,
    CUSTODY_SINGLE_CHUNK_EVENTS,
)


def ranges(seqs: Iterable[int]) -> list[list[int]]:
    """Sorted, merged inclusive ranges of the given chunk numbers."""
    out: list[list[int]] = []
    for seq in sorted(set(seqs)):
        if out and seq == out[-1][1] + 1:
            out[-1][1] = seq
        else:
            out.append([seq, seq])
    return out


def event_ranges(event: dict[str, Any]) -> list[list[int]]:
    """The chunks an event names (``chunks`` or ``chunk_ranges``) as ranges; malformed items are skipped.

    Nothing is expanded: a hostile log may name a range of a billion chunks in
    a few bytes, and costs here only what its own bytes cost.
    """
    found = [[c, c] for c in event.get("chunks", []) if type(c) is int]
    found.extend([item[0], item[1]] for item in event.get("chunk_ranges", [])
                 if isinstance(item, list) and len(item) == 2 and all(type(v) is int for v in item)
                 and 1 <= item[0] <= item[1])
    return found


def union(spans: Iterable[list[int]]) -> list[list[int]]:
    """Sorted, merged union of inclusive ranges."""
    out: list[list[int]] = []
    for first, last in sorted(spans):
        if out and first <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], last)
        else:
            out.append([first, last])
    return out


def count(spans: list[list[int]]) -> int:
    return sum(last - first + 1 for first, last in spans)


def fields(spans: list[list[int]], details: dict[str, Any] | None = None,
           always_ranges: bool = False) -> dict[str, Any]:
    """The event fields naming merged ``spans``: a plain ``chunks`` list while short, else ranges and a count."""
    details = dict(details or {})
    total = count(spans)
    if total <= CUSTODY_CHUNK_LIST and not always_ranges:
        numbers = [seq for first, last in spans for seq in range(first, last + 1)]
        return {"chunks": numbers, **({"details": details} if details else {})}
    details["chunk_count"] = total
    if len(spans) > CUSTODY_MAX_RANGES:
        details["chunk_ranges_omitted"] = len(spans) - CUSTODY_MAX_RANGES
        spans = spans[:CUSTODY_MAX_RANGES]
    return {"chunk_ranges": spans, "details": details}


def listing_digest(chunks: list[tuple[int, str]]) -> str:
    """``details.chunks_blake3``: BLAKE3 of ``<seq> <blake3>\\n`` per chunk, in chunk order."""
    hasher = blake3.blake3()
    for seq, digest in sorted(chunks):
        hasher.update(f"{seq} {digest}\n".encode())
    return hasher.hexdigest()


def describe(spans: list[list[int]]) -> str:
    """Chunk numbers for people: ``1 2 3`` or ``1-5000 5002-9000``."""
    return " ".join(f"{first}-{last}" if last != first else str(first) for first, last in spans)


@dataclass
class Group:
    """Chunks recorded together: one drive's, in one run."""

    chunks: list[tuple[int, str]] = field(default_factory=list)   # (seq, blake3)
    length: int = 0


@dataclass
class Grouper:
    """Singles first, then groups per drive; ``add`` returns a group when it is full."""

    singles: int = 0
    open_groups: dict[str, Group] = field(default_factory=dict)

    def single(self) -> bool:
        """Whether the next chunk gets an event of its own (counts it if so)."""
        if self.singles < CUSTODY_SINGLE_CHUNK_EVENTS:
            self.singles += 1
            return True
        return False

    def add(self, drive: str, seq: int, digest: str, length: int) -> Group | None:
        group = self.open_groups.setdefault(drive, Group())
        group.chunks.append((seq, digest))
        group.length += length
        if len(group.chunks) >= CUSTODY_CHUNK_GROUP:
            return self.open_groups.pop(drive)
        return None

    def take(self, drive: str | None = None) -> list[tuple[str, Group]]:
        """The groups not yet recorded (one drive's, or all), emptied."""
        drives = [drive] if drive is not None else sorted(self.open_groups)
        return [(d, self.open_groups.pop(d)) for d in drives if d in self.open_groups]


def group_fields(group: Group, details: dict[str, Any]) -> dict[str, Any]:
    """Fields of a grouped chunk-written or chunk-verified event."""
    return fields(ranges(seq for seq, _ in group.chunks),
                  {**details, **({"length": group.length} if group.length else {}),
                   "chunks_blake3": listing_digest(group.chunks)},
                  always_ranges=True)
