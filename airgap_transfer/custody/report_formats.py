"""The custody report rendered: JSON, CSV (one row per event), HTML, an in-toto Statement in a DSSE envelope."""

from __future__ import annotations

import base64
import csv
import io
import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from airgap_transfer.custody import chain as custody
from airgap_transfer.custody import chunk_sets, report_html
from airgap_transfer.errors import UsageError
from airgap_transfer.events import Reporter
from airgap_transfer.format.names import escape_controls
from airgap_transfer.trust import keys, minisign

PREDICATE_TYPE = "https://airgap-transfer.dev/custody/v1"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
DSSE_PAYLOAD_TYPE = "application/vnd.in-toto+json"

CSV_COLUMNS = ["seq", "time", "local_time", "tz", "type", "result", "user", "operator", "title", "host",
               "tool", "transfer_id", "chunks", "digests", "media", "handover", "details", "prev", "hash"]


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    """Text from a drive must not become a spreadsheet formula (CSV injection), nor carry control
    characters (ESC, BEL, newlines) to a terminal that shows the file: quoted, and made visible."""
    if not isinstance(value, str):
        return value
    value = escape_controls(value)
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def to_csv(document: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for e in document["events"]:
        actor = e.get("actor", {})
        media = e.get("media") or (e.get("drives") or [None])[0] or {}
        writer.writerow(_cell(value) for value in [
            e["seq"], e["time"], e.get("local_time", ""), e.get("tz", ""), e["type"], e["result"],
            actor.get("user", ""), actor.get("operator", ""), actor.get("title", ""), e.get("host", ""),
            e.get("tool", ""), e["transfer_id"], _chunks_cell(e),
            " ".join(f"{k}:{v}" for k, v in e.get("digests", {}).items()),
            " ".join(str(media.get(k, "")) for k in ("path", "label", "fs_uuid", "serial") if media.get(k)),
            json.dumps(e.get("handover", {}), sort_keys=True) if e.get("handover") else "",
            json.dumps(e.get("details", {}), sort_keys=True) if e.get("details") else "",
            e["prev"], e["hash"]])
    return out.getvalue()


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding: what the signature covers."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(payload), payload)


def statement(document: dict[str, Any]) -> dict[str, Any]:
    digests = document["digests"]
    if document["transfer"].get("encrypted"):
        raise UsageError("an encrypted transfer has no in-toto subject: its custody log keeps no digest of the "
                         "plaintext bundle, since the log travels on the drives",
                         hint="export --format json, csv or html instead")
    if not digests.get("sha256") or not digests.get("blake3"):
        has = f"only {' and '.join(sorted(digests))}" if digests else "none"
        raise UsageError(f"the in-toto subject needs the bundle's sha256 and blake3; this log has {has}",
                         hint="pack with --sha256, or report after unpack (which records sha256)")
    transfer = document["transfer"]
    return {"_type": STATEMENT_TYPE,
            "subject": [{"name": transfer.get("bundle") or transfer["transfer_id"],
                         "digest": {"sha256": digests["sha256"], "blake3": digests["blake3"]}}],
            "predicateType": PREDICATE_TYPE,
            "predicate": {"transfer": transfer, "chain": {"algorithm": custody.HASH_ALGORITHM,
                                                          "head": document["head"],
                                                          "events": len(document["events"])},
                          "verification": document["verification"], "drives": document["drives"],
                          "events": document["events"], "generated": document["generated"]}}


def dsse_envelope(document: dict[str, Any], key: minisign.SecretKey) -> dict[str, Any]:
    payload = json.dumps(statement(document), sort_keys=True, separators=(",", ":")).encode()
    signature = Ed25519PrivateKey.from_private_bytes(key.seed).sign(pae(DSSE_PAYLOAD_TYPE, payload))
    return {"payloadType": DSSE_PAYLOAD_TYPE, "payload": base64.b64encode(payload).decode(),
            "signatures": [{"keyid": key.public_key().key_id_hex,
                            "sig": base64.b64encode(signature).decode()}]}


def render(document: dict[str, Any], fmt: str, key_path: Path | None, report: Reporter) -> str:
    if fmt == "json":
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if fmt == "csv":
        return to_csv(document)
    if fmt == "html":
        return report_html.to_html(document)
    if fmt == "intoto":
        statement(document)  # a log that cannot make one is refused before any key is made
        key = keys.load_signing_key(key_path, report)
        return json.dumps(dsse_envelope(document, key), indent=2) + "\n"
    raise UsageError(f"unknown report format {fmt}", hint="use json, csv, html or intoto")


def _chunks_cell(event: dict[str, Any]) -> str:
    """Chunk numbers as the event lists them, or its ranges (``1-1000 1002-2000``)."""
    if event.get("chunks"):
        return " ".join(map(str, event["chunks"]))
    return chunk_sets.describe(chunk_sets.event_ranges(event))
