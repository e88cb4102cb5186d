"""Pack's drives filled in turn: the source read in order, one chunk after another.

Each chunk is sized to the room left on the drive (``planning``), stored
plain or as a zstd frame, and read back while the next one is written.  A
drive that fills in the middle of a chunk (ENOSPC) sends that chunk to the
next drive.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from pathlib import Path

from airgap_transfer.engine.io import chunk_io, samples
from airgap_transfer.engine.pack import planning, sealing
from airgap_transfer.engine.pack.drives import Drives, DriveSlot
from airgap_transfer.engine.pack.ledger import Ledger
from airgap_transfer.engine.pack.state import PackRun, PackState
from airgap_transfer.errors import DriveIOError, NoSpaceError
from airgap_transfer.events import Kind
from airgap_transfer.format import layout
from airgap_transfer.format.index import Chunk


class InTurn:
    def __init__(self, run: PackRun, state: PackState, ledger: Ledger, drives: Drives) -> None:
        self.run, self.state, self.ledger, self.drives = run, state, ledger, drives

    def stream(self, slot: DriveSlot | None, destinations: Iterator[Path]) -> None:
        """Fill one drive after another, reading the source in order."""
        source, state = self.run.source, self.state
        slot = slot or self.drives.next_slot(destinations)
        while True:
            remaining = None if source.size is None else source.size - state.offset
            if remaining == 0:
                return
            want = planning.next_chunk_length(slot.room(len(state.chunks)), slot.chunk_limit, remaining)
            if want == 0:
                slot = self.drives.finish_drive(slot, destinations)
                continue
            chunk = self._write_chunk(slot, want)
            if chunk is None:
                if source.at_eof:
                    return
                slot = self.drives.finish_drive(slot, destinations)  # ENOSPC: the chunk goes to the next drive
                continue
            if source.size is None and source.at_eof:
                return  # a compressed chunk may hold less than want: only EOF ends a stream

    def _write_chunk(self, slot: DriveSlot, want: int) -> Chunk | None:
        run, state = self.run, self.state
        seq = state.next_seq
        encoding, limit, stored_cap = self._chunk_plan(slot, want)
        name = layout.chunk_file_name(state.transfer_id, seq, encoding)
        final = slot.folder / name
        whole_before = state.whole.copy()
        start = run.source.tell()
        try:
            stored = chunk_io.write_chunk_file(
                final, run.source.readinto, limit, state.whole, run.ring, encoding, stored_cap,
                lambda done: run.report.progress(done=state.offset + done, total=run.source.size,
                                                 drive=str(slot.root), chunk=seq),
                run.compressor, sha256=run.config.sha256,
                seal=run.sealing.start_sealer if run.sealing else None)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise DriveIOError(f"chunk {seq} could not be written to {slot.root}: {exc.strerror}",
                                   hint="check or replace the drive, then run the same pack command to resume",
                                   ) from None
            if not run.source.seekable:
                raise NoSpaceError(f"{slot.root} filled up in the middle of chunk {seq}",
                                   hint="pack from a file rather than stdin, or give a larger drive") from None
            run.source.seek(start)
            state.whole = whole_before
            run.report.warning(Kind.DRIVE_FULL,
                               f"{slot.root} filled up during chunk {seq}; moving it to the next drive",
                               drive=str(slot.root), chunk=seq)
            return None
        if stored.length == 0:
            return None
        if run.config.after_chunk_written:
            run.config.after_chunk_written(final)
        chunk = Chunk(seq=seq, offset=state.offset, length=stored.length, blake3=stored.blake3, file=name,
                      drive=slot.ordinal, encoding=stored.encoding, stored_length=stored.stored_length,
                      stored_blake3=stored.stored_blake3, sha256=stored.sha256)
        self._record(slot, chunk, final)
        return chunk

    def _record(self, slot: DriveSlot, chunk: Chunk, final: Path) -> None:
        """A written chunk: read back while the next one is written (awaited before any index), journalled."""
        run, state = self.run, self.state
        tap = samples.SampleTap(chunk.stored_length) if run.readbacks is not None else None
        self.ledger.expect_chunk(slot, chunk.file, tap)
        if run.readbacks is not None:
            run.readbacks.submit(final, chunk.stored_length, chunk.stored_blake3,
                                 what=f"chunk {chunk.seq} on {slot.root}", tap=tap)  # first waits for the previous
            self.ledger.hold(chunk)
        else:
            self.ledger.proven(chunk)
        state.chunks.append(chunk)
        state.next_seq += 1
        slot.files.append((chunk.file, chunk.stored_blake3))
        state.offset += chunk.length
        self.ledger.save_journal()
        self.ledger.chunk_written(chunk, slot, ", being read back")

    def _chunk_plan(self, slot: DriveSlot, want: int) -> tuple[str, int, int]:
        """(encoding, plain bytes to take, most bytes the file may hold) for the next chunk.

        A zstd frame of incompressible data is slightly larger than its input,
        so a compressed chunk takes only as much plain data as its worst-case
        frame lets fit in the room (or --chunk-size).  Where that leaves too
        little, the chunk is stored plain: it then never exceeds ``want``.
        """
        return sealing.chunk_plan(self.run.sealing, self.run.compression.encoding,
                                  slot.room(len(self.state.chunks)), slot.chunk_limit, want)
