"""Checks pack makes before writing anything, and the plan --dry-run shows.

Each refuses with the brief's exit code and writes nothing: a destination that
is not a writable folder (2), more chunks than a receiver's index limit (2), a
bundle that cannot fit when pack may not ask for more drives (6).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from airgap_transfer import limits
from airgap_transfer.engine.pack import planning
from airgap_transfer.engine.pack.source import Source
from airgap_transfer.engine.parity import stripes
from airgap_transfer.errors import NoSpaceError, UsageError
from airgap_transfer.media import fsio, probe


class PlanConfig(Protocol):
    """What planning needs of a PackConfig or a DryRunConfig."""

    @property
    def destinations(self) -> list[Path]: ...
    @property
    def chunk_size(self) -> int | None: ...
    @property
    def parallel(self) -> bool: ...


class SpaceConfig(PlanConfig, Protocol):
    @property
    def next_drive(self) -> Callable[[Any], Path | None] | None: ...


class ParityConfig(SpaceConfig, Protocol):
    @property
    def parity(self) -> int: ...


@dataclass(frozen=True)
class _Planning:
    """A plan's own view of a config: its data destinations only."""

    destinations: list[Path]
    chunk_size: int | None
    parallel: bool


def check_destinations(destinations: list[Path]) -> None:
    if not destinations:
        raise UsageError("no destination given", hint="name at least one mounted drive or folder")
    for dest in destinations:
        if not dest.is_dir():
            raise UsageError(f"destination {dest} is not a folder", hint="mount the drive or create the folder")
        if not os.access(dest, os.W_OK):
            raise UsageError(f"destination {dest} is not writable", hint="check the mount options and permissions")


# Where desktops and operators mount removable drives: a folder here that is not itself a mount
# point is most likely a drive that is not mounted (pack would fill the system disk instead).
DRIVE_MOUNT_ROOTS = (Path("/media"), Path("/run/media"), Path("/mnt"))


def unmounted_drive_folders(destinations: list[Path]) -> list[Path]:
    """DESTs under a drive mount root that are not on a drive of their own."""
    found = []
    for dest in destinations:
        real = dest.resolve()
        under_root = any(real.is_relative_to(root) and real != root for root in DRIVE_MOUNT_ROOTS)
        if under_root and not any(os.path.ismount(p) for p in [real, *real.parents] if p not in DRIVE_MOUNT_ROOTS
                                  and p != Path("/")):
            found.append(dest)
    return found


