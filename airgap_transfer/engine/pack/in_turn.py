"""Pack's drives filled in turn: the source read in order, one chunk after another.

Each chunk is sized to the room left on the drive (``planning``), stored
plain or as a zstd frame, and read back while the next one is written.  A
drive that fills in the middle of a chunk (ENOSPC) sends that chunk to the
next drive.  A mixin of the packer.
"""

from __future__ import annotations

import errno

from airgap_transfer.engine.io import chunk_io, compression, samples
from airgap_transfer.engine.pack import planning
from airgap_transfer.engine.pack.drives import DriveSlot
from airgap_transfer.errors import DriveIOError, NoSpaceError
from airgap_transfer.events import Kind
from airgap_transfer.format import layout
from airgap_transfer.format.index import Chunk


class InTurn:
    def _stream(self, slot: DriveSlot | None, destinations) -> None:
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

    def _write_chunk(self, slot: DriveSlot, want: int) -> Chunk | None:
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
                                   hint="check or replace the drive, then run the same pack command to resume",
                                   ) from None
            if not self.source.seekable:
                raise NoSpaceError(f"{slot.root} filled up in the middle of chunk {seq}",
                                   hint="pack from a file rather than stdin, or give a larger drive") from None
            self.source.seek(start)
            self.whole = whole_before
            self.report.warning(Kind.DRIVE_FULL,
                                f"{slot.root} filled up during chunk {seq}; moving it to the next drive",
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
        tap = samples.SampleTap(stored.stored_length) if self.readbacks is not None else None
        self._expect(slot, final, f"chunk {seq}", stored.stored_length, stored.stored_blake3, tap)
        if self.readbacks is not None:  # proven while the next chunk is written; awaited before any index
            self.readbacks.submit(final, stored.stored_length, stored.stored_blake3,
                                  what=f"chunk {seq} on {slot.root}", tap=tap)  # first waits for the previous one
            self._proven(self.in_flight)
            self.in_flight = chunk
        else:
            self._proven(chunk)
        self.chunks.append(chunk)
        self.next_seq += 1
        slot.files.append((name, stored.stored_blake3))
        self.offset += length
        self._save_journal()
        self.report.info(Kind.CHUNK_WRITTEN, f"chunk {seq} ({length} bytes) written to {slot.root}"
                         + (", being read back" if self.config.readback else ""),
                         chunk=seq, length=length, blake3=digest, sha256=stored.sha256, drive=str(slot.root),
                         file=name, readback=self.config.readback, stored_length=stored.stored_length)
        return chunk

    def _chunk_plan(self, slot: DriveSlot, want: int) -> tuple[str, int, int]:
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
