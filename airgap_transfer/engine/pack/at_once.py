"""Pack's drives written at once: a share each, gaps refilled, chunks that did not fit placed.

The threads are in ``parallel``; this part plans the shares, opens the
drives, turns finished chunks into index entries and journal lines, and finds
another drive for a chunk whose drive filled up.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from pathlib import Path

from airgap_transfer import limits
from airgap_transfer.engine.pack import last_check, parallel, planning, preflight, sealing
from airgap_transfer.engine.pack.drives import Drives, DriveSlot
from airgap_transfer.engine.pack.ledger import Ledger
from airgap_transfer.engine.pack.parallel import Assignment, Planned
from airgap_transfer.engine.pack.state import PackRun, PackState
from airgap_transfer.events import Kind
from airgap_transfer.format.index import Chunk
from airgap_transfer.media import fsio

Targets = list[tuple[DriveSlot | Path, planning.DrivePlan]]


class AtOnce:
    def __init__(self, run: PackRun, state: PackState, ledger: Ledger, drives: Drives) -> None:
        self.run, self.state, self.ledger, self.drives = run, state, ledger, drives

    def spread(self, slot: DriveSlot | None, given: list[Path]) -> tuple[DriveSlot | None, Iterator[Path]]:
        """Write the drives mounted now at once, each its share; returns (slot to go on with, destinations left)."""
        planned = self._plan(slot, given)
        if planned is None:
            return slot, iter(given)
        targets, unplaced = planned
        state, report = self.state, self.run.report
        start = state.offset
        assignments = [self._assign(target, plan) for target, plan in targets]
        slots = [a.slot for a in assignments]
        for opened in slots:  # so that even a drive pulled mid-way says which transfer it belongs to
            self.ledger.write_metadata(opened, self.ledger.build_index(final=False))
        report.info(Kind.DRIVES_AT_ONCE, f"writing {len(slots)} drives at once",
                    drives=[str(s.root) for s in slots],
                    bytes=[sum(p.length for p in a.chunks) for a in assignments])
        left_over = self._run_phase(assignments, hash_range=(start, state.offset))
        self.run.source.seek(state.offset)
        rest = iter([d for d in given if d not in {s.root for s in slots}])
        self.place(left_over, rest)
        if unplaced:  # more drives are needed: those written stay mounted for the final index
            for done in slots[:-1]:
                self.ledger.seal(done)
        return slots[-1], rest

    def write_fixed(self, planned: list[Planned], destinations: Iterator[Path]) -> None:
        """Chunks whose bytes and numbers are fixed: each back on the drive of the chunk before it."""
        seqs = [c.seq for c in self.state.chunks]
        groups: dict[int, Assignment] = {}
        homeless: list[Planned] = []
        for item in planned:
            home = self._home(item, seqs)
            if home is None:
                homeless.append(item)
            else:
                groups.setdefault(home.ordinal, Assignment(home, [])).chunks.append(item)
        self.place(homeless + self._run_phase(list(groups.values())), destinations)

    def place(self, planned: list[Planned], destinations: Iterator[Path]) -> None:
        """Fixed chunks whose drive filled up: onto the drives with room for them, else the next one given."""
        left = sorted(planned, key=lambda p: p.seq)
        while left:
            assignments = []
            for slot in self.state.slots:
                if slot.present and slot.ordinal not in self.state.full:
                    batch = self._fitting(slot, left)
                    if batch:
                        assignments.append(Assignment(slot, batch))
                        taken = set(batch)
                        left = [p for p in left if p not in taken]
            if not assignments:
                self.drives.next_slot(destinations, need=left[0].length)
                continue
            left = sorted(left + self._run_phase(assignments), key=lambda p: p.seq)

    def _plan(self, slot: DriveSlot | None, given: list[Path]) -> tuple[Targets, int] | None:
        """([(drive or destination, its plan)], bytes they cannot hold), or None to fill them in turn."""
        run, state = self.run, self.state
        roots = ([slot.root] if slot else []) + given
        reason = preflight.why_in_turn(run.source, run.planned_encoding, roots, run.config.parallel)
        if reason is not None:
            if len(roots) > 1:
                run.report.info(Kind.DRIVES_IN_TURN, f"filling the drives one after another: {reason}",
                                reason=reason)
            return None
        assert run.source.size is not None  # why_in_turn: only a plain file of known size is shared
        drives = ([planning.DrivePlan(str(slot.root), slot.medium.fs_type, fsio.free_space(slot.folder),
                                      slot.chunk_limit, block=fsio.block_size(slot.folder))] if slot else [])
        drives += preflight.drive_plans(given, run.config.chunk_size)
        drives = [sealing.sealed_drive_plan(run.sealing, d) for d in drives]
        chosen = planning.plan_at_once(run.source.size - state.offset, drives, run.config.chunk_size,
                                       len(state.chunks))
        if chosen is None:
            run.report.info(Kind.DRIVES_IN_TURN, "filling the drives one after another: they hold more of the "
                            "bundle that way, or the rest is too small to share", reason="plan")
            return None
        targets: list[DriveSlot | Path] = [*([slot] if slot else []), *given]
        return ([(target, plan) for target, plan in zip(targets, chosen.drives, strict=False) if plan.chunks],
                chosen.unplaced)

    def _assign(self, target: DriveSlot | Path, plan: planning.DrivePlan) -> Assignment:
        """Open the drive and number its planned chunks, which follow those planned before."""
        state = self.state
        assignment = Assignment(target if isinstance(target, DriveSlot) else self.drives.open_slot(target), [])
        for length in plan.chunks:
            assignment.chunks.append(Planned(state.next_seq, state.offset, length))
            state.next_seq += 1
            state.offset += length
        return assignment

    def _home(self, planned: Planned, seqs: list[int]) -> DriveSlot | None:
        """The drive of the kept chunk before ``planned`` (or after it, for a gap at the start)."""
        chunks = self.state.chunks
        if not chunks:
            return None
        position = bisect.bisect_left(seqs, planned.seq)
        slot = self.state.slot(chunks[position - 1 if position else 0].drive)
        if slot is None or not slot.present or slot.chunk_limit < sealing.stored_size(self.run.sealing, planned.length):
            return None
        return slot

    def _fitting(self, slot: DriveSlot, candidates: list[Planned]) -> list[Planned]:
        room = slot.room(len(self.state.chunks))
        batch = []
        for item in candidates:
            stored = sealing.stored_size(self.run.sealing, item.length)
            cost = stored + limits.RESERVE_PER_CHUNK + fsio.block_size(slot.folder)
            if stored <= slot.chunk_limit and cost <= room:
                batch.append(item)
                room -= cost
        return batch

    def _run_phase(self, assignments: list[Assignment], hash_range: tuple[int, int] | None = None) -> list[Planned]:
        """Write planned chunks, one thread per drive; returns those whose drive filled up."""
        if not assignments:
            return []
        run, state = self.run, self.state
        before = sum(c.length for c in state.chunks)
        where = (f"{len(assignments)} drives at once" if len(assignments) > 1 else str(assignments[0].slot.root))
        phase = parallel.Phase(run.source.fileno(), assignments, transfer_id=state.transfer_id,
                               readback=run.config.readback, sha256=run.config.sha256, hash_range=hash_range,
                               whole=state.whole, after_chunk_written=run.config.after_chunk_written,
                               sealing=run.sealing)
        try:
            full = phase.run(self._record_written, lambda done: run.report.progress(
                done=before + done, total=run.source.size, drive=where))
        finally:
            state.chunks.sort(key=lambda c: c.seq)
        self.ledger.check_source()  # the writers and the whole-bundle hash read it at different times
        for drive in full:
            state.full.add(drive.slot.ordinal)
            run.report.warning(Kind.DRIVE_FULL, f"{drive.slot.root} filled up before its share; chunks "
                               f"{', '.join(str(p.seq) for p in drive.unwritten)} go to another drive",
                               drive=str(drive.slot.root), chunks=[p.seq for p in drive.unwritten])
        return [p for drive in full for p in drive.unwritten]

    def _record_written(self, written: parallel.Written) -> None:
        planned, stored, slot = written.planned, written.stored, written.slot
        chunk = Chunk(seq=planned.seq, offset=planned.offset, length=planned.length, blake3=stored.blake3,
                      file=written.file, drive=slot.ordinal, encoding=stored.encoding,
                      stored_length=stored.stored_length,
                      stored_blake3=stored.stored_blake3, sha256=stored.sha256)
        self.state.chunks.append(chunk)
        slot.files.append((written.file, stored.stored_blake3))
        self.ledger.expect_chunk(slot, written.file, last_check.kept_samples(written.samples, chunk.stored_blake3)
                                 if written.samples is not None else None)
        self.ledger.proven(chunk)  # the writer read it back before handing it over
        self.ledger.save_journal()
        self.ledger.chunk_written(chunk, slot, " and read back")
