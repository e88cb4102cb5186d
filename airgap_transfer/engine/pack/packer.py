"""Pack: stream a bundle once into verified chunk files across destinations.

One pass over the source through a small ring of reused buffers, reading,
hashing and writing overlapping (chunk_io, pipeline).  Each chunk is written
under a temporary name, fsynced, renamed, its folder fsynced, then read back
from the medium with the page cache dropped, while the next chunk is written.
Several drives mounted at once are written at once, each with its share
(AtOnce, parallel); drives that come later, or share a disk, are filled in
turn (InTurn).  With --parity, parity drives follow the data (ParityStep).
The Ledger journals what is proven and writes each drive's signed index
(partial when a drive is sealed early, final at the end).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import secrets
from dataclasses import replace
from pathlib import Path

from airgap_transfer import interrupts
from airgap_transfer.engine.io.digests import Digests
from airgap_transfer.engine.pack import preflight, resume, sealing
from airgap_transfer.engine.pack.at_once import AtOnce
from airgap_transfer.engine.pack.config import PackConfig, PackResult
from airgap_transfer.engine.pack.drives import DriveRequest, Drives, DriveSlot
from airgap_transfer.engine.pack.in_turn import InTurn
from airgap_transfer.engine.pack.ledger import Ledger
from airgap_transfer.engine.pack.parity_step import ParityStep
from airgap_transfer.engine.pack.source import open_source
from airgap_transfer.engine.pack.state import PackRun, PackState
from airgap_transfer.errors import DriveIOError, IntegrityError, Interrupted, NoSpaceError
from airgap_transfer.events import Callback, Kind, Reporter
from airgap_transfer.format.index import Index
from airgap_transfer.format.names import count_of, printable
from airgap_transfer.media import fsio
from airgap_transfer.state import guard, journal
from airgap_transfer.state import paths as state_paths
from airgap_transfer.state.journal import PackJournal
from airgap_transfer.trust import keys, minisign

__all__ = ["DriveRequest", "PackConfig", "PackResult", "pack"]


class _Packer:
    """One pack run from its resume point on: the phases share the run's state, nothing else."""

    def __init__(self, run: PackRun, found: PackJournal | None) -> None:
        self.run = run
        self.found = found
        self.state = PackState(transfer_id=found.transfer_id if found else secrets.token_hex(16),
                               whole=Digests(sha256=run.config.sha256))
        self.ledger = Ledger(run, self.state)
        self.drives = Drives(run, self.state, self.ledger)
        self.in_turn = InTurn(run, self.state, self.ledger, self.drives)
        self.at_once = AtOnce(run, self.state, self.ledger, self.drives)
        self.parity = ParityStep(run, self.state, self.drives)
        self.result: PackResult | None = None  # set once the journal says complete and all is recorded

    def run_pack(self) -> PackResult:
        run, state, config, source = self.run, self.state, self.run.config, self.run.source
        if self.found is None:
            _preflight(run)
        if source.renamed_because:
            run.report.warning(Kind.BUNDLE_RENAMED, f"{printable(source.original_name or '')} is recorded as "
                               f"{printable(source.name)} ({source.renamed_because}); the index keeps the "
                               "original name", original_name=source.original_name, name=source.name)
        run.report.info(Kind.PACK_STARTED, f"packing {source.name} as transfer {state.transfer_id}"
                        + (f", encrypted to {len(run.sealing.recipients)} recipient(s)" if run.sealing else ""),
                        transfer_id=state.transfer_id, size=source.size,
                        destinations=[str(d) for d in config.destinations],
                        **sealing.public_event_fields(run.sealing, source.name),
                        key_id=run.key_id, resumed=self.found is not None, compression=run.compression.recorded)
        resume_slot = self._restore(self.found) if self.found else None
        self.ledger.save_journal()  # from the start, so even a run killed in chunk 1 is resumed and cleaned
        used = {str(s.root.resolve()) for s in state.slots if s.present}
        early = None if self.found else self.parity.start_early()
        try:
            self._write_all(resume_slot, [d for d in run.data_destinations if str(d.resolve()) not in used])
        except BaseException:
            if early is not None:
                early.cancel()
            raise
        self.ledger.wait_readbacks()
        if source.size is not None and state.offset != source.size:
            raise IntegrityError(f"{source.name} changed size while it was read",
                                 hint="pack a source that is not being written to")
        self.ledger.check_source()
        if config.parity:
            self.ledger.parity_read_back(self.parity.write(early))
            self.ledger.check_source()
        return self._finish()

    def _finish(self) -> PackResult:
        run, state = self.run, self.state
        index = self.ledger.build_index(final=True)
        self._write_final_index(index)
        for slot in state.slots:  # before "packed": every drive still mounted passes its last check
            if slot.present:
                self.ledger.last_check(slot)
        # The journal saying "complete" and the result go together: a Ctrl-C between them would
        # report an interrupted pack whose re-run then starts a second transfer. It waits for the
        # few small writes of this tail (the journal, the custody log of each drive).
        with interrupts.held():
            self.ledger.save_journal(complete=True)
            run.report.info(Kind.PACK_FINISHED, f"{index.bundle_size} bytes in "
                            f"{count_of(len(state.chunks), 'chunk')} on {count_of(len(state.slots), 'drive')}, "
                            "every drive checked", transfer_id=state.transfer_id,
                            **sealing.public_event_fields(run.sealing, index.bundle_name, blake3=index.bundle_blake3,
                                                          sha256=index.bundle_sha256))
            self.result = PackResult(state.transfer_id, index.bundle_name, index.bundle_size,
                                     index.bundle_blake3 or "", run.key_id, state.chunks,
                                     [str(s.root) for s in state.slots], run.compression.recorded, run.config.parity,
                                     [str(s.root) for s in state.parity_slots],
                                     len(run.sealing.recipients) if run.sealing else 0)
        return self.result

    def _write_final_index(self, index: Index) -> None:
        """The last drive must get the final index; earlier ones still mounted get it if they can."""
        present = [slot for slot in self.state.slots if slot.present]
        for position, slot in enumerate(reversed(present)):
            try:
                self.ledger.write_metadata(slot, index)
                fsio.sync_filesystem(slot.root)
            except OSError as exc:
                if position == 0:
                    raise
                self.run.report.warning(Kind.FINAL_INDEX_SKIPPED, f"{slot.root} keeps its partial index "
                                        f"({exc.strerror}); the final index is on {present[-1].root}",
                                        drive=str(slot.root))

    def _restore(self, found: PackJournal) -> DriveSlot | None:
        """Take up what an earlier run proved; returns the drive to go on with, if it is mounted."""
        # Refilling a gap reads the source at its offset and stores it plain, as drives written at
        # once do; anything else redoes all after the first gap (compressed chunks hold more than
        # their plain room, a folder's tar stream is read in order).
        run, state, config, source = self.run, self.state, self.run.config, self.run.source
        point = resume.prove(found, config.destinations, run.buffer, run.report,
                             gaps_allowed=source.kind == "file" and run.compression.encoding == "none")
        state.chunks, state.offset, state.gaps = point.chunks, point.offset, point.gaps
        state.next_seq = state.chunks[-1].seq + 1 if state.chunks else 1
        state.whole = resume.rehash_prefix(source.stream, state.chunks, run.buffer, run.report,
                                           Digests(sha256=config.sha256))
        source.at_eof = False
        resume.remove_leftovers(state.transfer_id, config.destinations, {c.file for c in state.chunks}, run.report)
        present = resume.present_drives(found, config.destinations)
        holding = {c.drive for c in state.chunks}
        for saved in found.drives:
            if saved["ordinal"] not in holding:
                continue  # reopened as a new drive if it is given again
            slot = self.drives.saved_slot(saved, saved["ordinal"] in present)
            state.slots.append(slot)
            if slot.present:
                run.report.info(Kind.DRIVE_OPENED, f"continuing on {slot.root} ({slot.medium.describe()})",
                                drive=str(slot.root), ordinal=slot.ordinal, medium=slot.medium.to_dict(),
                                resumed=True)
        last = state.slot(state.chunks[-1].drive) if state.chunks else None
        return last if last is not None and last.present else None

    def _write_all(self, resume_slot: DriveSlot | None, fresh: list[Path]) -> None:
        """From the resume point on: gaps an earlier run left, then drives at once, then in turn."""
        destinations = iter(fresh)
        if self.state.gaps:
            self.at_once.write_fixed(self.state.gaps, destinations)
            self.state.gaps = []
        slot, rest = self.at_once.spread(resume_slot, list(destinations))
        self.in_turn.stream(slot, rest)


