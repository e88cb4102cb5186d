"""Rollback protection: the receiver remembers every transfer it accepted.

A drive cannot prove that its index is the newest one, so the receiver keeps
its own record in the state folder (one JSON line per accepted transfer:
transfer id, signer key id, bundle name, the index's creation time, when it
was accepted).  The rules, checked after the signature and before any write:

* an index for the same bundle name and signer that was created *before* one
  already accepted is a rollback: refused with exit 5 unless
  ``--allow-rollback`` (which the custody log then records).  This holds
  whether or not the transfer id was seen before: accepting v1, then v2, then
  inserting v1's drive again is a rollback like any other;
* the same transfer id received again, with nothing newer accepted since, is
  allowed and noted;
* a transfer id already accepted under another name or signer is refused
  (exit 5), always: a transfer id names exactly one bundle.

``--force`` has nothing to do with these rules: it only replaces an output.

Appends take an exclusive ``flock`` so two unpacks never interleave a line.
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from airgap_transfer import limits
from airgap_transfer.errors import TrustError
from airgap_transfer.events import Kind, Reporter
from airgap_transfer.format.fields import CREATED_FORMAT
from airgap_transfer.format.index import Index
from airgap_transfer.format.names import printable
from airgap_transfer.state import paths

STORE_NAME = "accepted-transfers.jsonl"
FIELDS = ("transfer_id", "signer", "bundle_name", "created", "accepted_at")


@dataclass(frozen=True)
class Accepted:
    transfer_id: str
    signer: str
    bundle_name: str
    created: str
    accepted_at: str

    @property
    def created_at(self) -> datetime:
        return _parse_time(self.created)


def store_path() -> Path:
    return paths.state_dir() / STORE_NAME


def _parse_time(text: str) -> datetime:
    return datetime.strptime(text, CREATED_FORMAT).replace(tzinfo=UTC)


def _now() -> str:
    return datetime.now(UTC).strftime(CREATED_FORMAT)


def _parse_line(line: str) -> Accepted | None:
    if len(line) > limits.MAX_REPLAY_LINE_CHARS:
        return None
    try:
        raw = json.loads(line)
        if not isinstance(raw, dict) or set(raw) != set(FIELDS):
            return None
        if not all(isinstance(raw[name], str) for name in FIELDS):
            return None
        record = Accepted(**raw)
        record.created_at  # noqa: B018  (validates the date)
        return record
    except (ValueError, TypeError):
        return None


def load(report: Reporter | None = None) -> list[Accepted]:
    """Every well-formed record; a damaged line is reported and skipped."""
    path = store_path()
    try:
        with open(path, "rb") as handle:
            # Ask for what the file holds, not the limit: read(n) allocates n bytes first.
            data = handle.read(min(os.fstat(handle.fileno()).st_size, limits.MAX_REPLAY_RECORD_BYTES) + 1)
            if len(data) <= limits.MAX_REPLAY_RECORD_BYTES:  # it grew since fstat
                data += handle.read(limits.MAX_REPLAY_RECORD_BYTES + 1 - len(data))
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise TrustError(f"cannot read the accepted-transfers record {path}: {exc.strerror}",
                         hint="fix the state folder's permissions; rollback protection needs it") from None
    if len(data) > limits.MAX_REPLAY_RECORD_BYTES:
        raise TrustError(f"accepted-transfers record {path} is over {limits.MAX_REPLAY_RECORD_BYTES} bytes",
                         hint="archive it and start a new one; rollback protection needs it")
    records = []
    for number, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        record = _parse_line(line)
        if record is None:
            if report:
                report.warning(Kind.REPLAY_RECORD_DAMAGED, f"{path} line {number} is damaged; ignored",
                               path=str(path), line=number)
            continue
        records.append(record)
    return records


@dataclass(frozen=True)
class Rollback:
    """An older index accepted with --allow-rollback: what it rolled back from (for custody)."""

    created: str
    newer_transfer: str
    newer_created: str
    newer_accepted_at: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass
class Verdict:
    seen_before: list[Accepted]
    rollback: Rollback | None = None


def check(index: Index, signer: str, allow_rollback: bool, report: Reporter) -> Verdict:
    """Apply the rules above; raise TrustError, or warn when ``allow_rollback`` overrides a rollback."""
    records = load(report)
    same = [r for r in records if r.transfer_id == index.transfer_id]
    for record in same:
        if record.signer != signer or record.bundle_name != index.bundle_name:
            raise TrustError(
                f"transfer {index.transfer_id} was accepted on {record.accepted_at} as "
                f"{printable(record.bundle_name)} signed by {record.signer}; this index says "
                f"{printable(index.bundle_name)} signed by {signer}",
                hint="a transfer id names exactly one bundle; ask the sender to pack it again")
    verdict = Verdict(same)
    created = _parse_time(index.created)
    newer = [r for r in records if r.signer == signer and r.bundle_name == index.bundle_name
             and r.transfer_id != index.transfer_id and r.created_at > created]
    if newer:
        newest = max(newer, key=lambda r: r.created_at)
        detail = (f"rollback: this index of {printable(index.bundle_name)} was created {index.created}, "
                  f"older than transfer {newest.transfer_id} created {newest.created} and accepted "
                  f"{newest.accepted_at}")
        if not allow_rollback:
            raise TrustError(detail, hint="if the older bundle is really wanted, run again with --allow-rollback "
                                          "(the custody log records it)")
        report.warning(Kind.ROLLBACK_ALLOWED, f"{detail}; accepted because of --allow-rollback",
                       created=index.created, newer_transfer=newest.transfer_id, newer_created=newest.created)
        verdict.rollback = Rollback(index.created, newest.transfer_id, newest.created, newest.accepted_at)
    if same:
        report.info(Kind.TRANSFER_SEEN_BEFORE,
                    f"transfer {index.transfer_id} was already accepted on {same[-1].accepted_at}; "
                    "receiving it again", transfer_id=index.transfer_id, accepted_at=same[-1].accepted_at)
    return verdict


def record(index: Index, signer: str) -> Accepted:
    """Append one record (created mode 0600), fsynced, under an exclusive lock."""
    entry = Accepted(index.transfer_id, signer, index.bundle_name, index.created, _now())
    path = store_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    line = json.dumps(asdict(entry), ensure_ascii=True) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, line.encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    return entry


def remember(index: Index, signer: str, report: Reporter) -> None:
    """``record`` after a successful unpack; the output is already proven, so failing only warns."""
    try:
        record(index, signer)
    except OSError as exc:
        report.warning(Kind.REPLAY_RECORD_FAILED, f"could not record transfer {index.transfer_id} as "
                       f"accepted ({exc.strerror}); rollback protection will not know it",
                       path=str(store_path()))
