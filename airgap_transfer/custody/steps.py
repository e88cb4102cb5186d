"""Custody steps that are commands of their own: a recorded ``verify``, and a ``handover``.

Each wraps an engine step (the catalogue of transfers, verify) with the events
it leaves in the local custody log and, for a handover, on the drives.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airgap_transfer import limits
from airgap_transfer.custody import chain as custody
from airgap_transfer.custody import coverage
from airgap_transfer.custody.local_log import add_local_head, continue_chain, folders_of, write_local
from airgap_transfer.custody.media_identity import media_identity
from airgap_transfer.custody.recorder import Actor, new_event
from airgap_transfer.engine.unpack import catalog, inspect
from airgap_transfer.errors import AirgapError, DriveIOError, IntegrityError, UsageError
from airgap_transfer.events import Callback, Kind, Reporter
from airgap_transfer.trust import keys


def record_verify(sources: list[Path], transfer_id: str, actor: Actor, report: Reporter,
                  counts: dict[str, int], result: str, problem: str | None = None,
                  trust: list[str] | None = None) -> None:
    """A `verify` run, ok or failed, appended to the local log only."""
    events = continue_chain(transfer_id, sources, report, keys.custody_keys(trust or []))
    drives = sorted({str(f.drive_root) for f in folders_of(sources, transfer_id)})
    event = new_event("verified", transfer_id, actor, result, details={"counts": counts, "problem": problem},
                      drives=[media_identity(Path(d)) for d in drives])
    custody.chain(events, event)
    write_local(events)


def verify_recorded(config: inspect.InspectConfig, actor: Actor, callback: Callback) -> inspect.Survey:
    """inspect.verify, with its outcome (good or failed) appended to the local log."""
    try:
        result = inspect.verify(config, callback)
    except AirgapError as exc:
        record_verify_failure(config.sources, config.transfer_id, actor, exc, callback, config.trust)
        raise
    record_verify(config.sources, result.transfer_id, actor, Reporter(callback), result.counts(),
                  "ok" if result.complete else "incomplete", trust=config.trust)
    return result


def record_verify_failure(sources: list[Path], transfer_id: str | None, actor: Actor,
                          error: AirgapError, callback: Callback, trust: list[str] | None = None) -> None:
    """A failed `verify`, when the transfer can still be named; never masks the failure."""
    try:
        transfer = catalog.find_transfer(sources, transfer_id, Reporter(None))
        record_verify(sources, transfer.transfer_id, actor, Reporter(callback), {}, "failed", error.one_line(),
                      trust)
    except (AirgapError, OSError):
        pass


@dataclass
class HandoverConfig:
    sources: list[Path]
    from_name: str
    to_name: str
    seal: str | None = None
    purpose: str | None = None
    location: str | None = None
    transfer_id: str | None = None
    key_path: Path | None = None
    actor: Actor = field(default_factory=Actor)
    trust: list[str] = field(default_factory=list)   # keys whose custody heads count, beyond the store


def _check_writable(drive: Path, folder: Path) -> None:
    try:
        read_only = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError as exc:
        raise DriveIOError(f"drive {drive} cannot be read ({exc.strerror})",
                           hint="check the drive, then run the same command again") from None
    if read_only or not os.access(folder, os.W_OK):
        why = "is mounted read-only" if read_only else "is not writable"
        raise UsageError(f"drive {drive} {why}: the handover is recorded on every drive, so nothing was recorded",
                         hint="remount it read-write (or slide its write-protect switch off), "
                              "then run the same command again")


def handover(config: HandoverConfig, callback: Callback | None = None) -> dict[str, Any]:
    """Append a handover to the drives' logs and the local log; re-sign each drive's head."""
    report = Reporter(callback)
    transfer = catalog.find_transfer(config.sources, config.transfer_id, report)
    trusted = keys.custody_keys(config.trust)
    copies = [coverage.strict(coverage.read_drive_copy(folder, trusted))  # never extend or launder
              for folder in transfer.folders]                            # a log nobody trusted signed
    forked = coverage.forks([c.events for c in copies])
    if forked:
        raise IntegrityError(f"the drives' custody logs fork at event {forked[0]}",
                             hint="hand over the drives whose logs agree separately; report shows both branches")
    for folder in transfer.folders:  # all drives writable, or nothing is recorded anywhere
        _check_writable(folder.drive_root, folder.path)
    key = keys.load_signing_key(config.key_path, report)
    events = continue_chain(transfer.transfer_id, config.sources, report, trusted)
    drives = sorted({str(f.drive_root) for f in transfer.folders})
    handed = {"from": config.from_name, "to": config.to_name, "seal": config.seal,
              "purpose": config.purpose, "location": config.location}
    event = new_event("handover", transfer.transfer_id, config.actor,
                      handover={k: v[:limits.MAX_FIELD_CHARS] for k, v in handed.items() if v},
                      signer=key.public_key().key_id_hex,
                      drives=[media_identity(Path(d)) for d in drives])
    custody.chain(events, event)
    for folder in transfer.folders:
        try:
            text = custody.write_log(folder.path, events, key)
        except OSError as exc:
            raise DriveIOError(f"the handover could not be written to drive {folder.drive_root} ({exc.strerror})",
                               hint="check the drive, then run the same command again to record it on "
                                    "every drive") from None
        if text is not None:
            add_local_head(transfer.transfer_id, text)
    write_local(events)
    report.info(Kind.CUSTODY_HANDOVER, f"handover {config.from_name} -> {config.to_name} recorded "
                f"as event {event['seq']} on {len(transfer.folders)} drive(s)",
                transfer_id=transfer.transfer_id, seq=event["seq"], hash=custody.event_hash(event))
    return {"transfer_id": transfer.transfer_id, "seq": event["seq"], "hash": custody.event_hash(event),
            "signer": key.public_key().key_id_hex, "drives": drives}