def _run(config: PackConfig, report: Reporter) -> PackResult:
    data, parity = preflight.split_parity(config)
    preflight.check_destinations(config.destinations)
    for dest in preflight.unmounted_drive_folders(config.destinations):
        report.warning(Kind.DEST_NOT_MOUNTED, f"{dest} is a plain folder: no drive is mounted there, so pack "
                       "writes to the disk it lies on; if a drive should be there, press Ctrl-C, mount it and run "
                       "the same command", drive=str(dest))
    with open_source(config.source, config.name) as source, contextlib.ExitStack() as held:
        if source.seekable:  # one run per journal: a second would delete the first one's fresh chunks
            held.enter_context(guard.lock(journal.pack_journal_path(Path(config.source)),
                                          f"a pack of {source.name}"))
        guard.check_room(state_paths.state_dir(), _chunk_estimate(source.size, config.chunk_size), "pack")
        key = keys.existing_signing_key(config.key_path)  # None: the default key is made below
        found = resume.find(config.source, key.public_key().key_id_hex if key else "(none yet)",
                            resume=config.resume, restart=config.restart, sha256=config.sha256,
                            readback=config.readback)
        earlier = resume.packed_before(config.source, config.destinations) if found is None else None
        if earlier is not None:
            report.warning(Kind.PACKED_BEFORE, f"{source.name} was packed completely before, as transfer "
                           f"{earlier[0]} on {', '.join(map(str, earlier[1]))}; this pack makes a second transfer "
                           "beside it (`status` tells them apart)", transfer_id=earlier[0],
                           drives=[str(d) for d in earlier[1]])
        keys_ = sealing.keys_for(config, found)
        run = PackRun.start(config, source, key or minisign.SecretKey.generate(), report, data, parity, keys_)
        if key is None:  # every check first: the default key is made only when it is about to be used
            if found is None:
                _preflight(run)
            run = dataclasses.replace(run, key=keys.create_default_key(report))
        packer = _Packer(run, found)
        try:
            return packer.run_pack()
        except KeyboardInterrupt:
            if packer.result is not None:  # it arrived while the finished pack was being recorded: all is done
                return packer.result
            raise