def check_chunk_count(source: Source, config: PlanConfig) -> None:
    """Refuse before writing anything a transfer whose index receivers could not accept."""
    if source.size is None or not config.chunk_size:
        return
    count = -(-source.size // config.chunk_size)
    if count > limits.MAX_CHUNKS:
        raise UsageError(f"--chunk-size {config.chunk_size} would cut {source.name} into {count} chunks, "
                         f"more than the {limits.MAX_CHUNKS} one transfer may have",
                         hint=f"use --chunk-size {-(-source.size // limits.MAX_CHUNKS)} or larger, or auto")


def check_space(source: Source, config: SpaceConfig, encoding: str) -> None:
    """Without a way to ask for more drives, refuse up front, writing nothing."""
    if source.size is None or config.next_drive is not None:
        return
    result, _ = dry_run_plan(source.size, config,
                             at_once=why_in_turn(source, encoding, config.destinations, config.parallel) is None)
    if result.unplaced:
        raise NoSpaceError(
            f"the bundle is {source.size} bytes but the destinations hold only "
            f"{source.size - result.unplaced} of them",
            hint="add another destination or free space, then run pack again")


def dry_run_plan(size: int, config: PlanConfig, drive_size: int | None = None,
                 fs_type: str | None = None, at_once: bool = False) -> tuple[planning.Plan, bool]:
    """(The chunks and drives a bundle of ``size`` bytes needs, whether written at once); writes nothing.

    ``at_once``: the destinations may be written at the same time (``why_in_turn``).
    """
    if drive_size is not None:
        return planning.plan(size, [(f"{drive_size}-byte {fs_type or 'drive'}", fs_type, drive_size)],
                             config.chunk_size, repeat_last=True), False
    plans = drive_plans(config.destinations, config.chunk_size)
    shared = planning.plan_at_once(size, plans, config.chunk_size) if at_once else None
    if shared is not None:
        return shared, True
    return planning.plan(size, [(p.name, p.fs_type, p.free, p.block) for p in plans], config.chunk_size), False


def more_drives(unplaced: int, destinations: list[Path], requested: int | None) -> tuple[int, str, int] | None:
    """How many more empty drives like the largest DEST the bytes that did not fit need.

    (count, that drive's name, its capacity), or None when such a drive cannot hold a chunk at all.
    """
    media = [probe.describe(dest) for dest in destinations]
    template = max(media, key=lambda m: m.capacity)
    name = template.display_name
    rest = planning.plan(unplaced, [(name, template.fs_type, template.capacity)], requested, repeat_last=True)
    if rest.unplaced:
        return None
    return sum(1 for d in rest.drives if d.chunks), name, template.capacity


def drive_plans(destinations: list[Path], requested: int | None) -> list[planning.DrivePlan]:
    """An empty plan per destination: its free space, file system, chunk limit, allocation unit."""
    plans = []
    for dest in destinations:
        medium = probe.describe(dest)
        plans.append(planning.DrivePlan(str(dest), medium.fs_type, medium.free,
                                        planning.chunk_limit(requested, medium.fs_type).size,
                                        block=fsio.block_size(dest)))
    return plans


def why_in_turn(source: Source, encoding: str, roots: list[Path], enabled: bool = True) -> str | None:
    """Why these destinations cannot be written at once, or None when they can."""
    if len(roots) < 2:
        return "one destination"
    if not enabled:
        return "--no-parallel was given"
    if source.kind != "file" or not source.seekable or source.size is None:
        return "the source is not a plain file (writing at once reads it at several places)"
    if encoding not in ("none", "age"):  # an age file's size follows from its plaintext's; a zstd frame's does not
        return "chunks are compressed, so how much of the bundle each drive takes is known only as it is written"
    disks = [probe.disk_of(root) for root in roots]
    shared = next((d for d in disks if disks.count(d) > 1), None)
    if shared is not None:
        return f"two destinations are on the same {shared}"
    return None


def split_parity(config: ParityConfig, planning_only: bool = False) -> tuple[list[Path], list[Path]]:
    """(DESTs for data, DESTs kept for parity): the last --parity N, else all but the first (more are asked for)."""
    m, destinations = config.parity, list(config.destinations)
    if not m:
        return destinations, []
    if not 1 <= m <= limits.MAX_PARITY:
        raise UsageError(f"--parity {m} is out of range", hint=f"use 1 to {limits.MAX_PARITY}")
    if config.next_drive is None and not planning_only and len(destinations) < m + 1:
        raise UsageError(f"--parity {m} needs at least {m + 1} destinations (data first, then {m} for parity) "
                         "when pack may not ask for drives",
                         hint=f"give {m} more DEST, or let pack prompt for them (no --no-prompt)")
    if len(destinations) > m:
        return destinations[:-m], destinations[-m:]
    return destinations[:1], destinations[1:]


def parity_need(plan: planning.Plan) -> int:
    """Bytes each parity drive needs for the data drives of ``plan`` (see engine.parity.stripes)."""
    return stripes.parity_bytes([d.chunks for d in plan.drives if d.chunks])


def check_parity_space(source: Source, config: ParityConfig, data: list[Path], parity: list[Path]) -> None:
    """Parity drives given up front must hold the parity: refuse before writing anything (exit 6)."""
    if not config.parity or source.size is None or not parity:
        return
    plan, _ = dry_run_plan(source.size, _Planning(data, config.chunk_size, config.parallel),
                           at_once=why_in_turn(source, "none", data, config.parallel) is None)
    chunks = sum(len(d.chunks) for d in plan.drives)
    need = parity_need(plan)
    for dest in parity:
        free = probe.describe(dest).free - limits.reserve(chunks) - chunks * fsio.block_size(dest)
        if free < need:
            raise NoSpaceError(f"parity drive {dest} has {max(free, 0)} bytes of room; the parity of this bundle "
                               f"needs {need} (as much as the fullest data drive)",
                               hint="give a larger drive for parity, or more data drives so each holds less")

