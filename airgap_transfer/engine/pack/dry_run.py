"""``pack --dry-run``: how many chunks and drives a bundle needs, writing nothing.

The source is opened and its compression decided exactly as pack would, so the
plan shown is the plan pack follows (in turn, or on several drives at once).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airgap_transfer.engine.io import compression
from airgap_transfer.engine.pack import planning
from airgap_transfer.engine.pack.preflight import dry_run_plan, why_in_turn
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


@dataclass(frozen=True)
class DryRun:
    bundle: str
    plan: planning.Plan
    at_once: bool

    def to_dict(self) -> dict[str, Any]:
        return {"dry_run": True, "bundle": self.bundle, "at_once": self.at_once, **self.plan.to_dict()}


def dry_run(config: DryRunConfig) -> DryRun:
    with open_source(config.source, config.name) as source:
        if source.size is None:
            raise UsageError("--dry-run needs a source whose size is known (a file, not stdin)")
        encoding = compression.decide(config.compress, source.name,
                                      source.sample(compression.SAMPLE_SIZE)).encoding
        may_share = why_in_turn(source, encoding, config.destinations, config.parallel) is None
        plan, at_once = dry_run_plan(source.size, config, config.drive_size, config.fs_type, at_once=may_share)
    return DryRun(source.name, plan, at_once)
