"""verify and status: what is on the drives, judged against the signed index.

``status`` looks at presence and sizes only (fast); ``verify`` also hashes
every copy found.  Neither writes anything.  ``status`` shows what a drive
holds even when its signer is not trusted here (marked UNVERIFIED, the key
id named), and every transfer on the sources when there are several.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airgap_transfer.engine.io import pipeline
from airgap_transfer.engine.parity import margin
from airgap_transfer.engine.unpack import catalog, judge
from airgap_transfer.errors import IntegrityError
from airgap_transfer.events import Callback, Kind, Reporter
from airgap_transfer.format import layout
from airgap_transfer.format.index import Index
from airgap_transfer.format.parity import Parity
from airgap_transfer.media import fsio
from airgap_transfer.media import probe as media
from airgap_transfer.state import journal
from airgap_transfer.trust import keys


@dataclass
class InspectConfig:
    sources: list[Path]
    trust: list[str] = field(default_factory=list)
    allow_untrusted: bool = False
    transfer_id: str | None = None
    hash_chunks: bool = True
    show_unverified: bool = False  # status: an untrusted (but self-consistent) index is shown, marked


@dataclass(slots=True)
class ChunkState:
    """One chunk's verdict.  Slotted, and ``drives`` a tuple shared by the chunks on the same drives:
    a survey of 10^5 chunks holds 10^5 of these."""

    seq: int
    file: str
    length: int
    state: str                         # good | present | missing | corrupt
    drives: tuple[str, ...] = ()
    problems: list[str] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "file": self.file, "length": self.length, "state": self.state,
                "drives": list(self.drives), "problems": list(self.problems or [])}


@dataclass
class Survey:
    transfer_id: str
    bundle_name: str
    bundle_size: int
    final_index: bool
    key_id: str
    trusted: bool
    drives: list[str]
    chunks: list[ChunkState]
    media: list[dict[str, Any]] = field(default_factory=list)
    local: dict[str, Any] = field(default_factory=dict)  # this machine's pack/unpack journals for the transfer
    # pack --parity: the margin left (margin.Margin.to_dict) and parity file states
    parity: dict[str, Any] | None = None
    encrypted: int = 0  # age recipients of an encrypted transfer (its name here is the public placeholder)
    created: str = ""
    hashed: bool = True  # False for status: sizes only, contents not read
    # verify, pack --passphrase: drives whose identity.age is missing or not the signed index's copy
    identity_problems: list[str] = field(default_factory=list)

    @property
    def listed_size(self) -> int:
        """Bytes of the chunks the index lists: the bundle's size only when the index is final."""
        return sum(c.length for c in self.chunks)

    @property
    def missing(self) -> list[ChunkState]:
        return [c for c in self.chunks if c.state == "missing"]

    def count(self, state: str) -> int:
        return sum(1 for c in self.chunks if c.state == state)

    def counts(self) -> dict[str, int]:
        return {s: self.count(s) for s in ("good", "present", "missing", "corrupt")}

    @property
    def complete(self) -> bool:
        return self.final_index and not any(c.state in ("missing", "corrupt") for c in self.chunks)

    def to_dict(self) -> dict[str, Any]:
        return {"transfer_id": self.transfer_id, "bundle": self.bundle_name,
                "size": self.bundle_size if self.final_index else None, "listed_size": self.listed_size,
                "created": self.created, "final_index": self.final_index, "key_id": self.key_id,
                "trusted": self.trusted, "verified": self.trusted, "contents_checked": self.hashed,
                "drives": self.drives, "media": self.media, "local": self.local, "complete": self.complete,
                "encrypted": self.encrypted > 0, "recipients": self.encrypted,
                "counts": self.counts(), "identity_problems": self.identity_problems,
                "chunks": [c.to_dict() for c in self.chunks], "parity": self.parity}

    @property
    def rebuildable(self) -> bool:
        """Every chunk is there, or parity can rebuild those that are not."""
        return self.complete or (self.final_index and self.parity is not None and self.parity["short"] == 0)




def survey(config: InspectConfig, callback: Callback | None = None) -> Survey:
    report = Reporter(callback)
    transfer = catalog.find_transfer(config.sources, config.transfer_id, report)
    return _survey_transfer(transfer, config, report)


def survey_all(config: InspectConfig, callback: Callback | None = None) -> tuple[list[Survey], list[str]]:
    """status: every transfer on the sources (or the one chosen), each surveyed; and the ids of those without
    an index here."""
    report = Reporter(callback)
    transfers = catalog.find_transfers(config.sources, config.transfer_id, report)
    # Beside transfers that can be shown, one with chunks but no index here (its last drive is elsewhere,
    # or an interrupted pack from stdin left it) is named, not allowed to hide the others.
    shown = [t for t in transfers if any(f.has_index for f in t.folders)] or transfers[:1]
    unindexed = [t for t in transfers if t not in shown]
    for transfer in unindexed:
        report.warning(Kind.TRANSFER_WITHOUT_INDEX, f"transfer {transfer.transfer_id[:12]} has chunks on "
                       f"{', '.join(sorted({str(f.drive_root) for f in transfer.folders}))} but no index there "
                       "(its last drive is not inserted, or an interrupted pack left them); not listed",
                       transfer_id=transfer.transfer_id)
    return [_survey_transfer(t, config, report) for t in shown], [t.transfer_id for t in unindexed]


