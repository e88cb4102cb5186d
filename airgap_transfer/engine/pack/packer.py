"""Pack: stream a bundle once into verified chunk files across destinations.

One pass over the source through a small ring of reused buffers, reading,
hashing and writing overlapping (chunk_io, pipeline).  Each chunk is written
under a temporary name, fsynced, renamed, its folder fsynced, then read back
from the medium with the page cache dropped, while the next chunk is written.
Several drives mounted at once are written at once, each with its share
(parallel); drives that come later, or share a disk, are filled in turn.
The index (partial when a drive is sealed early, final at the end) is signed
over its exact bytes.
"""

from __future__ import annotations

import errno
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import blake3

from airgap_transfer import __version__
from airgap_transfer.engine.io import chunk_io, compression, pipeline, samples
from airgap_transfer.engine.io.digests import Digests
from airgap_transfer.engine.pack import last_check, parity_early, parity_phase, planning, preflight, resume
from airgap_transfer.engine.pack.at_once import AtOnce
from airgap_transfer.engine.pack.drives import DriveRequest, DriveRotation, DriveSlot
from airgap_transfer.engine.pack.in_turn import InTurn
from airgap_transfer.engine.pack.parallel import Planned
from airgap_transfer.engine.pack.source import open_source
from airgap_transfer.errors import (
    DriveIOError,
    IntegrityError,
    Interrupted,
    NoSpaceError,
)
from airgap_transfer.events import Callback, Kind, Reporter
from airgap_transfer.format import layout, restore_note
from airgap_transfer.format.index import Chunk, Drive, Index
from airgap_transfer.format.names import count_of, printable
from airgap_transfer.format.parity import Parity
from airgap_transfer.media import fsio
from airgap_transfer.state import guard, journal, paths
from airgap_transfer.state.journal import PackJournal, SourceIdentity
from airgap_transfer.trust import keys

__all__ = ["DriveRequest", "PackConfig", "PackResult", "pack"]


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

    @property
    def stored_size(self) -> int:
        return sum(chunk.stored_length for chunk in self.chunks)

    def to_dict(self) -> dict[str, Any]:
        return {"transfer_id": self.transfer_id, "bundle": self.bundle_name,
                "size": self.bundle_size, "blake3": self.bundle_blake3, "key_id": self.key_id,
                "chunks": len(self.chunks), "drives": self.drives,
                "compression": self.compression, "stored_size": self.stored_size,
                "parity": self.parity, "parity_drives": self.parity_drives}