def _preflight(run: PackRun) -> None:
    """What can still fail before anything is written: chunk count, room for the data and the parity."""
    config, source = run.config, run.source
    preflight.check_chunk_count(source, config)
    preflight.check_space(source, replace(config, destinations=run.data_destinations), run.planned_encoding)
    preflight.check_parity_space(source, config, run.data_destinations, run.parity_destinations)


def _chunk_estimate(size: int | None, chunk_size: int | None) -> int | None:
    if size is None or not chunk_size:
        return None
    return -(-size // chunk_size)


def _drive_of(filename: object, destinations: list[Path]) -> Path | None:
    """The destination a failed path is on, so the message names the stick and not "the drive and source"."""
    if not filename:
        return None
    path = Path(str(filename))
    for dest in destinations:
        if path == dest or dest in path.parents:
            return dest
    return None


def pack(config: PackConfig, callback: Callback | None = None) -> PackResult:
    """Pack ``config.source`` onto ``config.destinations``; see PackConfig."""
    resumable = config.source != "-"
    again = "run the same pack command again to resume" if resumable else "run pack again"
    try:
        return _run(config, Reporter(callback))
    except KeyboardInterrupt:
        if not resumable:  # nothing can read stdin again: the chunks so far have no index and no future
            raise Interrupted("interrupted; a pack from stdin cannot be resumed, so the chunks it wrote are of no "
                              "use", hint="`status DRIVE` names the transfer it left without an index; delete "
                                          "that airgap-... folder, then run pack again") from None
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


