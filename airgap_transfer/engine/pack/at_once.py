"""Pack's drives written at once: a share each, gaps refilled, chunks that did not fit placed.

The threads are in ``parallel``; this part plans the shares, opens the
drives, turns finished chunks into index entries and journal lines, and finds
another drive for a chunk whose drive filled up.  A mixin of the packer.
"""

from __future__ import annotations

import bisect
from pathlib import Path

from airgap_transfer import limits
from airgap_transfer.engine.pack import parallel, planning, preflight
from airgap_transfer.engine.pack.drives import DriveSlot
from airgap_transfer.engine.pack.parallel import Assignment, Planned
from airgap_transfer.events import Kind
from airgap_transfer.format.index import Chunk
from airgap_transfer.media import fsio


class AtOnce:
    def _spread(self, slot: DriveSlot | None, given: list[Path]):
        """Write the drives mounted now at once, each its share; returns (slot to go on with, destinations left)."""
        planned = self._plan_at_once(slot, given)
        if planned is None:
            return slot, iter(given)
        targets, unplaced = planned
        start = self.offset
        assignments = [self._assign(target, plan) for target, plan in targets]
        slots = [a.slot for a in assignments]
        for opened in slots:  # so that even a drive pulled mid-way says which transfer it belongs to
            self._write_metadata(opened, self._build_index(final=False))
        self.report.info(Kind.DRIVES_AT_ONCE, f"writing {len(slots)} drives at once",
                         drives=[str(s.root) for s in slots],
                         bytes=[sum(p.length for p in a.chunks) for a in assignments])
        left_over = self._run_phase(assignments, hash_range=(start, self.offset))
        self.source.seek(self.offset)
        rest = iter([d for d in given if d not in {s.root for s in slots}])
        self._place(left_over, rest)
        if unplaced:  # more drives are needed: those written stay mounted for the final index
            for done in slots[:-1]:
                self._seal(done)
        return slots[-1], rest

    def _plan_at_once(self, slot: DriveSlot | None, given: list[Path]):
        """([(drive or destination, its plan)], bytes they cannot hold), or None to fill them in turn."""
        roots = ([slot.root] if slot else []) + given
        reason = preflight.why_in_turn(self.source, self.compression.encoding, roots, self.config.parallel)
        if reason is not None:
            if len(roots) > 1:
                self.report.info(Kind.DRIVES_IN_TURN, f"filling the drives one after another: {reason}", reason=reason)
            return None
        drives = ([planning.DrivePlan(str(slot.root), slot.medium.fs_type, fsio.free_space(slot.folder),
                                      slot.chunk_limit, block=fsio.block_size(slot.folder))] if slot else [])
        drives += preflight.drive_plans(given, self.config.chunk_size)
        chosen = planning.plan_at_once(self.source.size - self.offset, drives, self.config.chunk_size,
                                       len(self.chunks))
        if chosen is None:
            self.report.info(Kind.DRIVES_IN_TURN, "filling the drives one after another: they hold more of the "
                             "bundle that way, or the rest is too small to share", reason="plan")
            return None
        roots = [*([slot] if slot else []), *given]
        targets = [(target, plan) for target, plan in zip(roots, chosen.drives, strict=False)
                   if plan.chunks]
        return targets, chosen.unplaced

    def _assign(self, target: DriveSlot | Path, plan: planning.DrivePlan) -> Assignment:
        """Open the drive and number its planned chunks, which follow those planned before."""
        assignment = Assignment(target if isinstance(target, DriveSlot) else self._open_slot(target), [])
        for length in plan.chunks:
            assignment.chunks.append(Planned(self.next_seq, self.offset, length))
            self.next_seq += 1
            self.offset += length
        return assignment

    def _write_fixed(self, planned: list[Planned], destinations) -> None:
        """Chunks whose bytes and numbers are fixed: each back on the drive of the chunk before it."""
        seqs = [c.seq for c in self.chunks]
        groups: dict[int, Assignment] = {}
        homeless: list[Planned] = []
        for item in planned:
            home = self._home(item, seqs)
            if home is None:
                homeless.append(item)
            else:
                groups.setdefault(home.ordinal, Assignment(home, [])).chunks.append(item)
        self._place(homeless + self._run_phase(list(groups.values())), destinations)

    def _home(self, planned: Planned, seqs: list[int]) -> DriveSlot | None:
        """The drive of the kept chunk before ``planned`` (or after it, for a gap at the start)."""
        if not self.chunks:
            return None
        position = bisect.bisect_left(seqs, planned.seq)
        slot = self._slot(self.chunks[position - 1 if position else 0].drive)
        if slot is None or not slot.present or slot.chunk_limit < planned.length:
            return None
        return slot

    def _place(self, planned: list[Planned], destinations) -> None:
        """Fixed chunks whose drive filled up: onto the drives with room for them, else the next one given."""
        left = sorted(planned, key=lambda p: p.seq)
        while left:
            assignments = []
            for slot in self.slots:
                if slot.present and slot.ordinal not in self.full:
                    batch = self._fitting(slot, left)
                    if batch:
                        assignments.append(Assignment(slot, batch))
                        taken = set(batch)
                        left = [p for p in left if p not in taken]
            if not assignments:
                self._next_slot(destinations, need=left[0].length)
                continue
            left = sorted(left + self._run_phase(assignments), key=lambda p: p.seq)

    def _fitting(self, slot: DriveSlot, candidates: list[Planned]) -> list[Planned]:
        room = slot.room(len(self.chunks))
        batch = []
        for item in candidates:
            cost = item.length + limits.RESERVE_PER_CHUNK + fsio.block_size(slot.folder)
            if item.length <= slot.chunk_limit and cost <= room:
                batch.append(item)
                room -= cost
        return batch

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
        self._check_source()  # the writers and the whole-bundle hash read it at different times
        for drive in full:
            self.full.add(drive.slot.ordinal)
            self.report.warning(Kind.DRIVE_FULL, f"{drive.slot.root} filled up before its share; chunks "
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
        self._expect(slot, slot.folder / written.file, f"chunk {chunk.seq}", stored.stored_length,
                     stored.stored_blake3, written.samples)
        self._proven(chunk)  # the writer read it back before handing it over
        self._save_journal()
        self.report.info(Kind.CHUNK_WRITTEN, f"chunk {chunk.seq} ({chunk.length} bytes) written to {slot.root}"
                         + (" and read back" if self.config.readback else ""),
                         chunk=chunk.seq, length=chunk.length, blake3=chunk.blake3, sha256=chunk.sha256,
                         drive=str(slot.root), file=chunk.file, readback=self.config.readback,
                         stored_length=chunk.stored_length)
