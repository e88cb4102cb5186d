"""Parity written while the data drives are written at once, adopted if the data went as planned.

Drives written at once take their planned shares; stripe s is then known
before a byte is written (the s-th planned chunk of each drive), and the
chunks are plain slices of the source.  So the parity drives need not wait:
a thread encodes the planned stripes from the source while the data threads
write, and the parity drive is busy at the same time as the data drives
instead of after them.  Afterwards the chunks actually written must form
exactly the planned stripes, and every slice encoded must have the digest its
chunk was proven with; otherwise (a drive filled early and chunks moved, the
source changed, the thread failed) the parity files are removed and written
again by the ordinary phase.
"""

from __future__ import annotations

import threading

from airgap_transfer.engine.pack import parity_phase
from airgap_transfer.engine.pack.drives import DriveSlot
from airgap_transfer.engine.pack.source import Source
from airgap_transfer.engine.parity import stripes
from airgap_transfer.events import Event, Kind, Reporter
from airgap_transfer.format import layout
from airgap_transfer.format.index import Chunk
from airgap_transfer.format.parity import Parity

_ZERO = "0" * 64


def planned_chunks(shares: list[list[int]], first_ordinal: int, transfer_id: str) -> list[Chunk]:
    """The chunks drives written at once will hold: drive by drive, in order, as the packer numbers them."""
    chunks, seq, offset = [], 1, 0
    for position, lengths in enumerate(shares):
        for length in lengths:
            chunks.append(Chunk(seq=seq, offset=offset, length=length, blake3=_ZERO,
                                file=layout.chunk_file_name(transfer_id, seq), drive=first_ordinal + position))
            seq += 1
            offset += length
    return chunks


def _shape(chunks: list[Chunk]) -> list[list[tuple[int, int, int, int, str]]]:
    return [[(c.seq, c.offset, c.stored_length, c.drive, c.encoding) for c in stripe]
            for stripe in stripes.plan(chunks)]


class EarlyParity:
    def __init__(self, m: int, transfer_id: str, planned: list[Chunk], parity_slots: list[DriveSlot],
                 source: Source, readback: bool) -> None:
        self.planned, self.parity_slots = planned, parity_slots
        self.events: list[Event] = []
        self.stop = threading.Event()
        self.phase = parity_phase.ParityPhase(m, transfer_id, Reporter(self._keep), verify=False, stop=self.stop)
        self.inputs = parity_phase.ParityInputs(planned, {}, parity_slots, source, readback)
        self.result: Parity | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="agt-parity", daemon=True)
        self.thread.start()

    def _keep(self, event: Event) -> None:
        if event.level != "progress":  # shown once adopted, from the packer's thread
            self.events.append(event)

    def _run(self) -> None:
        try:
            self.result = self.phase.run(self.inputs)
        except BaseException as exc:  # the ordinary phase runs instead
            self.error = exc

    def cancel(self) -> None:
        self.stop.set()
        self.thread.join()

    def adopt(self, chunks: list[Chunk], report: Reporter) -> Parity | None:
        """The parity, if it matches the chunks written; else None, with its files removed."""
        self.thread.join()
        why = None
        if self.error is not None:
            why = f"it failed ({getattr(self.error, 'one_line', lambda: str(self.error))()})"
        elif _shape(chunks) != _shape(self.planned):
            why = "the chunks did not go where planned"
        elif any(self.phase.digests.get(c.seq) != c.stored_blake3 for c in chunks):
            why = "the source read for parity differs from the chunks written"
        if why is None:
            for event in self.events:
                report.callback(event)
            return self.result
        self.discard(report, why)
        return None

    def discard(self, report: Reporter, why: str) -> None:
        """Remove what the thread wrote; the ordinary phase writes the parity again."""
        self.thread.join()
        report.info(Kind.PARITY_REDONE, f"parity written alongside the data is written again: {why}", reason=why)
        for slot in self.parity_slots:
            for name, _ in slot.files:
                (slot.folder / name).unlink(missing_ok=True)
            slot.files.clear()
