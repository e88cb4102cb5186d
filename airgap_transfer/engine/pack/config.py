"""What pack is asked to do (PackConfig) and what it reports when done (PackResult)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airgap_transfer.engine.crypt.keys import X25519Recipient
from airgap_transfer.engine.pack.drives import DriveRequest
from airgap_transfer.format.index import Chunk


@dataclass
class PackConfig:
    source: str
    destinations: list[Path]
    chunk_size: int | None = None      # None: as large as each drive allows
    key_path: Path | None = None
    no_prompt: bool = False
    readback: bool = True
    name: str | None = None
    sha256: bool = False     # also SHA-256 per chunk and whole, for auditors
    compress: str = "auto"   # auto | zstd | none (see compression.decide)
    resume: bool = False     # require an unfinished journal to continue
    restart: bool = False    # ignore (and drop) any unfinished journal
    parallel: bool = True    # write several DESTs mounted at once at the same time (see parallel.py)
    full_recheck: bool = False  # the last check of each drive re-reads every chunk whole, not samples
    parity: int = 0          # drives' worth of parity: any this many drives may be lost (parity_phase.py)
    # Asked for another drive when the given ones are full; None (or returning
    # None) means there is none and pack stops with exit 3.
    next_drive: Callable[[DriveRequest], Path | None] | None = None
    # Called with each chunk's final path before read-back; tests use it to
    # simulate a medium that changes data after it was written.
    after_chunk_written: Callable[[Path], None] | None = None
    # Encryption at rest (sealing.py): age X25519 recipients, and/or a passphrase
    # protecting a per-transfer identity.  Neither: chunks are stored in clear.
    recipients: list[X25519Recipient] = field(default_factory=list)
    passphrase: bytes | None = None
    scrypt_work_factor: int | None = None  # None: age's default (2^18); tests use less


@dataclass
class PackResult:
    transfer_id: str
    bundle_name: str
    bundle_size: int
    bundle_blake3: str
    key_id: str
    chunks: list[Chunk]
    drives: list[str]
    compression: str = "none"
    parity: int = 0
    parity_drives: list[str] = field(default_factory=list)
    recipients: int = 0  # age recipients of every chunk; 0: not encrypted

    @property
    def stored_size(self) -> int:
        return sum(chunk.stored_length for chunk in self.chunks)

    def to_dict(self) -> dict[str, Any]:
        return {"transfer_id": self.transfer_id, "bundle": self.bundle_name,
                "size": self.bundle_size, "blake3": self.bundle_blake3, "key_id": self.key_id,
                "chunks": len(self.chunks), "drives": self.drives,
                "compression": self.compression, "stored_size": self.stored_size,
                "parity": self.parity, "parity_drives": self.parity_drives,
                "encrypted": self.recipients > 0, "recipients": self.recipients}
