"""This host's custody log of a transfer, and the chain that new events extend.

The local log (read, replaced, appended to, set aside when damaged) and its
signed heads live in the state folder.  A run continues the longest chain
among that log and what the drives' logs hold under a trusted signature;
a drive's copy that does not verify is a warning, never fatal, and a fork
never drops this host's own events.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from airgap_transfer import limits
from airgap_transfer.custody import chain as custody
from airgap_transfer.custody import coverage
from airgap_transfer.errors import AirgapError, FormatError, IntegrityError, TrustError
from airgap_transfer.events import Kind, Reporter
from airgap_transfer.format import layout
from airgap_transfer.media import fsio
from airgap_transfer.state import paths
from airgap_transfer.trust import keys, minisign


def local_log_path(transfer_id: str) -> Path:
    return paths.state_dir() / "custody" / f"{transfer_id}.jsonl"


def local_heads_path(transfer_id: str) -> Path:
    return paths.state_dir() / "custody" / f"{transfer_id}.heads"


@dataclass
class Adopted:
    """What the drives' logs gave: the covered prefixes, their signatures, and the copies refused."""

    logs: list[list[dict[str, Any]]] = field(default_factory=list)
    heads: list[str] = field(default_factory=list)
    refused: list[dict[str, str]] = field(default_factory=list)


def adopt_drive_logs(folders: list[layout.TransferFolder], trusted: list[minisign.PublicKey],
                     report: Reporter) -> Adopted:
    """From each drive, only the events a trusted signature covers; a bad copy is a warning, not fatal."""
    adopted = Adopted()
    for folder in folders:
        try:
            copy = coverage.read_drive_copy(folder, trusted)
        except (FormatError, IntegrityError, TrustError) as exc:
            report.warning(Kind.CUSTODY_LOG_IGNORED, f"custody log on {folder.drive_root} not adopted: "
                           f"{exc.one_line()}", drive=str(folder.drive_root))
            adopted.refused.append({"drive": str(folder.drive_root)[:limits.MAX_FIELD_CHARS],
                                    "problem": exc.detail[:limits.MAX_FIELD_CHARS]})
            continue
        problem = copy.uncovered_problem()
        if problem is not None:
            which = (f"only events 1 to {copy.covered} adopted" if copy.covered
                     else "none of its events adopted")
            report.warning(Kind.CUSTODY_EVENTS_IGNORED, f"custody log on {folder.drive_root}: {which}: "
                           f"{problem.one_line()}", drive=str(folder.drive_root))
            adopted.refused.append({"drive": str(folder.drive_root)[:limits.MAX_FIELD_CHARS],
                                    "problem": problem.detail[:limits.MAX_FIELD_CHARS]})
        adopted.logs.append(copy.events[:copy.covered])
        adopted.heads.extend(copy.trusted_texts)
    return adopted


def load_local_log(transfer_id: str) -> list[dict[str, Any]]:
    path = local_log_path(transfer_id)
    events = custody.read_log(path)
    custody.check_chain(events, transfer_id, str(path))
    return events


def _set_aside(transfer_id: str, error: AirgapError, report: Reporter) -> list[dict[str, Any]]:
    """Keep a damaged local log as evidence under another name, and start from the drives."""
    path = local_log_path(transfer_id)
    kept = path.with_name(f"{path.name}.damaged-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}")
    os.replace(path, kept)
    report.warning(Kind.CUSTODY_LOCAL_DAMAGED, f"this host's custody log was damaged ({error.detail}); "
                   f"kept as {kept}, continuing from the drives' logs", kept=str(kept))
    return []


def write_local(events: list[dict[str, Any]]) -> None:
    """Replace the local log with ``events`` (a chain that extends what it held)."""
    path = local_log_path(events[0]["transfer_id"])
    path.parent.mkdir(parents=True, exist_ok=True)
    fsio.atomic_write_bytes(path, custody.render_log(events))


def append_local(event: dict[str, Any]) -> None:
    """Add one event to the local log: one line, fsynced, no rewrite of what is there."""
    fd = os.open(local_log_path(event["transfer_id"]), os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW)
    try:
        os.write(fd, custody.canonical(event) + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)


def folders_of(sources: list[Path], transfer_id: str) -> list[layout.TransferFolder]:
    return [f for f in layout.discover(sources) if f.transfer_id == transfer_id]


def continue_chain(transfer_id: str, sources: list[Path], report: Reporter,
                   trusted: list[minisign.PublicKey] | None = None) -> list[dict[str, Any]]:
    """The longest chain among the local log and what the drives' signatures cover: what new events extend."""
    return continue_with_adopted(transfer_id, sources, report, trusted)[0]


def continue_with_adopted(transfer_id: str, sources: list[Path], report: Reporter,
              trusted: list[minisign.PublicKey] | None) -> tuple[list[dict[str, Any]], Adopted]:
    trusted = keys.custody_keys([]) if trusted is None else trusted
    adopted = adopt_drive_logs(folders_of(sources, transfer_id), trusted, report) if sources else Adopted()
    try:
        local = load_local_log(transfer_id)
    except (FormatError, IntegrityError) as exc:
        local = _set_aside(transfer_id, exc, report)
    merged = custody.merge([local, *adopted.logs])
    forked = custody.forks(custody.merge(adopted.logs))
    if forked:
        report.warning(Kind.CUSTODY_FORK, f"the drives' custody logs fork at event {forked[0]}: they were signed "
                       "apart; continuing the longest", transfer_id=transfer_id, seq=forked[0])
    longest = custody.tip(merged)
    if local and custody.event_hash(local[-1]) not in {custody.event_hash(e) for e in longest}:
        # The drives grew apart from this host's log (a fork): never drop local events.
        report.warning(Kind.CUSTODY_FORK, f"the drives' custody logs fork from this host's at event "
                       f"{local[-1]['seq']}; continuing this host's log", transfer_id=transfer_id)
        longest = local
    reached = {custody.event_hash(e) for e in longest}
    for text in adopted.heads:  # keep the signatures of what was adopted, for the local report
        head = custody.HEAD_COMMENT_RE.fullmatch(minisign.Signature.from_text(text).trusted_comment)
        if head and head.group(3) in reached:
            add_local_head(transfer_id, text)
    return longest, adopted


def add_local_head(transfer_id: str, text: str) -> None:
    custody.add_head(local_heads_path(transfer_id), text)