class _Packer(DriveRotation, AtOnce, InTurn):
    """One pack run; the drive handling and the two ways of writing are mixins (pack_*.py)."""

    def __init__(self, config: PackConfig, report: Reporter) -> None:
        self.config = config
        self.report = report
        self.ring = pipeline.Ring()
        self.buffer = self.ring.buffers[0]  # resume and metadata read-back run only while the ring is idle
        self.readbacks = chunk_io.ReadBackQueue() if config.readback else None
        self.whole = Digests(sha256=config.sha256)
        self.transfer_id = secrets.token_hex(16)
        self.chunks: list[Chunk] = []   # in sequence order between phases
        self.next_seq = 1
        self.gaps: list[Planned] = []   # chunks an earlier run left out between kept ones
        self.slots: list[DriveSlot] = []
        self.full: set[int] = set()     # ordinals of drives that ran out of space before their plan
        self.offset = 0                 # where the bytes not yet planned begin
        self.resume_slot: DriveSlot | None = None
        # The journal claims only chunks that are read back: the one being read back waits.
        self.in_flight: Chunk | None = None
        self.pending: list[Chunk] = []  # proven, not yet in the journal
        self.journal_path: Path | None = None
        self.journal_started = False
        self.journaled_drives: set[int] = set()
        self.source_identity: SourceIdentity | None = None
        # What each drive's files read back as, for its last check: ordinal -> path -> expectation.
        self.expected: dict[int, dict[Path, last_check.Expected]] = {}
        self.held: guard.Held | None = None  # the journal's lock
        self.data_destinations, self.parity_destinations = preflight.split_parity(config)
        self.parity: Parity | None = None
        self.parity_slots: list[DriveSlot] = []

    def run(self) -> PackResult:
        config = self.config
        preflight.check_destinations(config.destinations)
        key = keys.load_signing_key(config.key_path, self.report)
        self.key = key
        with open_source(config.source, config.name) as source:
            self.source = source
            if source.seekable:  # one run per journal: a second would delete the first one's fresh chunks
                self.held = guard.lock(journal.pack_journal_path(Path(config.source)), f"a pack of {source.name}")
            guard.check_room(paths.state_dir(), _chunk_estimate(source.size, config.chunk_size), "pack")
            found = resume.find(config.source, key.public_key().key_id_hex,
                                resume=config.resume, restart=config.restart, sha256=config.sha256,
                                readback=config.readback)
            if source.seekable:
                self.journal_path = journal.pack_journal_path(Path(config.source))
                self.source_identity = SourceIdentity.of(Path(config.source))
            self.compression = compression.decide(config.compress, source.name,
                                                  source.sample(compression.SAMPLE_SIZE))
            self.compressor = compression.new_compressor() if self.compression.encoding == "zstd" else None
            if found:
                self.transfer_id = found.transfer_id
            else:
                preflight.check_chunk_count(source, config)
                preflight.check_space(source, replace(config, destinations=self.data_destinations),
                                      self.compression.encoding)
                preflight.check_parity_space(source, config, self.data_destinations, self.parity_destinations)
            self.report.info(Kind.PACK_STARTED, f"packing {source.name} as transfer {self.transfer_id}",
                             transfer_id=self.transfer_id, bundle=source.name, size=source.size,
                             key_id=key.public_key().key_id_hex, resumed=found is not None,
                             compression=self.compression.recorded)
            if source.renamed_because:
                self.report.warning(Kind.BUNDLE_RENAMED, f"{printable(source.original_name or '')} is recorded as "
                                    f"{printable(source.name)} ({source.renamed_because}); the index keeps the "
                                    "original name", original_name=source.original_name, name=source.name)
            if found:
                self._restore(found)
            self._save_journal()  # from the start, so even a run killed in chunk 1 is resumed and cleaned
            used = {str(s.root.resolve()) for s in self.slots if s.present}
            early = None if found else self._start_parity_early()
            try:
                self._write_all([d for d in self.data_destinations if str(d.resolve()) not in used])
            except BaseException:
                if early is not None:
                    early.cancel()
                raise
            self._wait_readbacks()
            if source.size is not None and self.offset != source.size:
                raise IntegrityError(f"{source.name} changed size while it was read",
                                     hint="pack a source that is not being written to")
            self._check_source()
            if config.parity:
                self._write_parity(early)
                self._check_source()
        index = self._build_index(final=True)
        self._write_final_index(index)
        for slot in self.slots:
            if slot.present:
                self._last_check(slot)
        self._save_journal(complete=True)
        self.report.info(Kind.PACK_FINISHED, f"packed {printable(index.bundle_name)}: {index.bundle_size} bytes, "
                         f"{count_of(len(self.chunks), 'chunk')}, {count_of(len(self.slots), 'drive')}",
                         transfer_id=self.transfer_id,
                         blake3=index.bundle_blake3, sha256=index.bundle_sha256)
        return PackResult(self.transfer_id, index.bundle_name, index.bundle_size,
                          index.bundle_blake3 or "", key.public_key().key_id_hex,
                          self.chunks, [str(s.root) for s in self.slots], self.compression.recorded,
                          config.parity, [str(s.root) for s in self.parity_slots])

    def _start_parity_early(self) -> parity_early.EarlyParity | None:
        """With every parity drive given and the data drives written at once: parity alongside the data."""
        config = self.config
        if not config.parity or len(self.parity_destinations) != config.parity or self.source.size is None:
            return None
        if preflight.why_in_turn(self.source, self.compression.encoding, self.data_destinations,
                                 config.parallel) is not None:
            return None
        chosen = planning.plan_at_once(self.source.size - self.offset,
                                       preflight.drive_plans(self.data_destinations, config.chunk_size),
                                       config.chunk_size, len(self.chunks))  # the plan _spread will make
        if chosen is None or chosen.unplaced:
            return None
        shares = [plan.chunks for plan in chosen.drives if plan.chunks]
        first = max((s.ordinal for s in self.slots), default=0) + 1
        # Numbered after the data drives they will follow, but listed only once those are open.
        self._open_parity_slots(first + len(shares))
        planned = parity_early.planned_chunks(shares, first, self.transfer_id)
        return parity_early.EarlyParity(config.parity, self.transfer_id, planned, self.parity_slots, self.source,
                                        config.readback)

    def _open_parity_slots(self, first_ordinal: int | None = None) -> None:
        """The parity drives: those reserved among the DESTs given, then any asked for."""
        data_devices = {s.root.stat().st_dev for s in self.slots if s.present and s.root.exists()}
        data_devices |= {d.stat().st_dev for d in self.data_destinations if d.exists()}
        reserved = iter(self.parity_destinations)
        while len(self.parity_slots) < self.config.parity:
            dest = next(reserved, None)
            if dest is None:
                dest = self._ask_for_drive(parity=self.config.parity - len(self.parity_slots))
                if not self._usable(dest):
                    continue
            elif dest.stat().st_dev in data_devices:
                self.report.warning(Kind.PARITY_SAME_DRIVE, f"{dest} is on a drive that holds data of this transfer: "
                                    "losing that drive loses data and parity together", drive=str(dest))
            ordinal = None if first_ordinal is None else first_ordinal + len(self.parity_slots)
            self.parity_slots.append(self._open_slot(dest, ordinal))

    def _list_parity_slots(self) -> None:
        """Parity drives opened early join the drive list after the data drives, renumbered if those grew."""
        unlisted = [s for s in self.parity_slots if s not in self.slots]
        if not unlisted:
            return
        top = max((s.ordinal for s in self.slots), default=0)
        if min(s.ordinal for s in unlisted) <= top:  # more data drives than planned: the early parity is redone
            for position, slot in enumerate(unlisted, start=1):
                slot.ordinal = top + position
        self.slots.extend(unlisted)

    def _write_parity(self, early: parity_early.EarlyParity | None) -> None:
        if early is not None:
            renumbered = [s.ordinal for s in self.parity_slots]
            self._list_parity_slots()
            if renumbered == [s.ordinal for s in self.parity_slots]:
                self.parity = early.adopt(self.chunks, self.report)
            else:
                early.discard(self.report, "more data drives were needed than planned")
            if self.parity is not None:
                return
        parity_phase.ParityPhase.check_readable(self.chunks, {s.ordinal: s for s in self.slots}, self.source)
        self._open_parity_slots()
        phase = parity_phase.ParityPhase(self.config.parity, self.transfer_id, self.report)
        self.parity = phase.run(parity_phase.ParityInputs(
            self.chunks, {s.ordinal: s for s in self.slots}, self.parity_slots, self.source, self.config.readback))

    def _check_source(self) -> None:
        """A file read more than once (drives at once, refilled gaps) must not have changed in between.

        Otherwise the whole-bundle digest and the chunks could describe different bytes.
        """
        if self.source.kind != "file" or self.source_identity is None:
            return
        changed = self.source_identity.differences(SourceIdentity.of(Path(self.config.source)))
        if changed:
            raise IntegrityError(f"{self.source.name} changed while it was packed ({', '.join(changed)} differ)",
                                 hint="pack a source that is not being written to, with --restart")

    def _write_final_index(self, index: Index) -> None:
        """The last drive must get the final index; earlier ones still mounted get it if they can."""
        present = [slot for slot in self.slots if slot.present]
        for position, slot in enumerate(reversed(present)):
            try:
                self._write_metadata(slot, index)
                fsio.sync_filesystem(slot.root)
            except OSError as exc:
                if position == 0:
                    raise
                self.report.warning(Kind.FINAL_INDEX_SKIPPED, f"{slot.root} keeps its partial index "
                                    f"({exc.strerror}); the final index is on {present[-1].root}",
                                    drive=str(slot.root))

    def _expect(self, slot: DriveSlot, path: Path, what: str, length: int, digest: str,
                tap: samples.SampleTap | None) -> None:
        self.expected.setdefault(slot.ordinal, {})[path] = last_check.Expected(path, what, length, digest, tap)

    def _last_check(self, slot: DriveSlot) -> None:
        """Before a drive is called finished: every chunk on it still reads as it did (last_check)."""
        if not (self.config.readback or self.config.full_recheck):
            return
        self._wait_readbacks()
        known = self.expected.get(slot.ordinal, {})
        items = []
        for chunk in self.chunks:
            if chunk.drive == slot.ordinal:
                path = slot.folder / chunk.file
                items.append(known.get(path) or last_check.Expected(path, f"chunk {chunk.seq}", chunk.stored_length,
                                                                    chunk.stored_blake3))
        index_path = slot.folder / layout.INDEX_NAME
        if index_path in known:
            items.append(known[index_path])
        outcome = last_check.check_drive(slot.root, slot.medium.label, items, self.config.full_recheck,
                                         self.ring, self.report)
        how = "whole" if self.config.full_recheck else "in samples"
        self.report.info(Kind.DRIVE_RECHECKED, f"{slot.root}: all {outcome.files} files still read as written "
                         f"(re-read {how}, {outcome.bytes_read} bytes)", drive=str(slot.root), files=outcome.files,
                         bytes_read=outcome.bytes_read, whole=outcome.whole, full=self.config.full_recheck)

    def _restore(self, found: PackJournal) -> None:
        # Refilling a gap reads the source at its offset and stores it plain, as drives written at
        # once do; anything else redoes all after the first gap (compressed chunks hold more than
        # their plain room, a folder's tar stream is read in order).
        point = resume.prove(found, self.config.destinations, self.buffer, self.report,
                             gaps_allowed=self.source.kind == "file" and self.compression.encoding == "none")
        self.transfer_id = found.transfer_id
        self.chunks, self.offset, self.gaps = point.chunks, point.offset, point.gaps
        self.next_seq = self.chunks[-1].seq + 1 if self.chunks else 1
        self.whole = resume.rehash_prefix(self.source.stream, self.chunks, self.buffer, self.report,
                                          Digests(sha256=self.config.sha256))
        self.source.at_eof = False
        resume.remove_leftovers(self.transfer_id, self.config.destinations,
                                {c.file for c in self.chunks}, self.report)
        present = resume.present_drives(found, self.config.destinations)
        holding = {c.drive for c in self.chunks}
        for saved in found.drives:
            if saved["ordinal"] not in holding:
                continue  # reopened as a new drive if it is given again
            slot = self._saved_slot(saved, saved["ordinal"] in present)
            self.slots.append(slot)
            if slot.present:
                self.report.info(Kind.DRIVE_OPENED, f"continuing on {slot.root} ({slot.medium.describe()})",
                                 drive=str(slot.root), ordinal=slot.ordinal, medium=slot.medium.to_dict(),
                                 resumed=True)
        last = self._slot(self.chunks[-1].drive) if self.chunks else None
        if last is not None and last.present:
            self.resume_slot = last

    def _save_journal(self, complete: bool = False) -> None:
        """Record what is proven on the drives, so a re-run continues after it.

        The first save of a run writes the whole state (on resume that drops
        claims past the chunks kept); later saves append only what is new.
        """
        if self.journal_path is None:
            return
        try:
            self._write_journal(complete)
        except OSError as exc:  # the state folder, not a drive: say which
            raise guard.state_folder_error(exc, "pack") from None

    def _write_journal(self, complete: bool) -> None:
        roots = {s.ordinal: str(s.root.resolve()) for s in self.slots}
        drives = {d.ordinal: {**d.to_dict(), "root": roots[d.ordinal]} for d in self._drives()}
        new, self.pending = self.pending, []
        if not self.journal_started:
            journal.save(self.journal_path, PackJournal(
                transfer_id=self.transfer_id, source=self.source_identity, bundle_name=self.source.name,
                key_id=self.key.public_key().key_id_hex, readback=self.config.readback,
                chunks=[{**c.to_dict(), "root": roots[c.drive]} for c in self.chunks if c is not self.in_flight],
                drives=list(drives.values()), complete=complete, sha256=self.config.sha256))
            self.journaled_drives = set(drives)
            self.journal_started = True
        else:
            fresh_drives = sorted({c.drive for c in new} - self.journaled_drives)
            journal.append(self.journal_path, [{"drive": drives[o]} for o in fresh_drives]
                           + [{"chunk": {**c.to_dict(), "root": roots[c.drive]}} for c in new]
                           + ([{"complete": True}] if complete else []))
            self.journaled_drives.update(fresh_drives)

    def _write_all(self, fresh: list[Path]) -> None:
        """From the resume point on: gaps an earlier run left, then drives at once, then in turn."""
        destinations = iter(fresh)
        if self.gaps:
            self._write_fixed(self.gaps, destinations)
            self.gaps = []
        slot, destinations = self._spread(self.resume_slot, list(destinations))
        self._stream(slot, destinations)

    def _build_index(self, final: bool) -> Index:
        return Index(
            transfer_id=self.transfer_id, bundle_name=self.source.name,
            bundle_original_name=self.source.original_name,
            bundle_size=sum(c.length for c in self.chunks), bundle_blake3=self.whole.hexdigest() if final else None,
            bundle_sha256=self.whole.sha256_hexdigest() if final else None,
            created=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            tool=f"airgap-transfer {__version__}", signer=self.key.public_key().key_id_hex,
            final=final, kind=self.source.kind, readback=self.config.readback,
            compression=self.compression.recorded,
            chunks=sorted(self.chunks, key=lambda c: c.seq),
            drives=self._drives(), parity=self.parity if final else None)

    def _drives(self) -> list[Drive]:
        return [Drive(ordinal=s.ordinal, label=s.medium.label or s.root.name or str(s.root),
                      fs_type=s.medium.fs_type, fs_uuid=s.medium.fs_uuid, serial=s.medium.serial)
                for s in self.slots]

    def _seal(self, slot: DriveSlot) -> None:
        self._write_metadata(slot, self._build_index(final=False))
        self._save_journal()  # every read-back was awaited for the index: all chunks are proven now
        self.report.info(Kind.DRIVE_SEALED, f"{slot.root} is complete ({count_of(len(slot.files), 'chunk')})",
                         drive=str(slot.root), chunks=[n for n, _ in slot.files])

    def _wait_readbacks(self) -> None:
        if self.readbacks is not None:
            self.readbacks.wait()
        self._proven(self.in_flight)
        self.in_flight = None

    def _proven(self, chunk: Chunk | None) -> None:
        if chunk is not None:
            self.pending.append(chunk)

    def _write_metadata(self, slot: DriveSlot, index: Index) -> None:
        self._wait_readbacks()
        data = index.to_bytes()
        signature = keys.sign_index(data, self.key, self.transfer_id, index.final)
        index_path = slot.folder / layout.INDEX_NAME
        fsio.atomic_write_bytes(index_path, data)
        fsio.atomic_write_bytes(slot.folder / layout.SIGNATURE_NAME, signature.encode())
        fsio.atomic_write_bytes(slot.folder / layout.SIGNER_KEY_NAME,
                                self.key.public_key().to_file_text().encode())
        index_digest = blake3.blake3(data).hexdigest()
        if self.config.readback:
            chunk_io.read_back(index_path, len(data), index_digest, self.ring, what=f"index on {slot.root}")
        self._expect(slot, index_path, "the index", len(data), index_digest, None)
        sums = layout.b3sums_text([*sorted(slot.files), (layout.INDEX_NAME, index_digest)])
        fsio.atomic_write_bytes(slot.folder / layout.B3SUMS_NAME, sums.encode())
        fsio.atomic_write_bytes(slot.folder / restore_note.NOTE_NAME, restore_note.restore_text(index).encode())


