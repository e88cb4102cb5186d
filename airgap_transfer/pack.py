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
import os
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import blake3

from . import (__version__, chunk_io, compression, fsio, journal, keys, layout, limits, media, parallel,
               pipeline, planning, preflight, restore_note, resume)
from .errors import DriveIOError, IncompleteError, Interrupted, NoSpaceError, UsageError
from .digests import Digests
from .journal import PackJournal, SourceIdentity
from .events import Callback, Reporter
from .index import Chunk, Drive, Index
from .parallel import Assignment, Planned
from .source import open_source


@dataclass
class DriveRequest:
    """What pack asks for when every destination given is full."""

    ordinal: int
    written: int
    remaining: int | None
    used: list[Path]


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

    @property
    def stored_size(self) -> int:
        return sum(chunk.stored_length for chunk in self.chunks)

    def to_dict(self) -> dict:
        return {"transfer_id": self.transfer_id, "bundle": self.bundle_name,
                "size": self.bundle_size, "blake3": self.bundle_blake3, "key_id": self.key_id,
                "chunks": len(self.chunks), "drives": self.drives,
                "compression": self.compression, "stored_size": self.stored_size}


@dataclass
class _DriveSlot:
    """A destination being filled, and what has been written to it."""

    ordinal: int
    root: Path
    folder: Path
    medium: media.Medium
    chunk_limit: int
    files: list[tuple[str, str]] = field(default_factory=list)  # (name, blake3)
    present: bool = True  # False: a drive of an earlier run that is not mounted now

    def room(self, chunks_so_far: int) -> int:
        return max(0, fsio.free_space(self.folder) - limits.reserve(chunks_so_far + 1))


