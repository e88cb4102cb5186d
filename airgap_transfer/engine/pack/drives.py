"""Pack's drives: opening a destination, asking for the next one, letting one go.

A ``DriveSlot`` is a destination being filled.  Ordinals are given in the
order drives are opened and never reused, so a drive that an earlier run
filled keeps its number when pack resumes.  The mixin reads and writes the
packer's ``slots``, ``chunks``, ``transfer_id``, ``config``, ``source`` and
``report``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airgap_transfer import limits
from airgap_transfer.engine.pack import last_check, planning
from airgap_transfer.errors import IncompleteError
from airgap_transfer.events import Kind
from airgap_transfer.format import layout
from airgap_transfer.media import fsio, probe


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


class DriveRotation:
    def _slot(self, ordinal: int) -> DriveSlot | None:
        return next((s for s in self.slots if s.ordinal == ordinal), None)

    def _saved_slot(self, saved: dict[str, Any], present: bool) -> DriveSlot:
        root = Path(saved["root"])
        medium = probe.describe(root) if present else probe.Medium(
            path=saved["root"], mount_point=None, device=None, fs_type=saved["fs_type"], capacity=0, free=0,
            label=saved["label"], fs_uuid=saved["fs_uuid"], serial=saved["serial"])
        files = [(c.file, c.stored_blake3) for c in self.chunks if c.drive == saved["ordinal"]]
        return DriveSlot(saved["ordinal"], root, root / layout.folder_name(self.transfer_id), medium,
                          planning.chunk_limit(self.config.chunk_size, medium.fs_type).size, files, present)

    def _open_slot(self, dest: Path, ordinal: int | None = None) -> DriveSlot:
        """Open ``dest`` as the next drive; with ``ordinal``, as that drive, which the caller lists itself
        (parity drives are opened before the data drives but numbered after them)."""
        medium = probe.describe(dest)
        limit = planning.chunk_limit(self.config.chunk_size, medium.fs_type)
        if limit.clamped:
            self.report.warning(Kind.CHUNK_SIZE_CLAMPED,
                                f"chunks on {dest} are limited to {limit.size} bytes by its "
                                f"{medium.fs_type or 'unknown'} file system", drive=str(dest), limit=limit.size)
        if self.config.chunk_size and self.config.chunk_size > medium.free - limits.reserve(1):
            self.report.warning(Kind.CHUNK_SIZE_CLAMPED,
                                f"--chunk-size {self.config.chunk_size} is more than {dest} can hold "
                                f"({medium.free} bytes free); its chunks are cut to fit", drive=str(dest))
        folder = dest / layout.folder_name(self.transfer_id)
        folder.mkdir(exist_ok=True)
        fsio.fsync_dir(dest)
        listed = ordinal is None
        ordinal = ordinal or max((s.ordinal for s in self.slots), default=0) + 1
        slot = DriveSlot(ordinal=ordinal, root=dest, folder=folder,
                          medium=medium, chunk_limit=limit.size)
        if listed:
            self.slots.append(slot)
        self.report.info(Kind.DRIVE_OPENED, f"writing to {dest} ({medium.describe()}, {medium.free} bytes free)",
                         drive=str(dest), ordinal=slot.ordinal, medium=medium.to_dict())
        return slot

    def _next_slot(self, destinations, need: int | None = None) -> DriveSlot:
        """The next destination given, else one asked for; with ``need``, one that takes a chunk that long."""
        while True:
            dest = next(destinations, None)
            if dest is None:
                dest = self._ask_for_drive(need)
                if not self._usable(dest):
                    continue
            if need is None or self._holds(dest, need):
                return self._open_slot(dest)

    def _holds(self, dest: Path, need: int) -> bool:
        medium = probe.describe(dest)
        limit = planning.chunk_limit(self.config.chunk_size, medium.fs_type).size
        room = medium.free - limits.reserve(len(self.chunks) + 1) - fsio.block_size(dest)
        if limit >= need and room >= need:
            return True
        why = (f"its {medium.fs_type or 'unknown'} file system holds files of at most {limit} bytes" if limit < need
               else f"it has {max(room, 0)} bytes of room")
        self.report.warning(Kind.DRIVE_REFUSED, f"{dest} cannot take a chunk of {need} bytes: {why}",
                            drive=str(dest), need=need)
        return False

    def _ask_for_drive(self, need: int | None = None, parity: int = 0) -> Path:
        remaining = None if self.source.size is None else self.source.size - sum(c.length for c in self.chunks)
        request = DriveRequest(len(self.slots) + 1, self.offset, remaining, [s.root for s in self.slots], need,
                               parity)
        answer = self.config.next_drive(request) if self.config.next_drive else None
        if answer is None:
            left = "the rest" if remaining is None else f"{remaining} bytes"
            wanted = f"a drive with room for a {need}-byte chunk" if need else f"drive {request.ordinal}"
            if parity:
                wanted, left = f"{parity} more parity drive(s)", "its parity"
            again = ("run the same pack command with the next drive to resume" if self.source.seekable
                     else "run pack again with enough drives")
            raise IncompleteError(
                f"{wanted} needed: {left} of {self.source.name} still to write "
                f"(transfer {self.transfer_id}, {len(self.chunks)} chunks on {len(self.slots)} drive(s) so far)",
                hint=again)
        return answer

    def _usable(self, dest: Path) -> bool:
        if not dest.is_dir() or not os.access(dest, os.W_OK):
            self.report.warning(Kind.DRIVE_REFUSED, f"{dest} is not a writable folder", drive=str(dest))
            return False
        if (dest / layout.folder_name(self.transfer_id)).exists():  # typed again after it was let go
            held = next((s for s in self.slots if s.root == dest), None)
            which = f"drive {held.ordinal} of this transfer" if held else "a drive of this transfer"
            self.report.warning(Kind.DRIVE_REFUSED, f"{dest} is already {which} (it holds this transfer's folder); "
                                "insert the next, empty drive", drive=str(dest))
            return False
        room = fsio.free_space(dest) - limits.reserve(len(self.chunks) + 1) - fsio.block_size(dest)
        if room < min(planning.MIN_CHUNK, self.source.size - self.offset if self.source.size is not None
                      else planning.MIN_CHUNK):
            self.report.warning(Kind.DRIVE_REFUSED, f"{dest} is full ({fsio.free_space(dest)} bytes free); "
                                "insert a drive with room", drive=str(dest))
            return False
        device = dest.stat().st_dev
        if any(s.present and s.root.exists() and s.root.stat().st_dev == device for s in self.slots):
            self.report.warning(Kind.DRIVE_REFUSED, f"{dest} is on a drive already used for this transfer; "
                                "insert another drive",
                                drive=str(dest))
            return False
        return True

    def _finish_drive(self, slot: DriveSlot, destinations) -> DriveSlot:
        self._seal(slot)
        given = next(destinations, None)
        if given is not None:  # several drives mounted at once: this one stays for the final index
            return self._open_slot(given)
        fsio.sync_filesystem(slot.root)  # before anyone is told the drive may be removed
        self._last_check(slot)  # a fake-capacity stick shows here: later chunks overwrote earlier ones
        slot.present = False  # and once told, it is never written again
        who = last_check.drive_words(slot.root, slot.medium.label)
        self.report.info(Kind.DRIVE_SAFE_TO_REMOVE, f"{who[0].upper()}{who[1:]} is synced, checked and can be removed",
                         drive=str(slot.root), ordinal=slot.ordinal)
        return self._next_slot(destinations)