def _drive_of(filename, destinations: list[Path]) -> Path | None:
    """The destination a failed path is on, so the message names the stick and not "the drive and source"."""
    if not filename:
        return None
    path = Path(str(filename))
    for dest in destinations:
        if path == dest or dest in path.parents:
            return dest
    return None


def _chunk_estimate(size: int | None, chunk_size: int | None) -> int | None:
    if size is None or not chunk_size:
        return None
    return -(-size // chunk_size)


def pack(config: PackConfig, callback: Callback | None = None) -> PackResult:
    """Pack ``config.source`` onto ``config.destinations``; see PackConfig."""
    resumable = config.source != "-"
    again = "run the same pack command again to resume" if resumable else "run pack again"
    packer = _Packer(config, Reporter(callback))
    try:
        return packer.run()
    except KeyboardInterrupt:
        raise Interrupted("interrupted; every chunk finished so far is kept", hint=again) from None
    except OSError as exc:  # metadata writes, source reads, a drive that vanished
        where = f"{exc.filename}: " if exc.filename else ""
        if exc.errno == errno.ENOSPC:
            raise NoSpaceError(f"{where}no space left", hint=f"free space, then {again}") from None
        drive = _drive_of(exc.filename, config.destinations)
        if drive is not None:
            raise DriveIOError(f"drive {drive} stopped answering ({exc.strerror}: {exc.filename})",
                               hint=f"reconnect or replace that drive, then {again}") from None
        if exc.filename and config.source != "-" and Path(exc.filename) == Path(config.source):
            raise DriveIOError(f"the source {exc.filename} could not be read ({exc.strerror})",
                               hint=f"check the disk it is on, then {again}") from None
        raise DriveIOError(f"{where}{exc.strerror}", hint=f"check the drive and source, then {again}") from None
    finally:
        if packer.held is not None:
            packer.held.release()