def _survey_transfer(transfer: catalog.Transfer, config: InspectConfig, report: Reporter) -> Survey:
    loaded = catalog.load_index(transfer, keys.trusted_keys(config.trust),
                                config.allow_untrusted or config.show_unverified, report,
                                warn_untrusted=not config.show_unverified)
    index: Index = loaded.index
    # verify reads each chunk (and one byte more) in it: no larger than the largest chunk; status reads sizes.
    largest = max((chunk.stored_length + 1 for chunk in index.chunks), default=1)
    buffer = bytearray(min(fsio.BUFFER_SIZE, largest) if config.hash_chunks else 0)
    ring = pipeline.Ring(2)
    states = []
    checked = 0
    shared: dict[tuple[Path, ...], tuple[str, ...]] = {}   # one tuple per set of drives, not per chunk
    for chunk in index.chunks:
        state = ChunkState(chunk.seq, chunk.file, chunk.length, "missing")
        good: list[Path] = []
        for path, drive in transfer.copies(chunk.file):
            try:
                if chunk.encoding == "zstd" and config.hash_chunks:
                    problem = judge.zstd_copy(path, chunk, ring)
                else:
                    # The index's sha256 is of the plain slice: the file's own bytes when stored plain.
                    sha256 = chunk.sha256 if chunk.encoding == "none" else None
                    problem = judge.plain_copy(path, chunk.stored_length, chunk.stored_blake3, buffer,
                                          config.hash_chunks, sha256)
            except OSError as exc:
                problem = f"read error ({exc.strerror})"
            if problem:
                state.problems = (state.problems or []) + [f"{drive}: {problem}"]
                report.warning(Kind.CHUNK_BAD_COPY, f"chunk {chunk.seq} on {drive}: {problem}",
                               chunk=chunk.seq, drive=str(drive), problem=problem)
            else:
                good.append(drive)
        if good:
            state.drives = shared.setdefault(tuple(good), tuple(map(str, good)))
        if state.drives:
            state.state = "good" if config.hash_chunks else "present"
        elif state.problems:
            state.state = "corrupt"
        states.append(state)
        checked += chunk.length
        report.progress(done=checked, total=index.bundle_size, chunk=chunk.seq, total_chunks=len(index.chunks),
                        drive=state.drives[0] if state.drives else None)
    drives = sorted({str(f.drive_root) for f in transfer.folders})
    identity = judge.identity_problems(index, transfer, report) if config.hash_chunks else []
    parity = _parity_state(index.parity, transfer, states, buffer, config.hash_chunks, report) if index.parity else None
    return Survey(index.transfer_id, index.bundle_name, index.bundle_size, index.final,
                  loaded.signer.key_id_hex, loaded.trusted, drives, states,
                  [media.describe(Path(d)).to_dict() for d in drives], journal.local_progress(index.transfer_id),
                  parity, index.encryption.recipients if index.encryption else 0, index.created, config.hash_chunks,
                  identity)


def _parity_state(parity: Parity, transfer: catalog.Transfer, states: list[ChunkState], buffer: bytearray,
                  hash_files: bool, report: Reporter) -> dict[str, Any]:
    """Each parity file judged like a chunk, and the margin that leaves."""
    files = []
    for stripe, _, item in parity.files():
        state = ParityState(item.file, stripe.seq, stripe.length, "missing")
        for path, drive in transfer.parity_copies(item.file):
            try:
                problem = judge.plain_copy(path, stripe.length, item.blake3, buffer, hash_files)
            except OSError as exc:
                problem = f"read error ({exc.strerror})"
            if problem:
                state.problems.append(f"{drive}: {problem}")
                report.warning(Kind.PARITY_BAD_COPY, f"parity file {item.file} on {drive}: {problem}",
                               file=item.file, drive=str(drive), problem=problem)
            else:
                state.drives.append(str(drive))
        state.state = ("good" if hash_files else "present") if state.drives else (
            "corrupt" if state.problems else "missing")
        files.append(state)
    lost_chunks = {c.seq for c in states if c.state in ("missing", "corrupt")}
    lost_parity = {f.file for f in files if f.state in ("missing", "corrupt")}
    found = margin.assess(parity, lost_chunks, lost_parity)
    return {**found.to_dict(), "files": [f.to_dict() for f in files]}


@dataclass
class ParityState:
    file: str
    stripe: int
    length: int
    state: str                         # good | present | missing | corrupt
    drives: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "stripe": self.stripe, "length": self.length, "state": self.state,
                "drives": self.drives, "problems": self.problems}


def verify(config: InspectConfig, callback: Callback | None = None) -> Survey:
    """Hash every chunk present; IntegrityError (exit 4) if any has no good copy."""
    result = survey(config, callback)
    if result.identity_problems:  # parity cannot rebuild it, and stock age needs it
        raise IntegrityError(f"{len(result.identity_problems)} bad {layout.IDENTITY_NAME}: "
                             f"{'; '.join(result.identity_problems)}",
                             hint=f"copy {layout.IDENTITY_NAME} from another drive of this transfer whose copy "
                                  "verifies, or ask the sender")
    corrupt = [c for c in result.chunks if c.state == "corrupt"]
    parity = result.parity
    if corrupt and result.rebuildable and parity is not None:  # some corrupt: rebuildable only through parity
        Reporter(callback).warning(Kind.CHUNKS_REBUILDABLE, f"{len(corrupt)} chunk(s) corrupt "
                                   f"({', '.join(str(c.seq) for c in corrupt)}); parity can rebuild them: "
                                   f"{parity['summary']}", chunks=[c.seq for c in corrupt])
    elif corrupt:
        details = "; ".join(f"chunk {c.seq} ({', '.join(c.problems or [])})" for c in corrupt)
        short = f"; {parity['summary']}" if parity else ""
        raise IntegrityError(f"{len(corrupt)} chunk(s) corrupt: {details}{short}",
                             hint="re-copy those chunks from the sending side")
    return result
