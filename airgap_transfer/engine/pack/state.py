"""A pack run's explicit state: what it works with (PackRun), and what it has written (PackState).

The phases (Drives, InTurn, AtOnce, Ledger) are handed these two objects;
none of them keeps a copy of what the other holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import zstandard

from airgap_transfer.engine.crypt.transfer import SealingKeys
from airgap_transfer.engine.io import compression, pipeline, readback
from airgap_transfer.engine.io.digests import Digests
from airgap_transfer.engine.pack.config import PackConfig
from airgap_transfer.engine.pack.drives import DriveSlot
from airgap_transfer.engine.pack.parallel import Planned
from airgap_transfer.engine.pack.source import Source
from airgap_transfer.events import Reporter
from airgap_transfer.format.encryption import sealed_encoding
from airgap_transfer.format.index import Chunk, Drive
from airgap_transfer.format.parity import Parity
from airgap_transfer.trust import minisign


@dataclass(frozen=True)
class PackRun:
    """What one run works with, fixed once the source is open and the key loaded."""

    config: PackConfig
    source: Source
    key: minisign.SecretKey
    compression: compression.Decision
    compressor: zstandard.ZstdCompressor | None
    ring: pipeline.Ring
    readbacks: readback.ReadBackQueue | None  # None with --no-readback
    report: Reporter
    data_destinations: list[Path]    # the DESTs for data; with --parity N the last N are kept for parity
    parity_destinations: list[Path]
    sealing: SealingKeys | None = None  # encryption at rest (sealing.py); None: chunks stored in clear

    @classmethod
    def start(cls, config: PackConfig, source: Source, key: minisign.SecretKey, report: Reporter,
              data_destinations: list[Path], parity_destinations: list[Path],
              sealing: SealingKeys | None = None) -> PackRun:
        decision = compression.decide(config.compress, source.name, source.sample(compression.SAMPLE_SIZE))
        return cls(config, source, key, decision,
                   compression.new_compressor() if decision.encoding == "zstd" else None,
                   pipeline.Ring(), readback.ReadBackQueue() if config.readback else None, report,
                   data_destinations, parity_destinations, sealing)

    @property
    def buffer(self) -> memoryview:
        """Resume and metadata read-back borrow a buffer of the ring while it is idle."""
        return self.ring.views[0]

    @property
    def planned_encoding(self) -> str:
        """The chunks' encoding as planning sees it (compression, and encryption around it)."""
        if self.sealing is None:
            return self.compression.encoding
        return sealed_encoding(self.compression.encoding)

    @property
    def key_id(self) -> str:
        return self.key.public_key().key_id_hex


@dataclass
class PackState:
    """What the run has written so far, changed by the phases as chunks are proven."""

    transfer_id: str
    whole: Digests                                          # the bundle's digest, up to ``offset``
    chunks: list[Chunk] = field(default_factory=list)       # in sequence order between phases
    offset: int = 0                                         # where the bytes not yet planned begin
    next_seq: int = 1
    slots: list[DriveSlot] = field(default_factory=list)    # every drive of the transfer, by ordinal
    full: set[int] = field(default_factory=set)             # drives that ran out of space before their plan
    gaps: list[Planned] = field(default_factory=list)       # chunks an earlier run left out between kept ones
    parity_slots: list[DriveSlot] = field(default_factory=list)  # with --parity: the parity drives (in slots too)
    parity: Parity | None = None                            # with --parity: what the final index records

    def slot(self, ordinal: int) -> DriveSlot | None:
        return next((s for s in self.slots if s.ordinal == ordinal), None)

    def index_drives(self) -> list[Drive]:
        return [Drive(ordinal=s.ordinal, label=s.medium.label or s.root.name or str(s.root),
                      fs_type=s.medium.fs_type, fs_uuid=s.medium.fs_uuid, serial=s.medium.serial)
                for s in self.slots]
