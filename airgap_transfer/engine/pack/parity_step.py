"""Pack's parity drives (--parity N): opened, numbered after the data drives, and filled.

When every parity drive is given and the data drives are written at once,
the parity is encoded alongside the data (``parity_early``) and adopted if
the chunks went as planned; otherwise, or after that, ``parity_phase`` reads
every stripe back and writes the parity once the data is on the drives.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airgap_transfer.engine.pack import planning, preflight
from airgap_transfer.engine.pack.drives import Drives
from airgap_transfer.engine.pack.state import PackRun, PackState
from airgap_transfer.events import Kind

if TYPE_CHECKING:
    from airgap_transfer.engine.io.samples import SampleTap
    from airgap_transfer.engine.pack import parity_early


class ParityStep:
    def __init__(self, run: PackRun, state: PackState, drives: Drives) -> None:
        self.run, self.state, self.drives = run, state, drives

    def start_early(self) -> parity_early.EarlyParity | None:
        """With every parity drive given and the data drives written at once: parity alongside the data."""
        run, state, config = self.run, self.state, self.run.config
        source = run.source
        if not config.parity or len(run.parity_destinations) != config.parity or source.size is None:
            return None
        # Parity covers the chunks as stored; early parity encodes plain slices of the source, so it is
        # right only while stored means plain: compressed or encrypted chunks are known once written.
        if run.planned_encoding != "none":
            return None
        if preflight.why_in_turn(source, run.planned_encoding, run.data_destinations,
                                 config.parallel) is not None:
            return None
        chosen = planning.plan_at_once(source.size - state.offset,
                                       preflight.drive_plans(run.data_destinations, config.chunk_size),
                                       config.chunk_size, len(state.chunks))  # the plan AtOnce will make
        if chosen is None or chosen.unplaced:
            return None
        from airgap_transfer.engine.pack import parity_early  # numpy's import only when parity is asked for

        shares = [plan.chunks for plan in chosen.drives if plan.chunks]
        first = max((s.ordinal for s in state.slots), default=0) + 1
        # Numbered after the data drives they will follow, but listed only once those are open.
        self._open_slots(first + len(shares))
        planned = parity_early.planned_chunks(shares, first, state.transfer_id)
        return parity_early.EarlyParity(config.parity, state.transfer_id, planned, state.parity_slots, source,
                                        config.readback)

    def write(self, early: parity_early.EarlyParity | None) -> dict[str, SampleTap]:
        """The parity of every stripe on the parity drives: adopted from ``early``, else written now.

        Returns each parity file's samples as read back, for its drive's last check.
        """
        from airgap_transfer.engine.pack import parity_phase  # numpy's import only when parity is asked for

        run, state = self.run, self.state
        if early is not None:
            renumbered = [s.ordinal for s in state.parity_slots]
            self._list_slots()
            if renumbered == [s.ordinal for s in state.parity_slots]:
                state.parity = early.adopt(state.chunks, run.report)
            else:
                early.discard(run.report, "more data drives were needed than planned")
            if state.parity is not None:
                return early.phase.samples
        parity_phase.ParityPhase.check_readable(state.chunks, {s.ordinal: s for s in state.slots}, run.source)
        self._open_slots()
        phase = parity_phase.ParityPhase(run.config.parity, state.transfer_id, run.report)
        state.parity = phase.run(parity_phase.ParityInputs(
            state.chunks, {s.ordinal: s for s in state.slots}, state.parity_slots, run.source, run.config.readback))
        return phase.samples

    def _open_slots(self, first_ordinal: int | None = None) -> None:
        """The parity drives: those reserved among the DESTs given, then any asked for."""
        run, state, m = self.run, self.state, self.run.config.parity
        data_devices = {s.root.stat().st_dev for s in state.slots if s.present and s.root.exists()}
        data_devices |= {d.stat().st_dev for d in run.data_destinations if d.exists()}
        reserved = iter(run.parity_destinations)
        while len(state.parity_slots) < m:
            dest = next(reserved, None)
            if dest is None:
                dest = self.drives.ask_for_drive(parity=m - len(state.parity_slots))
                if not self.drives.usable(dest):
                    continue
            elif dest.stat().st_dev in data_devices:
                run.report.warning(Kind.PARITY_SAME_DRIVE, f"{dest} is on a drive that holds data of this "
                                   "transfer: losing that drive loses data and parity together", drive=str(dest))
            ordinal = None if first_ordinal is None else first_ordinal + len(state.parity_slots)
            state.parity_slots.append(self.drives.open_slot(dest, ordinal))

    def _list_slots(self) -> None:
        """Parity drives opened early join the drive list after the data drives, renumbered if those grew."""
        state = self.state
        unlisted = [s for s in state.parity_slots if s not in state.slots]
        if not unlisted:
            return
        top = max((s.ordinal for s in state.slots), default=0)
        if min(s.ordinal for s in unlisted) <= top:  # more data drives than planned: the early parity is redone
            for position, slot in enumerate(unlisted, start=1):
                slot.ordinal = top + position
        state.slots.extend(unlisted)
