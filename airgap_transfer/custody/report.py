"""The custody report: gather every copy of the log, verify it, export it.

A report comes from drives (SOURCE: every drive's log and signed head, the
signed index for the summary) and the local state folder, or from the local
state alone (TRANSFER_ID).  Each copy of the log is checked on its own (chain,
then signed head); the timeline is the union of the good copies by event hash.
Exports: complete JSON, CSV (one row per event), printable HTML, and an in-toto
v1 Statement in a DSSE envelope signed with Ed25519.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from airgap_transfer import __version__
from airgap_transfer.custody import chain as custody
from airgap_transfer.custody import (
    chunk_sets,
    coverage,
    local_log,
    recorder,
    report_file,
    report_formats,
)
from airgap_transfer.engine.unpack import catalog
from airgap_transfer.errors import (
    AirgapError,
    FormatError,
    IntegrityError,
    TrustError,
    UsageError,
)
from airgap_transfer.events import Callback, Kind, Reporter
from airgap_transfer.format.index import Index
from airgap_transfer.format.layout import TransferFolder
from airgap_transfer.limits import CUSTODY_CHUNK_LIST
from airgap_transfer.state import paths
from airgap_transfer.trust import keys, minisign

REPORT_FORMAT = 1
FORMATS = ("json", "csv", "html", "intoto")
TRANSFER_PREFIX_RE = re.compile(r"[0-9a-f]{4,32}")


@dataclass
class ReportConfig:
    source: str                      # a drive / folder of drives, or a transfer id (prefix)
    trust: list[str] = field(default_factory=list)
    transfer_id: str | None = None
    key_path: Path | None = None     # signs the in-toto envelope
    actor: recorder.Actor = field(default_factory=recorder.Actor)


@dataclass
class Check:
    """One copy of the log and what verifying it found."""

    where: str
    events: int
    chain: str = "ok"
    head: str = "not applicable"
    error: AirgapError | None = None
    signatures: list[dict[str, Any]] = field(default_factory=list)   # which events each signature covers
    covered: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"where": self.where, "events": self.events, "chain": self.chain, "head": self.head,
                "ok": self.error is None, "covered": self.covered, "signatures": self.signatures}


@dataclass
class Gathered:
    transfer_id: str
    index: Any | None
    index_trusted: bool
    checks: list[Check]
    events: list[dict[str, Any]]
    drive_folders: list[Any]

    @property
    def first_error(self) -> AirgapError | None:
        return next((c.error for c in self.checks if c.error is not None), None)


def _describe(copy: coverage.Coverage) -> str:
    signers = sorted({s.signer for s in copy.signatures if s.trusted})
    return f"ok, events 1 to {copy.covered} signed by key {', '.join(signers)}" if signers else "ok"


def _check_drive_copy(folder: TransferFolder,
                      head_keys: list[minisign.PublicKey]) -> tuple[Check, list[dict[str, Any]]]:
    path = folder.path / custody.LOG_NAME
    check = Check(where=str(path), events=0)
    try:
        copy = coverage.read_drive_copy(folder, head_keys)
    except (FormatError, IntegrityError) as exc:
        check.chain, check.error = exc.detail, exc
        return check, []
    except TrustError as exc:
        check.head, check.error = exc.detail, exc
        return check, []
    check.events, check.covered = len(copy.events), copy.covered
    check.signatures = [s.to_dict() for s in copy.signatures]
    try:
        coverage.strict(copy)
    except (IntegrityError, TrustError) as exc:
        check.head, check.error = exc.detail, exc
        return check, copy.events[:copy.covered]
    check.head = _describe(copy)
    return check, copy.events


def _check_local_copy(transfer_id: str, head_keys: list[minisign.PublicKey]) -> tuple[Check, list[dict[str, Any]]]:
    local_path = local_log.local_log_path(transfer_id)
    check = Check(where=str(local_path), events=0)
    try:
        copy = coverage.read_local_copy(local_path, local_log.local_heads_path(transfer_id), transfer_id, head_keys)
    except (FormatError, IntegrityError, TrustError) as exc:
        check.chain, check.error = exc.detail, exc
        return check, []
    check.events, check.covered = len(copy.events), copy.covered
    check.signatures = [s.to_dict() for s in copy.signatures]
    check.head = _describe(copy) + (f"; events {copy.covered + 1} to {len(copy.events)} recorded by this host"
                                    if copy.covered < len(copy.events) else "")
    return check, copy.events


def _local_transfer_id(prefix: str) -> str:
    folder = paths.state_dir() / "custody"
    names = sorted(p.stem for p in folder.glob("*.jsonl")) if folder.is_dir() else []
    matches = [n for n in names if n.startswith(prefix)]
    if len(matches) != 1:
        raise UsageError(f"transfer {prefix} is {'ambiguous' if matches else 'not in the local custody logs'}",
                         hint="give a drive's mount point, or a transfer id from " + str(folder))
    return matches[0]


def gather(config: ReportConfig, report: Reporter) -> Gathered:
    source = Path(config.source)
    head_keys = keys.custody_keys(config.trust)
    checks: list[Check] = []
    logs: list[list[dict[str, Any]]] = []
    index, index_trusted, folders = None, False, []
    if catalog.is_folder(source):
        transfer = catalog.find_transfer([source], config.transfer_id, report)
        transfer_id, folders = transfer.transfer_id, transfer.folders
        index, index_trusted = _load_index(transfer, config.trust, report)
        for folder in transfer.folders:
            check, events = _check_drive_copy(folder, head_keys)
            checks.append(check)
            logs.append(events)
    elif TRANSFER_PREFIX_RE.fullmatch(config.source):
        transfer_id = _local_transfer_id(config.source)
    else:
        raise UsageError(f"{config.source} is neither a folder nor a transfer id",
                         hint="give a drive's mount point or a transfer id")
    forked = coverage.forks(logs)  # among the drives' copies: a copy was written apart or replaced
    if local_log.local_log_path(transfer_id).exists():
        check, events = _check_local_copy(transfer_id, head_keys)
        checks.append(check)
        logs.append(events)
    if not checks:
        raise UsageError(f"no custody log found for transfer {transfer_id}",
                         hint="pack with this version of airgap-transfer to record one")
    if forked and not any(c.error for c in checks):
        checks.append(Check(where="all copies", events=0, chain=f"copies fork at event {forked[0]}",
                            error=IntegrityError(f"the copies of the custody log fork at event {forked[0]}: "
                                                 "two different events carry that number",
                                                 hint="compare the copies; one was written apart from the "
                                                      "others or replaced")))
    elif (apart := coverage.forks(logs)) and not any(c.error for c in checks):
        # This host recorded events of its own (verified, exported) while the drives went on elsewhere (a
        # handover): both histories are signed and whole; the report shows both, and says so.
        checks.append(Check(where="this host and the drives", events=0,
                            chain=f"this host's log and the drives' went apart at event {apart[0]}: "
                                  "events recorded here while the drives were handed on elsewhere"))
    return Gathered(transfer_id, index, index_trusted, checks, custody.merge(logs), folders)


def _load_index(transfer: catalog.Transfer, trust: list[str], report: Reporter) -> tuple[Index | None, bool]:
    """The signed index for the summary; an untrusted one is shown, and said to be untrusted."""
    try:
        loaded = catalog.load_index(transfer, keys.trusted_keys(trust, refuse_witnesses=False), True,
                                    Reporter(None))
    except AirgapError as exc:
        report.warning(Kind.INDEX_UNAVAILABLE, f"no usable index for the summary: {exc.one_line()}")
        return None, False
    return loaded.index, loaded.trusted


def _first(events: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return next((e for e in events if e["type"] == kind), {})


def _summary(g: Gathered) -> tuple[dict[str, Any], dict[str, str]]:
    started, packed = _first(g.events, "pack-started"), _first(g.events, "packed")
    proven = _first(g.events, "bundle-proven")
    summary = {"transfer_id": g.transfer_id, "bundle": started.get("bundle"), "size": started.get("size"),
               "signer": started.get("signer"), "packed": packed.get("time"), "index_trusted": None,
               "encrypted": bool(started.get("encrypted"))}
    digests = {**proven.get("digests", {}), **packed.get("digests", {})}
    if g.index is not None:
        idx = g.index
        summary.update(bundle=idx.bundle_name, size=idx.bundle_size, kind=idx.kind, created=idx.created,
                       signer=idx.signer, final_index=idx.final, chunks=len(idx.chunks),
                       compression=idx.compression, index_trusted=g.index_trusted,
                       encrypted=idx.encryption is not None)
        digests.update({k: v for k, v in (("blake3", idx.bundle_blake3), ("sha256", idx.bundle_sha256)) if v})
    return summary, digests


def _drives(g: Gathered) -> list[dict[str, Any]]:
    """Each drive the log names, with the chunks written to it (a list, or ranges when many)."""
    drives: dict[str, dict[str, Any]] = {}
    written: dict[str, list[list[int]]] = {}
    for event in g.events:
        for media in [event.get("media"), *event.get("drives", [])]:
            if isinstance(media, dict) and media.get("path"):
                drives.setdefault(media["path"], {k: v for k, v in media.items() if k not in _CHUNK_KEYS})
                spans = written.setdefault(media["path"], [])
                if event["type"] == "chunk-written":
                    spans.extend(chunk_sets.event_ranges(event))
    for path, entry in drives.items():
        spans = chunk_sets.union(written[path])
        if chunk_sets.count(spans) <= CUSTODY_CHUNK_LIST:
            entry["chunks"] = [seq for first, last in spans for seq in range(first, last + 1)]
        else:
            entry.update(chunk_ranges=spans, chunk_count=chunk_sets.count(spans))
    return list(drives.values())


_CHUNK_KEYS = ("chunks", "chunk_ranges", "chunk_count")


def build(g: Gathered, actor: recorder.Actor) -> dict[str, Any]:
    """The complete report document; every export is rendered from it."""
    summary, digests = _summary(g)
    error = g.first_error
    events = [{**e, "hash": custody.event_hash(e)} for e in g.events]
    forks = custody.forks(g.events)
    return {
        "report": "airgap-transfer chain-of-custody report", "format": REPORT_FORMAT,
        "generated": {"time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                      "actor": actor.to_dict(), "tool": f"airgap-transfer {__version__}"},
        "transfer": summary, "digests": digests, "drives": _drives(g),
        "verification": {"ok": error is None, "first_problem": error.one_line() if error else None,
                         "exit_code": error.exit_code if error else 0, "forks": forks,
                         "hash_algorithm": custody.HASH_ALGORITHM, "copies": [c.to_dict() for c in g.checks]},
        "head": events[-1]["hash"] if events else None,
        "events": events,
        "handovers": [e for e in events if e["type"] == "handover"],
    }


def verify(config: ReportConfig, callback: Callback | None = None) -> dict[str, Any]:
    """Check every copy of the log; raise the first problem (4: chain, 5: signature)."""
    report = Reporter(callback)
    gathered = gather(config, report)
    document = build(gathered, config.actor)
    error = gathered.first_error
    if error is not None:
        raise error
    return document


def export(config: ReportConfig, fmt: str, output: Path,
           callback: Callback | None = None) -> tuple[dict[str, Any], str]:
    """Write the report in ``fmt`` to ``output`` (``-``: only return it, for stdout) and record the export.

    Returns the document and the rendered text.
    """
    report = Reporter(callback)
    replaces = report_file.check(output)
    gathered = gather(config, report)
    document = build(gathered, config.actor)
    if not document["verification"]["ok"]:
        report.warning(Kind.CUSTODY_UNVERIFIED, "the report records a FAILED verification: "
                       f"{document['verification']['first_problem']}")
    text = report_formats.render(document, fmt, config.key_path, report)
    if output != report_file.STDOUT:
        report_file.write(output, text)
        if replaces:
            report.info(Kind.REPORT_REPLACED, f"{output} held an earlier file; it is replaced", output=str(output))
    sources = [Path(config.source)] if gathered.drive_folders else []
    events = local_log.continue_chain(gathered.transfer_id, sources, Reporter(None), keys.custody_keys(config.trust))
    custody.chain(events, recorder.new_event(
        "report-exported", gathered.transfer_id, config.actor,
        details={"format": fmt, "output": "(stdout)" if output == report_file.STDOUT else str(output),
                 "verified": document["verification"]["ok"]}))
    local_log.write_local(events)
    return document, text