class _Packer:
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
        self.slots: list[_DriveSlot] = []
        self.full: set[int] = set()     # ordinals of drives that ran out of space before their plan
        self.offset = 0                 # where the bytes not yet planned begin
        self.resume_slot: _DriveSlot | None = None
        # The journal claims only chunks that are read back: the one being read back waits.
        self.in_flight: Chunk | None = None
        self.pending: list[Chunk] = []  # proven, not yet in the journal
        self.journal_path: Path | None = None
        self.journal_started = False
        self.journaled_drives: set[int] = set()
        self.source_identity: SourceIdentity | None = None

    def run(self) -> PackResult:
        config = self.config
        preflight.check_destinations(config.destinations)
        key = keys.load_signing_key(config.key_path, self.report)
        self.key = key
        with open_source(config.source, config.name) as source:
            self.source = source
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
                preflight.check_space(source, config, self.compression.encoding)
            self.report.info("pack-started", f"packing {source.name} as transfer {self.transfer_id}",
                             transfer_id=self.transfer_id, bundle=source.name, size=source.size,
                             key_id=key.public_key().key_id_hex, resumed=found is not None,
                             compression=self.compression.recorded)
            if found:
                self._restore(found)
            self._save_journal()  # from the start, so even a run killed in chunk 1 is resumed and cleaned
            used = {str(s.root.resolve()) for s in self.slots if s.present}
            self._write_all([d for d in config.destinations if str(d.resolve()) not in used])
            self._wait_readbacks()
            if source.size is not None and self.offset != source.size:
                raise UsageError(f"{source.name} changed size while it was read",
                                 hint="pack a source that is not being written to")
        index = self._build_index(final=True)
        self._write_final_index(index)
        self._save_journal(complete=True)
        self.report.info("pack-finished", f"packed {index.bundle_size} bytes in {len(self.chunks)} "
                         f"chunks onto {len(self.slots)} drive(s)", transfer_id=self.transfer_id,
                         blake3=index.bundle_blake3, sha256=index.bundle_sha256)
        return PackResult(self.transfer_id, index.bundle_name, index.bundle_size,
                          index.bundle_blake3 or "", key.public_key().key_id_hex,
                          self.chunks, [str(s.root) for s in self.slots], self.compression.recorded)

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
                self.report.warning("final-index-skipped", f"{slot.root} keeps its partial index "
                                    f"({exc.strerror}); the final index is on {present[-1].root}",
                                    drive=str(slot.root))

    def _restore(self, found: PackJournal) -> None:
        # Only a plain file can be read at any offset, as refilling a gap needs.
        point = resume.prove(found, self.config.destinations, self.buffer, self.report,
                             gaps_allowed=self.source.kind == "file")
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
                self.report.info("drive-opened", f"continuing on {slot.root} ({slot.medium.describe()})",
                                 drive=str(slot.root), ordinal=slot.ordinal, medium=slot.medium.to_dict(),
                                 resumed=True)
        last = self._slot(self.chunks[-1].drive) if self.chunks else None
        if last is not None and last.present:
            self.resume_slot = last

    def _slot(self, ordinal: int) -> _DriveSlot | None:
        return next((s for s in self.slots if s.ordinal == ordinal), None)

    def _saved_slot(self, saved: dict, present: bool) -> _DriveSlot:
        root = Path(saved["root"])
        medium = media.describe(root) if present else media.Medium(
            path=saved["root"], mount_point=None, device=None, fs_type=saved["fs_type"], capacity=0, free=0,
            label=saved["label"], fs_uuid=saved["fs_uuid"], serial=saved["serial"])
        files = [(c.file, c.stored_blake3) for c in self.chunks if c.drive == saved["ordinal"]]
        return _DriveSlot(saved["ordinal"], root, root / layout.folder_name(self.transfer_id), medium,
                          planning.chunk_limit(self.config.chunk_size, medium.fs_type).size, files, present)

    def _save_journal(self, complete: bool = False) -> None:
        """Record what is proven on the drives, so a re-run continues after it.

        The first save of a run writes the whole state (on resume that drops
        claims past the chunks kept); later saves append only what is new.
        """
        if self.journal_path is None:
            return
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

    def _open_slot(self, dest: Path) -> _DriveSlot:
        medium = media.describe(dest)
        limit = planning.chunk_limit(self.config.chunk_size, medium.fs_type)
        if limit.clamped:
            self.report.warning("chunk-size-clamped",
                                f"chunks on {dest} are limited to {limit.size} bytes by its "
                                f"{medium.fs_type or 'unknown'} file system", drive=str(dest), limit=limit.size)
        if self.config.chunk_size and self.config.chunk_size > medium.free - limits.reserve(1):
            self.report.warning("chunk-size-clamped",
                                f"--chunk-size {self.config.chunk_size} is more than {dest} can hold "
                                f"({medium.free} bytes free); its chunks are cut to fit", drive=str(dest))
        folder = dest / layout.folder_name(self.transfer_id)
        folder.mkdir(exist_ok=True)
        fsio.fsync_dir(dest)
        slot = _DriveSlot(ordinal=max((s.ordinal for s in self.slots), default=0) + 1, root=dest, folder=folder,
                          medium=medium, chunk_limit=limit.size)
        self.slots.append(slot)
        self.report.info("drive-opened", f"writing to {dest} ({medium.describe()}, {medium.free} bytes free)",
                         drive=str(dest), ordinal=slot.ordinal, medium=medium.to_dict())
        return slot

    def _next_slot(self, destinations) -> _DriveSlot:
        dest = next(destinations, None)
        while dest is None:
            dest = self._ask_for_drive()
            if dest is not None and not self._usable(dest):
                dest = None
        return self._open_slot(dest)

    def _ask_for_drive(self) -> Path | None:
        remaining = None if self.source.size is None else self.source.size - self.offset
        request = DriveRequest(len(self.slots) + 1, self.offset, remaining, [s.root for s in self.slots])
        answer = self.config.next_drive(request) if self.config.next_drive else None
        if answer is None:
            left = "the rest" if remaining is None else f"{remaining} bytes"
            again = ("run the same pack command with the next drive to resume" if self.source.seekable
                     else "run pack again with enough drives")
            raise IncompleteError(
                f"drive {request.ordinal} needed: {left} of {self.source.name} still to write "
                f"(transfer {self.transfer_id}, {len(self.chunks)} chunks on {len(self.slots)} drive(s) so far)",
                hint=again)
        return answer

    def _usable(self, dest: Path) -> bool:
        if not dest.is_dir() or not os.access(dest, os.W_OK):
            self.report.warning("drive-refused", f"{dest} is not a writable folder", drive=str(dest))
            return False
        device = dest.stat().st_dev
        if any(s.present and s.root.exists() and s.root.stat().st_dev == device for s in self.slots):
            self.report.warning("drive-refused", f"{dest} is on a drive already used for this transfer; "
                                "insert another drive",
                                drive=str(dest))
            return False
        return True

    def _write_all(self, fresh: list[Path]) -> None:
        """From the resume point on: gaps an earlier run left, then drives at once, then in turn."""
        destinations = iter(fresh)
        if self.gaps:
            self._write_fixed(self.gaps, destinations)
            self.gaps = []
        slot, destinations = self._spread(self.resume_slot, list(destinations))
        self._stream(slot, destinations)

    def _spread(self, slot: _DriveSlot | None, given: list[Path]):
        """Write the drives mounted now at once, each its share; returns (slot to go on with, destinations left)."""
        roots = ([slot.root] if slot else []) + given
        reason = preflight.why_in_turn(self.source, self.compression.encoding, roots, self.config.parallel)
        if reason is not None:
            if len(roots) > 1:
                self.report.info("drives-in-turn", f"filling the drives one after another: {reason}", reason=reason)
            return slot, iter(given)
        drives = ([planning.DrivePlan(str(slot.root), slot.medium.fs_type, fsio.free_space(slot.folder),
                                      slot.chunk_limit, block=fsio.block_size(slot.folder))] if slot else [])
        drives += preflight.drive_plans(given, self.config.chunk_size)
        unplaced = planning.spread(self.source.size - self.offset, drives, len(self.chunks))
        targets = [(t, plan) for t, plan in zip(([slot] if slot else []) + given, drives) if plan.chunks]
        if len(targets) < 2:
            return slot, iter(given)
        start, assignments = self.offset, []
        for target, plan in targets:
            opened = target if isinstance(target, _DriveSlot) else self._open_slot(target)
            assignments.append(Assignment(opened, []))
            for length in plan.chunks:
                assignments[-1].chunks.append(Planned(self.next_seq, self.offset, length))
                self.next_seq += 1
                self.offset += length
        slots = [a.slot for a in assignments]
        for opened in slots:  # so that even a drive pulled mid-way says which transfer it belongs to
            self._write_metadata(opened, self._build_index(final=False))
        self.report.info("drives-at-once", f"writing {len(slots)} drives at once", drives=[str(s.root) for s in slots],
                         bytes=[sum(p.length for p in a.chunks) for a in assignments])
        left_over = self._run_phase(assignments, hash_range=(start, self.offset))
        self.source.seek(self.offset)
        changed = self.source_identity.differences(journal.SourceIdentity.of(Path(self.config.source)))
        if changed:
            raise UsageError(f"{self.source.name} changed while it was packed ({', '.join(changed)} differ)",
                             hint="pack a source that is not being written to")
        rest = iter([d for d in given if d not in {s.root for s in slots}])
        for planned in left_over:
            self._place(planned, rest)
        if unplaced:  # more drives are needed: those written stay mounted for the final index
            for done in slots[:-1]:
                self._seal(done)
        return slots[-1], rest

    def _write_fixed(self, planned: list[Planned], destinations) -> None:
        """Chunks whose bytes and numbers are fixed: each back on the drive of the chunk before it."""
        groups: dict[int, Assignment] = {}
        homeless: list[Planned] = []
        for item in planned:
            home = self._home(item)
            if home is None:
                homeless.append(item)
            else:
                groups.setdefault(home.ordinal, Assignment(home, [])).chunks.append(item)
        homeless += self._run_phase(list(groups.values()))
        for item in sorted(homeless, key=lambda p: p.seq):
            self._place(item, destinations)

    def _home(self, planned: Planned) -> _DriveSlot | None:
        before = [c for c in self.chunks if c.seq < planned.seq]
        neighbour = before[-1] if before else next((c for c in self.chunks if c.seq > planned.seq), None)
        slot = self._slot(neighbour.drive) if neighbour else None
        if slot is None or not slot.present or slot.chunk_limit < planned.length:
            return None
        return slot

    def _place(self, planned: Planned, destinations) -> None:
        """A fixed chunk whose drive filled up: onto any drive with room for it, else the next one given."""
        while True:
            for slot in self.slots:
                if not slot.present or slot.ordinal in self.full or slot.chunk_limit < planned.length:
                    continue
                if slot.room(len(self.chunks)) >= planned.length:
                    if not self._run_phase([Assignment(slot, [planned])]):
                        return
            self._next_slot(destinations)

    def _run_phase(self, assignments: list[Assignment], hash_range: tuple[int, int] | None = None) -> list[Planned]:
        """Write planned chunks, one thread per drive; returns those whose drive filled up."""
        if not assignments:
            return []
        before = sum(c.length for c in self.chunks)
        where = (f"{len(assignments)} drives at once" if len(assignments) > 1 else str(assignments[0].slot.root))
        phase = parallel.Phase(self.source.stream.fileno(), assignments, transfer_id=self.transfer_id,
                               readback=self.config.readback, sha256=self.config.sha256, hash_range=hash_range,
                               whole=self.whole, after_chunk_written=self.config.after_chunk_written)
        try:
            full = phase.run(self._record_written, lambda done: self.report.progress(
                done=before + done, total=self.source.size, drive=where))
        finally:
            self.chunks.sort(key=lambda c: c.seq)
        for drive in full:
            self.full.add(drive.slot.ordinal)
            self.report.warning("drive-full", f"{drive.slot.root} filled up before its share; chunks "
                                f"{', '.join(str(p.seq) for p in drive.unwritten)} go to another drive",
                                drive=str(drive.slot.root), chunks=[p.seq for p in drive.unwritten])
        return [p for drive in full for p in drive.unwritten]

    def _record_written(self, written: parallel.Written) -> None:
        planned, stored, slot = written.planned, written.stored, written.slot
        chunk = Chunk(seq=planned.seq, offset=planned.offset, length=planned.length, blake3=stored.blake3,
                      file=written.file, drive=slot.ordinal, encoding="none", stored_length=stored.stored_length,
                      stored_blake3=stored.stored_blake3, sha256=stored.sha256)
        self.chunks.append(chunk)
        slot.files.append((written.file, stored.stored_blake3))
        self._proven(chunk)  # the writer read it back before handing it over
        self._save_journal()
        self.report.info("chunk-written", f"chunk {chunk.seq} ({chunk.length} bytes) written to {slot.root}"
                         + (" and read back" if self.config.readback else ""),
                         chunk=chunk.seq, length=chunk.length, blake3=chunk.blake3, sha256=chunk.sha256,
                         drive=str(slot.root), file=chunk.file, readback=self.config.readback,
                         stored_length=chunk.stored_length)

    def _stream(self, slot: _DriveSlot | None, destinations) -> None:
        """Fill one drive after another, reading the source in order."""
        slot = slot or self._next_slot(destinations)
        while True:
            remaining = None if self.source.size is None else self.source.size - self.offset
            if remaining == 0:
                return
            want = planning.next_chunk_length(slot.room(len(self.chunks)), slot.chunk_limit, remaining)
            if want == 0:
                slot = self._finish_drive(slot, destinations)
                continue
            chunk = self._write_chunk(slot, want)
            if chunk is None:
                if self.source.at_eof:
                    return
                slot = self._finish_drive(slot, destinations)  # ENOSPC: the chunk goes to the next drive
                continue
            if self.source.size is None and self.source.at_eof:
                return  # a compressed chunk may hold less than want: only EOF ends a stream

    def _finish_drive(self, slot: _DriveSlot, destinations) -> _DriveSlot:
        self._seal(slot)
        given = next(destinations, None)
        if given is not None:  # several drives mounted at once: this one stays for the final index
            return self._open_slot(given)
        fsio.sync_filesystem(slot.root)  # before anyone is told the drive may be removed
        slot.present = False  # and once told, it is never written again
        self.report.info("drive-safe-to-remove", f"{slot.root} ({slot.medium.display_name}) is synced "
                         "and can be removed", drive=str(slot.root), ordinal=slot.ordinal)
        return self._next_slot(destinations)

    def _write_chunk(self, slot: _DriveSlot, want: int) -> Chunk | None:
        seq = self.next_seq
        encoding, limit, stored_cap = self._chunk_plan(slot, want)
        name = layout.chunk_file_name(self.transfer_id, seq, encoding)
        final = slot.folder / name
        whole_before = self.whole.copy()
        start = self.source.tell()
        try:
            stored = chunk_io.write_chunk_file(
                final, self.source.readinto, limit, self.whole, self.ring, encoding, stored_cap,
                lambda done: self.report.progress(done=self.offset + done, total=self.source.size,
                                                  drive=str(slot.root), chunk=seq),
                self.compressor, sha256=self.config.sha256)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise DriveIOError(f"chunk {seq} could not be written to {slot.root}: {exc.strerror}",
                                   hint="check or replace the drive, then run the same pack command to resume") from None
            if not self.source.seekable:
                raise NoSpaceError(f"{slot.root} filled up in the middle of chunk {seq}",
                                   hint="pack from a file rather than stdin, or give a larger drive") from None
            self.source.seek(start)
            self.whole = whole_before
            self.report.warning("drive-full", f"{slot.root} filled up during chunk {seq}; moving it to the next drive",
                                drive=str(slot.root), chunk=seq)
            return None
        length, digest = stored.length, stored.blake3
        if length == 0:
            return None
        if self.config.after_chunk_written:
            self.config.after_chunk_written(final)
        chunk = Chunk(seq=seq, offset=self.offset, length=length, blake3=digest, file=name, drive=slot.ordinal,
                      encoding=stored.encoding, stored_length=stored.stored_length,
                      stored_blake3=stored.stored_blake3, sha256=stored.sha256)
        if self.readbacks is not None:  # proven while the next chunk is written; awaited before any index
            self.readbacks.submit(final, stored.stored_length, stored.stored_blake3,
                                  what=f"chunk {seq} on {slot.root}")  # first waits for the previous one
            self._proven(self.in_flight)
            self.in_flight = chunk
        else:
            self._proven(chunk)
        self.chunks.append(chunk)
        self.next_seq += 1
        slot.files.append((name, stored.stored_blake3))
        self.offset += length
        self._save_journal()
        self.report.info("chunk-written", f"chunk {seq} ({length} bytes) written to {slot.root}"
                         + (", being read back" if self.config.readback else ""),
                         chunk=seq, length=length, blake3=digest, sha256=stored.sha256, drive=str(slot.root),
                         file=name, readback=self.config.readback, stored_length=stored.stored_length)
        return chunk

    def _chunk_plan(self, slot: _DriveSlot, want: int) -> tuple[str, int, int]:
        """(encoding, plain bytes to take, most bytes the file may hold) for the next chunk.

        A zstd frame of incompressible data is slightly larger than its input,
        so a compressed chunk takes only as much plain data as its worst-case
        frame lets fit in the room (or --chunk-size).  Where that leaves too
        little, the chunk is stored plain: it then never exceeds ``want``.
        """
        if self.compression.encoding != "zstd":
            return "none", want, want
        cap = min(slot.room(len(self.chunks)), slot.chunk_limit)
        limit = min(want, compression.plain_limit(cap))
        if limit < min(want, planning.MIN_CHUNK):
            return "none", want, want
        return "zstd", limit, cap

    def _build_index(self, final: bool) -> Index:
        return Index(
            transfer_id=self.transfer_id, bundle_name=self.source.name,
            bundle_size=self.offset, bundle_blake3=self.whole.hexdigest() if final else None,
            bundle_sha256=self.whole.sha256_hexdigest() if final else None,
            created=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            tool=f"airgap-transfer {__version__}", signer=self.key.public_key().key_id_hex,
            final=final, kind=self.source.kind, readback=self.config.readback,
            compression=self.compression.recorded,
            chunks=sorted(self.chunks, key=lambda c: c.seq),
            drives=self._drives())

    def _drives(self) -> list[Drive]:
        return [Drive(ordinal=s.ordinal, label=s.medium.label or s.root.name or str(s.root),
                      fs_type=s.medium.fs_type, fs_uuid=s.medium.fs_uuid, serial=s.medium.serial)
                for s in self.slots]

    def _seal(self, slot: _DriveSlot) -> None:
        self._write_metadata(slot, self._build_index(final=False))
        self._save_journal()  # every read-back was awaited for the index: all chunks are proven now
        self.report.info("drive-sealed", f"{slot.root} is complete ({len(slot.files)} chunks)",
                         drive=str(slot.root), chunks=[n for n, _ in slot.files])

    def _wait_readbacks(self) -> None:
        if self.readbacks is not None:
            self.readbacks.wait()
        self._proven(self.in_flight)
        self.in_flight = None

    def _proven(self, chunk: Chunk | None) -> None:
        if chunk is not None:
            self.pending.append(chunk)

    def _write_metadata(self, slot: _DriveSlot, index: Index) -> None:
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
        sums = layout.b3sums_text(sorted(slot.files) + [(layout.INDEX_NAME, index_digest)])
        fsio.atomic_write_bytes(slot.folder / layout.B3SUMS_NAME, sums.encode())
        fsio.atomic_write_bytes(slot.folder / restore_note.NOTE_NAME, restore_note.restore_text(index).encode())


def pack(config: PackConfig, callback: Callback | None = None) -> PackResult:
    """Pack ``config.source`` onto ``config.destinations``; see PackConfig."""
    resumable = config.source != "-"
    again = "run the same pack command again to resume" if resumable else "run pack again"
    try:
        return _Packer(config, Reporter(callback)).run()
    except KeyboardInterrupt:
        raise Interrupted("interrupted; every chunk finished so far is kept", hint=again) from None
    except OSError as exc:  # metadata writes, source reads, a drive that vanished
        where = f"{exc.filename}: " if exc.filename else ""
        if exc.errno == errno.ENOSPC:
            raise NoSpaceError(f"{where}no space left", hint=f"free space, then {again}") from None
        raise DriveIOError(f"{where}{exc.strerror}", hint=f"check the drive and source, then {again}") from None
