"""``pack --dry-run``: how many chunks and drives a bundle needs, writing nothing.

The source is opened and its compression decided exactly as pack would, so the
plan shown is the plan pack follows (in turn, or on several drives at once).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from airgap_transfer.engine.io import compression
from airgap_transfer.engine.pack import planning, sealing
from airgap_transfer.engine.pack.preflight import dry_run_plan, more_drives, parity_need, split_parity, why_in_turn
from airgap_transfer.engine.pack.source import open_source
from airgap_transfer.errors import UsageError


@dataclass(frozen=True)
class DryRunConfig:
    source: str
    destinations: list[Path]
    chunk_size: int | None = None   # None: as large as each drive allows
    name: str | None = None
    compress: str = "auto"
    parallel: bool = True
    drive_size: int | None = None   # plan for drives of this size instead of the destinations
    fs_type: str | None = None      # ... with this file system
    parity: int = 0                 # drives' worth of parity (the last DESTs, or drives asked for later)
    encrypted: bool = False         # pack --encrypt-to/--passphrase: chunks are age files
    next_drive: Callable[[Any], Path | None] | None = None  # a dry run never asks for a drive


@dataclass(frozen=True)
class ParityPlan:
    drives: int
    bytes_per_drive: int
    destinations: list[Path]   # DESTs kept for parity; the rest would be asked for at the end
    drives_in_all: int

    def to_dict(self) -> dict[str, Any]:
        return {"drives": self.drives, "bytes_per_drive": self.bytes_per_drive,
                "destinations": [str(d) for d in self.destinations], "drives_in_all": self.drives_in_all}


@dataclass(frozen=True)
class DryRun:
    bundle: str
    plan: planning.Plan
    at_once: bool
    parity: ParityPlan | None = None
    # What does not fit on the drives given: how many more empty drives like the largest one it needs
    # (count, that drive's name, its capacity), or None; ``fits_nowhere`` when no such drive holds a chunk.
    more: tuple[int, str, int] | None = None
    fits_nowhere: bool = False

    def to_dict(self) -> dict[str, Any]:
        planned = self.plan.to_dict()
        if self.plan.unplaced:  # the counts describe the whole bundle; what the drives given take is beside them
            planned.update(chunks=None, chunks_on_given_drives=planned["chunks"],
                           drives_needed=planned["drives_needed"] + self.more[0] if self.more else None,
                           drives_given_used=planned["drives_needed"])
        return {"dry_run": True, "bundle": self.bundle, "at_once": self.at_once, **planned,
                "parity": self.parity.to_dict() if self.parity else None,
                **({"more_drives": self.more[0]} if self.more else {})}


def dry_run(config: DryRunConfig) -> DryRun:
    data, reserved = (split_parity(config, planning_only=True) if config.drive_size is None
                      else (config.destinations, []))
    with open_source(config.source, config.name) as source:
        if source.size is None:
            raise UsageError("--dry-run needs a source whose size is known (a file, not stdin)")
        encoding = compression.decide(config.compress, source.name,
                                      source.sample(compression.SAMPLE_SIZE)).encoding
        if config.encrypted:
            encoding = sealing.sealed_encoding(encoding)
        may_share = why_in_turn(source, encoding, data, config.parallel) is None
        plan, at_once = dry_run_plan(source.size, replace(config, destinations=data), config.drive_size,
                                     config.fs_type, at_once=may_share)
    more = more_drives(plan.unplaced, data, config.chunk_size) \
        if plan.unplaced and config.drive_size is None else None
    fits_nowhere = bool(plan.unplaced) and more is None
    parity = None
    if config.parity:
        data_drives = sum(1 for d in plan.drives if d.chunks)
        parity = ParityPlan(config.parity, parity_need(plan), reserved, data_drives + config.parity)
    return DryRun(source.name, plan, at_once, parity, more, fits_nowhere)
