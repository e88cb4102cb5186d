"""How much loss a transfer with parity can still take, from what is lost now.

Each stripe rebuilds as long as it has lost at most m of its shards (data
chunks and parity files together).  A drive adds at most one shard to any
stripe, so the number of further whole drives that may be lost is the
smallest spare count over the stripes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from airgap_transfer.format.parity import Parity


@dataclass
class Margin:
    m: int
    lost_chunks: list[int]            # data chunks missing or corrupt
    rebuildable: list[int]            # of those, the ones parity can rebuild
    short: int                        # shards still needed where a stripe lost more than m
    spare_drives: int                 # further drives that may be lost (0 when short)
    lost_parity: list[str] = field(default_factory=list)
    unrebuildable_stripes: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.short == 0

    def summary(self) -> str:
        if self.short:
            return (f"not rebuildable: {self.short} chunk(s) short (stripe(s) "
                    f"{', '.join(map(str, self.unrebuildable_stripes))} lost more than {self.m} of their "
                    "chunks and parity files)")
        more = (f"{self.spare_drives} more drive(s) may be lost" if self.spare_drives
                else "no further drive may be lost")
        if not self.lost_chunks:
            return f"all data present; parity: {more}"
        return f"{len(self.lost_chunks)} chunk(s) missing or corrupt, rebuildable from parity; {more}"

    def to_dict(self) -> dict[str, Any]:
        return {"m": self.m, "lost_chunks": self.lost_chunks, "rebuildable": self.rebuildable,
                "short": self.short, "spare_drives": self.spare_drives, "lost_parity": self.lost_parity,
                "unrebuildable_stripes": self.unrebuildable_stripes, "summary": self.summary()}


def assess(parity: Parity, lost_chunks: set[int], lost_parity: set[str]) -> Margin:
    rebuildable: list[int] = []
    short, spare, bad_stripes = 0, parity.m, []
    for stripe in parity.stripes:
        data_lost = [seq for seq in stripe.chunks if seq in lost_chunks]
        lost = len(data_lost) + sum(1 for p in stripe.parity if p.file in lost_parity)
        if lost > parity.m:
            short += lost - parity.m
            bad_stripes.append(stripe.seq)
        else:
            rebuildable += data_lost
        spare = min(spare, max(0, parity.m - lost))
    return Margin(parity.m, sorted(lost_chunks), sorted(rebuildable), short, 0 if short else spare,
                  sorted(lost_parity), bad_stripes)
