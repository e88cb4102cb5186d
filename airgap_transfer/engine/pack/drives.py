"""Pack's drives: opening a destination, asking for the next one, letting one go.

A ``DriveSlot`` is a destination being filled.  Ordinals are given in the
order drives are opened and never reused, so a drive that an earlier run
filled keeps its number when pack resumes.  ``Drives`` opens, refuses, asks
for and lets go of drives; the run's slots live in its PackState.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airgap_transfer import limits
from airgap_transfer.engine.pack import last_check, planning
from airgap_transfer.errors import IncompleteError
from airgap_transfer.events import Kind
from airgap_transfer.format import layout
from airgap_transfer.media import fsio, probe

if TYPE_CHECKING:  # state and ledger import DriveSlot from here
    from airgap_transfer.engine.pack.ledger import Ledger
    from airgap_transfer.engine.pack.state import PackRun, PackState


@dataclass
class DriveRequest:
    """What pack asks for when every destination given is full."""

    ordinal: int
    written: int
    remaining: int | None
    used: list[Path]
    need: int | None = None  # the drive must take a chunk of this many bytes (one that did not fit elsewhere)
    parity: int = 0          # > 0: a parity drive is wanted, and this many are still to come


@dataclass
class DriveSlot:
    """A destination being filled, and what has been written to it."""

    ordinal: int
    root: Path
    folder: Path
    medium: probe.Medium
    chunk_limit: int
    files: list[tuple[str, str]] = field(default_factory=list)  # (name, blake3)
    present: bool = True  # False: a drive of an earlier run that is not mounted now

    def room(self, chunks_so_far: int) -> int:
        return max(0, fsio.free_space(self.folder) - limits.reserve(chunks_so_far + 1))


class Drives:
    def __init__(self, run: PackRun, state: PackState, ledger: Ledger) -> None:
        self.run, self.state, self.ledger = run, state, ledger

    def saved_slot(self, saved: dict[str, Any], present: bool) -> DriveSlot:
        """The slot of a drive an earlier run wrote, from its journal record."""
        root = Path(saved["root"])
        medium = probe.describe(root) if present else probe.Medium(
            path=saved["root"], mount_point=None, device=None, fs_type=saved["fs_type"], capacity=0, free=0,
            label=saved["label"], fs_uuid=saved["fs_uuid"], serial=saved["serial"])
        files = [(c.file, c.stored_blake3) for c in self.state.chunks if c.drive == saved["ordinal"]]
        return DriveSlot(saved["ordinal"], root, root / layout.folder_name(self.state.transfer_id), medium,
                         planning.chunk_limit(self.run.config.chunk_size, medium.fs_type).size, files, present)

    def open_slot(self, dest: Path, ordinal: int | None = None) -> DriveSlot:
        """Open ``dest`` as the next drive; with ``ordinal``, as that drive, which the caller lists itself
        (parity drives are opened before the data drives but numbered after them)."""
        config, report = self.run.config, self.run.report
        medium = probe.describe(dest)
        limit = planning.chunk_limit(config.chunk_size, medium.fs_type)
        if limit.clamped:
            report.warning(Kind.CHUNK_SIZE_CLAMPED,
                           f"chunks on {dest} are limited to {limit.size} bytes by its "
                           f"{medium.fs_type or 'unknown'} file system", drive=str(dest), limit=limit.size)
        if config.chunk_size and config.chunk_size > medium.free - limits.reserve(1):
            report.warning(Kind.CHUNK_SIZE_CLAMPED,
                           f"--chunk-size {config.chunk_size} is more than {dest} can hold "
                           f"({medium.free} bytes free); its chunks are cut to fit", drive=str(dest))
        folder = dest / layout.folder_name(self.state.transfer_id)
        folder.mkdir(exist_ok=True)
        fsio.fsync_dir(dest)
        listed = ordinal is None
        ordinal = ordinal or max((s.ordinal for s in self.state.slots), default=0) + 1
        slot = DriveSlot(ordinal=ordinal, root=dest, folder=folder, medium=medium, chunk_limit=limit.size)
        if listed:
            self.state.slots.append(slot)
        report.info(Kind.DRIVE_OPENED, f"writing to {dest} ({medium.describe()}, {medium.free} bytes free)",
                    drive=str(dest), ordinal=slot.ordinal, medium=medium.to_dict())
        return slot

    def next_slot(self, destinations: Iterator[Path], need: int | None = None) -> DriveSlot:
        """The next destination given, else one asked for; with ``need``, one that takes a chunk that long."""
        while True:
            dest = next(destinations, None)
            if dest is None:
                dest = self.ask_for_drive(need)
                if not self.usable(dest):
                    continue
            if need is None or self._holds(dest, need):
                return self.open_slot(dest)

    def finish_drive(self, slot: DriveSlot, destinations: Iterator[Path]) -> DriveSlot:
        """Seal a full drive; the next one given stays mounted with it, else it may be removed."""
        self.ledger.seal(slot)
        given = next(destinations, None)
        if given is not None:  # several drives mounted at once: this one stays for the final index
            return self.open_slot(given)
        fsio.sync_filesystem(slot.root)  # before anyone is told the drive may be removed
        self.ledger.last_check(slot)  # a fake-capacity stick shows here: later chunks overwrote earlier ones
        slot.present = False  # and once told, it is never written again
        who = last_check.drive_words(slot.root, slot.medium.label)
        self.run.report.info(Kind.DRIVE_SAFE_TO_REMOVE, f"{who[0].upper()}{who[1:]} is synced, checked and can be "
                             "removed", drive=str(slot.root), ordinal=slot.ordinal)
        return self.next_slot(destinations)

    def _holds(self, dest: Path, need: int) -> bool:
        medium = probe.describe(dest)
        limit = planning.chunk_limit(self.run.config.chunk_size, medium.fs_type).size
        room = medium.free - limits.reserve(len(self.state.chunks) + 1) - fsio.block_size(dest)
        if limit >= need and room >= need:
            return True
        why = (f"its {medium.fs_type or 'unknown'} file system holds files of at most {limit} bytes" if limit < need
               else f"it has {max(room, 0)} bytes of room")
        self.run.report.warning(Kind.DRIVE_REFUSED, f"{dest} cannot take a chunk of {need} bytes: {why}",
                                drive=str(dest), need=need)
        return False

    def ask_for_drive(self, need: int | None = None, parity: int = 0) -> Path:
        """The next drive from the operator (config.next_drive), or exit 3 saying what is still to write."""
        source, state, config = self.run.source, self.state, self.run.config
        remaining = None if source.size is None else source.size - sum(c.length for c in state.chunks)
        request = DriveRequest(len(state.slots) + 1, state.offset, remaining, [s.root for s in state.slots], need,
                               parity)
        answer = config.next_drive(request) if config.next_drive else None
        if answer is None:
            left = "the rest" if remaining is None else f"{remaining} bytes"
            wanted = f"a drive with room for a {need}-byte chunk" if need else f"drive {request.ordinal}"
            if parity:
                wanted, left = f"{parity} more parity drive(s)", "its parity"
            again = ("run the same pack command with the next drive to resume" if source.seekable
                     else "run pack again with enough drives")
            raise IncompleteError(
                f"{wanted} needed: {left} of {source.name} still to write "
                f"(transfer {state.transfer_id}, {len(state.chunks)} chunks on {len(state.slots)} drive(s) so far)",
                hint=again)
        return answer

    def usable(self, dest: Path) -> bool:
        report = self.run.report
        if not dest.is_dir() or not os.access(dest, os.W_OK):
            report.warning(Kind.DRIVE_REFUSED, f"{dest} is not a writable folder", drive=str(dest))
            return False
        if (dest / layout.folder_name(self.state.transfer_id)).exists():  # typed again after it was let go
            held = next((s for s in self.state.slots if s.root == dest), None)
            which = f"drive {held.ordinal} of this transfer" if held else "a drive of this transfer"
            report.warning(Kind.DRIVE_REFUSED, f"{dest} is already {which} (it holds this transfer's folder); "
                           "insert the next, empty drive", drive=str(dest))
            return False
        source = self.run.source
        remaining = planning.MIN_CHUNK if source.size is None else source.size - self.state.offset
        room = fsio.free_space(dest) - limits.reserve(len(self.state.chunks) + 1) - fsio.block_size(dest)
        if room < min(planning.MIN_CHUNK, remaining):
            report.warning(Kind.DRIVE_REFUSED, f"{dest} is full ({fsio.free_space(dest)} bytes free); "
                           "insert a drive with room", drive=str(dest))
            return False
        device = dest.stat().st_dev
        if any(s.present and s.root.exists() and s.root.stat().st_dev == device for s in self.state.slots):
            report.warning(Kind.DRIVE_REFUSED, f"{dest} is on a drive already used for this transfer; "
                           "insert another drive", drive=str(dest))
            return False
        return True
