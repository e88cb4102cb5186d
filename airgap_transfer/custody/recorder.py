"""Recording custody: events from pack/unpack/verify, handovers, media identity.

The engine already tells its caller what it does through Events; ``Recorder``
sits in that callback chain and turns the ones that matter for custody into
chained log events.  Pack's logs go to every drive (with a signed head) and to
the local state folder; verify and unpack write only to the local state folder,
so a write-blocked source drive stays untouched.  A handover writes both.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from airgap_transfer import __version__, interrupts, limits
from airgap_transfer.custody import chain as custody
from airgap_transfer.custody import chunk_sets, local_log
from airgap_transfer.custody.media_identity import media_identity
from airgap_transfer.errors import AirgapError
from airgap_transfer.events import Callback, Event, Kind, Reporter, ignore
from airgap_transfer.format import layout
from airgap_transfer.trust import keys, minisign


@dataclass
class Actor:
    """Who acts: the login user, and optionally a named operator and their title."""

    operator: str | None = None
    title: str | None = None

    def to_dict(self) -> dict[str, str]:
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = str(os.getuid())
        found = {"user": user, "operator": self.operator, "title": self.title}
        return {k: v[:limits.MAX_FIELD_CHARS] for k, v in found.items() if v}


def _now() -> tuple[str, str, str]:
    now = datetime.now(UTC)
    local = now.astimezone()
    return (now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), local.isoformat(timespec="seconds"),
            local.tzname() or "")


def new_event(kind: str, transfer_id: str, actor: Actor, result: str = "ok", **fields: Any) -> dict[str, Any]:
    """An event with the fields every event carries; ``seq``/``prev`` come from custody.chain."""
    utc, local, tzname = _now()
    event = {"v": custody.FORMAT_VERSION, "type": kind, "time": utc, "local_time": local, "tz": tzname,
             "actor": actor.to_dict(), "host": socket.gethostname()[:limits.MAX_FIELD_CHARS],
             "tool": f"airgap-transfer {__version__}", "transfer_id": transfer_id, "result": result}
    event.update({k: v for k, v in fields.items() if v not in (None, {}, [])})
    return event


@dataclass
class Recorder:
    """An Event callback that records custody events, then forwards every event."""

    forward: Callback = ignore
    actor: Actor = field(default_factory=Actor)
    key_path: Path | None = None            # pack: the key that signs drive heads
    sources: list[Path] = field(default_factory=list)   # unpack: drives whose logs to continue
    trust: list[str] = field(default_factory=list)      # unpack: --trust keys (also count for custody heads)
    events: list[dict[str, Any]] = field(default_factory=list)
    transfer_id: str | None = None
    drives: dict[str, Path] = field(default_factory=dict)  # drive root -> transfer folder
    _media: dict[str, dict[str, Any]] = field(default_factory=dict)
    _key: minisign.SecretKey | None = None
    operation: str = ""
    _local_in_step: bool = False   # the local file holds exactly self.events
    _lock: threading.Lock = field(default_factory=threading.Lock)  # drives may be written in parallel
    _groups: chunk_sets.Grouper = field(default_factory=chunk_sets.Grouper)  # many chunks, few events
    _read_back: bool | None = None
    # pack: drives the operator was told may be removed (never written again: they may be coming out)
    # and the DESTs given on the command line (an earlier run's drive is brought up to date only there)
    _released: set[str] = field(default_factory=set)
    _given: set[str] = field(default_factory=set)

    @contextlib.contextmanager
    def failures(self) -> Iterator[Recorder]:
        """Record a failed pack/unpack (its one-line reason) before the error goes on."""
        try:
            yield self
        except (AirgapError, KeyboardInterrupt) as exc:
            if self.transfer_id and self.events:
                reason = exc.one_line() if isinstance(exc, AirgapError) else "interrupted"
                try:
                    with self._lock:
                        self._flush_groups()
                    self.record(f"{self.operation}-failed", result="failed", details={"problem": reason})
                except (AirgapError, OSError):
                    pass  # the original error matters more than its record
            raise

    def __call__(self, event: Event) -> None:
        self.forward(event)
        handler = _HANDLERS.get(event.kind)
        if handler is not None and (self.transfer_id or event.kind in _STARTS):
            with self._lock:
                handler(self, event.data)

    def record(self, kind: str, result: str = "ok", **fields: Any) -> dict[str, Any]:
        with interrupts.held():  # the chain in memory and the log on disk must not part
            event = custody.chain(self.events, new_event(kind, self._transfer(), self.actor, result, **fields))
            if self._local_in_step:
                local_log.append_local(event)
            else:  # the first write of a run: the chain may have grown from the drives' logs
                local_log.write_local(self.events)
                self._local_in_step = True
        return event

    def _transfer(self) -> str:
        """The transfer being recorded; handlers run only once a ``*-started`` event named it."""
        if self.transfer_id is None:
            raise AssertionError("a custody record before the transfer is known")
        return self.transfer_id

    def media(self, drive: str) -> dict[str, Any]:
        """Media identity of a drive, asked once per drive per run (psutil walks every mount)."""
        if drive not in self._media:
            self._media[drive] = media_identity(Path(drive))
        return self._media[drive]

    # pack ------------------------------------------------------------------------------
    def _on_pack_started(self, data: dict[str, Any]) -> None:
        self.transfer_id, self.operation = data["transfer_id"], "pack"
        self._given = {os.path.abspath(d) for d in data.get("destinations") or []}
        self.events = local_log.load_local_log(self.transfer_id)
        self.record("pack-started", bundle=data.get("bundle"), size=data.get("size"), signer=data.get("key_id"),
                    details={"resumed": True} if data.get("resumed") else None)

    def _on_drive_opened(self, data: dict[str, Any]) -> None:
        root = data["drive"]
        self.drives[root] = Path(root) / layout.folder_name(self._transfer())
        if isinstance(data.get("medium"), dict):  # pack already probed the drive (media.py): reuse it
            self._media[root] = {**_json_scalars(data["medium"]), "path": os.path.abspath(root)}

    def _on_chunk_written(self, data: dict[str, Any]) -> None:
        details = {"file": data.get("file"), "length": data.get("length"), "read_back": data.get("readback")}
        self._read_back = data.get("readback")
        if self._groups.single():
            self.record("chunk-written", chunks=[data["chunk"]], media=self.media(data["drive"]),
                        digests=_digests(data), details=details)
            return
        group = self._groups.add(data["drive"], data["chunk"], data.get("blake3", ""), data.get("length") or 0)
        if group is not None:
            self._record_group("chunk-written", data["drive"], group)

    def _record_group(self, kind: str, drive: str, group: chunk_sets.Group) -> None:
        details = {"read_back": self._read_back} if kind == "chunk-written" else {}
        self.record(kind, media=self.media(drive), **chunk_sets.group_fields(group, details))

    def _flush_groups(self, drive: str | None = None) -> None:
        """Record chunks still waiting in a group: before a drive is sealed, at the end, on failure."""
        for where, group in self._groups.take(drive):
            self._record_group("chunk-written" if self.operation == "pack" else "chunk-verified", where, group)

    def _on_parity_written(self, data: dict[str, Any]) -> None:
        for drive, name, digest in zip(data["drives"], data["files"], data["blake3"], strict=False):
            self.record("parity-written", chunks=list(data["chunks"]), media=self.media(drive),
                        digests={"blake3": digest},
                        details={"file": name, "stripe": data.get("stripe"), "length": data.get("length")})

    def _on_drive_released(self, data: dict[str, Any]) -> None:
        self._released.add(os.path.abspath(data["drive"]))

    def _on_drive_sealed(self, data: dict[str, Any]) -> None:
        self._flush_groups(data["drive"])
        self._drive_finished(data["drive"])
        self._write_drive(data["drive"])

    def _written_on(self, path: str | None = None) -> list[list[int]]:
        """Chunks the log says were written (to the drive at ``path``, or anywhere), as ranges."""
        return chunk_sets.union(span for e in self.events if e["type"] == "chunk-written"
                                and (path is None or e.get("media", {}).get("path") == path)
                                for span in chunk_sets.event_ranges(e))

    def _drive_finished(self, drive: str) -> None:
        self.record("drive-finished", media=self.media(drive),
                    **chunk_sets.fields(self._written_on(self.media(drive)["path"])))

    def _on_pack_finished(self, data: dict[str, Any]) -> None:
        self._flush_groups()
        sealed = {e.get("media", {}).get("path") for e in self.events if e["type"] == "drive-finished"}
        for drive in self.drives:
            if self.media(drive)["path"] not in sealed:
                self._drive_finished(drive)
        self.record("packed", digests=_digests(data),
                    **chunk_sets.fields(self._written_on(), {"drives": list(self.drives)}))
        for drive in self.drives:
            if os.path.abspath(drive) not in self._released:
                self._write_drive(drive)
        self._write_earlier_drives()

    def _write_earlier_drives(self) -> None:
        """A resumed pack also brings the log up to date on drives an earlier run filled, given again as DEST.

        Only there: a drive an earlier run called safe to remove that merely
        happens to be mounted may be on its way out.
        """
        written = {self.media(d)["path"] for d in self.drives}
        for event in self.events:
            path = event.get("media", {}).get("path") if event["type"] == "drive-finished" else None
            if not isinstance(path, str) or path in written or path not in self._given or path in self._released:
                continue
            folder = Path(path) / layout.folder_name(self._transfer())
            if folder.is_dir() and not folder.is_symlink():
                written.add(path)
                self.drives[path] = folder
                self._write_drive(path)

    def _write_drive(self, drive: str) -> None:
        if self._key is None:
            self._key = keys.load_signing_key(self.key_path, Reporter(None))
        try:
            text = custody.write_log(self.drives[drive], self.events, self._key)
            if text is not None:
                local_log.add_local_head(self._transfer(), text)
        except OSError as exc:
            self.forward(Event(Kind.CUSTODY_WRITE_FAILED, f"custody log not written to {drive}: {exc.strerror}",
                               {"drive": drive}, level="warning"))

    # unpack ----------------------------------------------------------------------------
    def _on_unpack_started(self, data: dict[str, Any]) -> None:
        self.transfer_id, self.operation = data["transfer_id"], "unpack"
        self.events, adopted = local_log.continue_with_adopted(self.transfer_id, self.sources, Reporter(self.forward),
                                         keys.custody_keys(self.trust))
        drives = sorted({str(f.drive_root) for f in local_log.folders_of(self.sources, self.transfer_id)})
        self.record("received", details={"output": data.get("output"), "size": data.get("size"),
                                         "index_signer": data.get("key_id"), "trusted": data.get("trusted"),
                                         "rollback_allowed": data.get("rollback"),
                                         "custody_not_adopted": adopted.refused or None},
                    signer=data.get("key_id"), drives=[self.media(d) for d in drives])

    def _on_chunk_verified(self, data: dict[str, Any]) -> None:
        if self._groups.single():
            self.record("chunk-verified", chunks=[data["chunk"]], digests=_digests(data),
                        media=self.media(data["drive"]))
            return
        group = self._groups.add(data["drive"], data["chunk"], data.get("blake3", ""), data.get("length") or 0)
        if group is not None:
            self._record_group("chunk-verified", data["drive"], group)

    def _on_chunk_rebuilt(self, data: dict[str, Any]) -> None:
        self.record("chunk-rebuilt", chunks=[data["chunk"]], digests=_digests(data),
                    details={"stripe": data.get("stripe"), "from": "parity"})

    def _on_unpack_finished(self, data: dict[str, Any]) -> None:
        self._flush_groups()
        self.record("bundle-proven", digests=_digests(data))
        self.record("output-written", details={"output": data.get("output")}, digests=_digests(data))


# The engine events that become custody records; every other kind is only forwarded.
_HANDLERS: dict[Kind, Callable[[Recorder, dict[str, Any]], None]] = {
    Kind.PACK_STARTED: Recorder._on_pack_started,
    Kind.DRIVE_OPENED: Recorder._on_drive_opened,
    Kind.CHUNK_WRITTEN: Recorder._on_chunk_written,
    Kind.PARITY_WRITTEN: Recorder._on_parity_written,
    Kind.DRIVE_SEALED: Recorder._on_drive_sealed,
    Kind.DRIVE_SAFE_TO_REMOVE: Recorder._on_drive_released,
    Kind.PACK_FINISHED: Recorder._on_pack_finished,
    Kind.UNPACK_STARTED: Recorder._on_unpack_started,
    Kind.CHUNK_VERIFIED: Recorder._on_chunk_verified,
    Kind.CHUNK_REBUILT: Recorder._on_chunk_rebuilt,
    Kind.UNPACK_FINISHED: Recorder._on_unpack_finished,
}
# Kinds that name the transfer: handled before any transfer is known.
_STARTS = frozenset({Kind.PACK_STARTED, Kind.UNPACK_STARTED})


def _json_scalars(data: dict[str, Any]) -> dict[str, Any]:
    """The str/int/bool fields of a dict, as a custody event may hold them (no floats, no None)."""
    return {str(k)[:64]: (v[:limits.MAX_FIELD_CHARS] if isinstance(v, str) else v) for k, v in data.items()
            if isinstance(v, (str, int, bool)) and v != ""}


def _digests(data: dict[str, Any]) -> dict[str, str]:
    return {alg: data[alg] for alg in ("blake3", "sha256") if data.get(alg)}
