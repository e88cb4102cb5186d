"""The index's optional ``parity`` field: which parity file protects which chunks.

A stripe is a list of chunks (at most one per data drive) and m parity
files; the parity files hold a systematic Cauchy Reed-Solomon code over the
chunk files' stored bytes, each padded with zeros to the stripe's length
(docs/FORMAT.md section 12).  Like the rest of the index this is checked as
hostile input: names, counts and lengths are bounded, every chunk is in
exactly one stripe, and a stripe's length is its longest chunk's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airgap_transfer import limits
from airgap_transfer.errors import FormatError
from airgap_transfer.format import layout
from airgap_transfer.format.fields import Fields

if TYPE_CHECKING:
    from airgap_transfer.format.index import Chunk

SCHEME = "rs-cauchy-gf256-0x11d"


@dataclass
class ParityFile:
    """One parity file: parity shard ``p`` of its stripe, stored on drive ``drive``."""

    file: str
    drive: int
    blake3: str

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "drive": self.drive, "blake3": self.blake3}

    @classmethod
    def from_dict(cls, data: Any, strict: bool) -> ParityFile:
        d = Fields(data, "parity file", strict)
        item = cls(file=d.text("file", 64), drive=d.integer("drive", 1, limits.MAX_DRIVES), blake3=d.hex256("blake3"))
        d.done()
        return item


@dataclass
class Stripe:
    seq: int
    length: int                  # every parity file's size; chunks shorter than this are zero-padded
    chunks: list[int]            # chunk seqs: data shards 0..k-1, in this order
    parity: list[ParityFile]     # parity shards 0..m-1, in this order

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "length": self.length, "chunks": list(self.chunks),
                "parity": [p.to_dict() for p in self.parity]}

    @classmethod
    def from_dict(cls, data: Any, strict: bool) -> Stripe:
        d = Fields(data, "stripe", strict)
        chunks = d.take("chunks")
        parity = d.take("parity")
        if (not isinstance(chunks, list) or not 1 <= len(chunks) < limits.MAX_STRIPE_SHARDS
                or not all(type(c) is int and 1 <= c <= limits.MAX_CHUNKS for c in chunks)):
            raise FormatError("stripe chunk list is malformed")
        if not isinstance(parity, list) or not 1 <= len(parity) <= limits.MAX_PARITY:
            raise FormatError("stripe parity list is malformed")
        stripe = cls(seq=d.integer("seq", 1, limits.MAX_CHUNKS), length=d.integer("length", 1, limits.MAX_BUNDLE_SIZE),
                     chunks=chunks,
                     parity=[ParityFile.from_dict(p, strict) for p in parity])
        d.done()
        return stripe


@dataclass
class Parity:
    scheme: str
    k: int                        # the widest stripe's data shards (the data drives)
    m: int                        # parity shards per stripe: drives' worth that may be lost
    stripes: list[Stripe] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"scheme": self.scheme, "k": self.k, "m": self.m,
                "stripes": [s.to_dict() for s in self.stripes]}

    @classmethod
    def from_dict(cls, data: Any, strict: bool) -> Parity:
        d = Fields(data, "parity", strict)
        scheme = d.text("scheme", 64)
        if scheme != SCHEME:
            raise FormatError(f"parity scheme {scheme!r} is not supported (this tool reads {SCHEME})",
                              hint="use an airgap-transfer release that reads it")
        m = d.integer("m", 1, limits.MAX_PARITY)
        k = d.integer("k", 1, limits.MAX_STRIPE_SHARDS - m)
        stripes = d.take("stripes")
        if not isinstance(stripes, list) or not 1 <= len(stripes) <= limits.MAX_CHUNKS:
            raise FormatError(f"parity stripe list is not a list of 1 to {limits.MAX_CHUNKS}")
        parity = cls(scheme, k, m, [Stripe.from_dict(s, strict) for s in stripes])
        d.done()
        return parity

    def check(self, transfer_id: str, chunks: list[Chunk]) -> None:
        """Every chunk in exactly one stripe; names, counts and lengths as pack writes them."""
        by_seq = {c.seq: c for c in chunks}
        covered: set[int] = set()
        for position, stripe in enumerate(self.stripes, start=1):
            where = f"parity stripe {stripe.seq}"
            if stripe.seq != position:
                raise FormatError(f"{where} is out of sequence (expected {position})")
            if len(stripe.chunks) > self.k or len(stripe.parity) != self.m:
                raise FormatError(f"{where} has {len(stripe.chunks)} chunks and {len(stripe.parity)} parity "
                                  f"files, not at most {self.k} and {self.m}")
            for seq in stripe.chunks:
                if seq not in by_seq or seq in covered:
                    raise FormatError(f"{where} names chunk {seq}, which is unknown or in another stripe")
                covered.add(seq)
            longest = max(by_seq[seq].stored_length for seq in stripe.chunks)
            if stripe.length != longest:
                raise FormatError(f"{where} is {stripe.length} bytes long, its longest chunk {longest}")
            data_drives = {by_seq[seq].drive for seq in stripe.chunks}
            for p, item in enumerate(stripe.parity, start=1):
                if item.file != layout.parity_file_name(transfer_id, stripe.seq, p):
                    raise FormatError(f"{where} has a malformed parity file name")
                if item.drive in data_drives:
                    raise FormatError(f"{where}: parity file {p} is on a drive holding its data")
            if len({p.drive for p in stripe.parity}) != self.m:
                raise FormatError(f"{where}: two parity files on one drive")
        if len(covered) != len(by_seq):
            raise FormatError(f"{len(by_seq) - len(covered)} chunk(s) are in no parity stripe")

    def files(self) -> list[tuple[Stripe, int, ParityFile]]:
        """Every parity file with its stripe and parity shard number (0-based)."""
        return [(stripe, p, item) for stripe in self.stripes for p, item in enumerate(stripe.parity)]
