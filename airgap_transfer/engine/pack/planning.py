"""How large each chunk is, decided in one place for pack and for --dry-run.

A chunk is as large as the request (or the whole drive with ``auto``), but
never above the file system's single-file limit and never above the drive's
free space less the metadata reserve.  A drive with less than MIN_CHUNK of
room left (or less than one requested chunk, if that is smaller) is finished
unless the rest of the bundle fits in it.

Drives written one after another are each filled before the next is begun.
Drives written at once (``spread``) share the bundle as evenly as their
capacities allow, because the slowest drive sets the pace: two equal sticks
each take half, and a small one takes what it holds while the others share
the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from airgap_transfer import limits

MIN_CHUNK = 1 * 2**20


# (name, file-system type, free bytes[, allocation unit]) of a drive to plan for
DriveSpec = tuple[str, str | None, int] | tuple[str, str | None, int, int]


@dataclass
class ChunkLimit:
    size: int
    clamped: bool  # the requested size was above the file system's limit


def chunk_limit(requested: int | None, fs_type: str | None) -> ChunkLimit:
    ceiling = limits.max_file_size(fs_type)
    if requested is None:
        return ChunkLimit(ceiling, False)
    return ChunkLimit(min(requested, ceiling), requested > ceiling)


def next_chunk_length(room: int, limit: int, remaining: int | None) -> int:
    """Bytes for the next chunk on this drive; 0 means: finish this drive."""
    want = min(room, limit)
    if remaining is not None and remaining <= want:
        return remaining
    if room < min(limit, MIN_CHUNK):
        return 0  # the drive is nearly full: a sliver of a chunk is not worth a file
    return want


@dataclass
class DrivePlan:
    name: str
    fs_type: str | None
    free: int
    chunk_limit: int
    chunks: list[int] = field(default_factory=list)
    block: int = 0  # allocation unit: a chunk may waste up to one beyond its length

    def to_dict(self) -> dict[str, Any]:
        return {"drive": self.name, "fs_type": self.fs_type, "free": self.free,
                "chunk_limit": self.chunk_limit, "chunks": len(self.chunks), "bytes": sum(self.chunks)}


@dataclass
class Plan:
    size: int
    drives: list[DrivePlan]
    unplaced: int  # bytes that fit on none of the drives given

    @property
    def chunk_count(self) -> int:
        return sum(len(d.chunks) for d in self.drives)

    def to_dict(self) -> dict[str, Any]:
        return {"size": self.size, "chunks": self.chunk_count,
                "drives_needed": sum(1 for d in self.drives if d.chunks),
                "fits": self.unplaced == 0, "unplaced": self.unplaced,
                "drives": [d.to_dict() for d in self.drives if d.chunks or d.free]}


def fill_drive(drive: DrivePlan, remaining: int, chunks_before: int) -> int:
    """Place chunks on ``drive`` (after any it has) as pack would; returns the bytes still to place."""
    used = sum(drive.chunks)
    while remaining > 0:
        count = chunks_before + len(drive.chunks) + 1
        room = drive.free - used - limits.reserve(count) - drive.block * (len(drive.chunks) + 1)
        length = next_chunk_length(max(room, 0), drive.chunk_limit, remaining)
        if length <= 0:
            break
        drive.chunks.append(length)
        used += length
        remaining -= length
    return remaining


def capacity(drive: DrivePlan, chunks_before: int, limit: int) -> int:
    """The most bytes (up to ``limit``) that fill_drive would place on ``drive``."""
    trial = DrivePlan(drive.name, drive.fs_type, drive.free, drive.chunk_limit, block=drive.block)
    return limit - fill_drive(trial, limit, chunks_before)


def shares(total: int, capacities: list[int]) -> list[int]:
    """Split ``total`` bytes as evenly as the capacities allow (water-filling).

    The smallest drives are settled first: each takes an even part of what is
    left, or all it holds.  Bytes beyond the sum of capacities are not placed.
    """
    result = [0] * len(capacities)
    left = total
    by_size = sorted(range(len(capacities)), key=lambda i: capacities[i])
    for position, i in enumerate(by_size):
        result[i] = min(capacities[i], -(-left // (len(capacities) - position)))
        left -= result[i]
    return result


def spread(size: int, drives: list[DrivePlan], chunks_before: int = 0) -> int:
    """Place ``size`` bytes over ``drives`` written at once; returns the bytes not placed."""
    # Capacities depend a little on how many chunks come before (the reserve grows with
    # the index); the estimate with none before is corrected by the pass below.
    parts = shares(size, [capacity(d, chunks_before, size) for d in drives])
    unplaced = 0
    placed = chunks_before
    for drive, part in zip(drives, parts, strict=False):
        unplaced = fill_drive(drive, part + unplaced, placed)
        placed += len(drive.chunks)
    unplaced += size - sum(parts)
    for drive in drives:  # what the estimate left over goes to any drive that still has room
        if unplaced:
            unplaced = fill_drive(drive, unplaced, placed - len(drive.chunks))
            placed = chunks_before + sum(len(d.chunks) for d in drives)
    return unplaced


def movable_limit(limit: int, requested: int | None) -> int:
    """Largest auto-sized chunk for drives written at once: one any file system takes.

    Such a chunk may have to move to another drive (its own fills early, or is
    gone when pack resumes), and its length cannot change once planned.
    """
    return min(limit, limits.FAT32_MAX_FILE) if requested is None else limit


def plan_at_once(size: int, drives: list[DrivePlan], requested: int | None, chunks_before: int = 0) -> Plan | None:
    """``drives`` written at once; None when that is not worth it.

    Not worth it: fewer than two drives would get a part, or the drives hold
    more of the bundle filled one after another (even parts cut into more
    chunks, and each chunk costs its reserve).
    """
    parts = [DrivePlan(d.name, d.fs_type, d.free, movable_limit(d.chunk_limit, requested), block=d.block)
             for d in drives]
    unplaced = spread(size, parts, chunks_before)
    if sum(1 for d in parts if d.chunks) < 2:
        return None
    if unplaced and plan(size, [(d.name, d.fs_type, d.free, d.block) for d in drives], requested).unplaced < unplaced:
        return None
    return Plan(size, parts, unplaced)


def plan(size: int, drives: list[DriveSpec], requested: int | None,
         repeat_last: bool = False) -> Plan:
    """Chunks per drive for a bundle of ``size`` bytes.

    ``drives`` are (name, fs type, free bytes[, allocation unit]), filled one
    after another.  With ``repeat_last`` the last drive stands for as many
    identical drives as needed (``--drive-size``).
    """
    plans: list[DrivePlan] = []
    remaining = size
    queue = list(drives)
    while queue and remaining > 0 and len(plans) < limits.MAX_PLANNED_DRIVES:
        name, fs_type, free, *rest = queue.pop(0) if not repeat_last or len(queue) > 1 else queue[0]
        drive = DrivePlan(f"{name} #{len(plans) + 1}" if repeat_last else name, fs_type, free,
                          chunk_limit(requested, fs_type).size, block=rest[0] if rest else 0)
        before = remaining
        remaining = fill_drive(drive, remaining, sum(len(p.chunks) for p in plans))
        plans.append(drive)
        if repeat_last and remaining == before:
            break  # the drive holds nothing: more of them would not help
    return Plan(size, plans, remaining)
