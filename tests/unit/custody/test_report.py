"""Report exports built from a document: DSSE encoding and signature, CSV, HTML escaping."""

from __future__ import annotations

import base64
import csv
import io
import json

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from airgap_transfer.custody import report_formats, report_html
from airgap_transfer.errors import UsageError
from airgap_transfer.trust import minisign


def document(digests: dict | None = None) -> dict:
    event = {"seq": 1, "prev": "0" * 64, "hash": "1" * 64, "type": "handover", "time": "2026-01-01T00:00:00.000000Z",
             "transfer_id": "ab" * 16, "result": "ok", "actor": {"user": "root", "operator": "A, \"quoted\""},
             "handover": {"from": "<script>alert(1)</script>", "to": "Bob", "seal": "S-1"},
             "digests": {"blake3": "2" * 64}, "chunks": [1, 2]}
    return {"transfer": {"transfer_id": "ab" * 16, "bundle": "model.tar"}, "head": event["hash"],
            "digests": {"blake3": "2" * 64, "sha256": "3" * 64} if digests is None else digests,
            "events": [event], "handovers": [event], "drives": [],
            "verification": {"ok": True, "first_problem": None, "forks": [], "copies": []},
            "generated": {"time": "2026-01-01T00:00:00Z", "actor": {"user": "root"}, "tool": "t"}}


def test_pae_matches_the_dsse_specification_example():
    assert report_formats.pae("http://example.com/HelloWorld", b"hello world") == \
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"


def test_dsse_envelope_verifies_with_the_public_key_and_carries_an_in_toto_statement():
    key = minisign.SecretKey.generate()
    envelope = report_formats.dsse_envelope(document(), key)
    payload = base64.b64decode(envelope["payload"])
    signature = base64.b64decode(envelope["signatures"][0]["sig"])
    assert envelope["signatures"][0]["keyid"] == key.public_key().key_id_hex
    Ed25519PublicKey.from_public_bytes(key.public_key().raw).verify(
        signature, report_formats.pae(envelope["payloadType"], payload))
    statement = json.loads(payload)
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"] == report_formats.PREDICATE_TYPE
    assert statement["subject"] == [{"name": "model.tar", "digest": {"sha256": "3" * 64, "blake3": "2" * 64}}]
    with pytest.raises(InvalidSignature):  # a changed payload no longer verifies
        Ed25519PublicKey.from_public_bytes(key.public_key().raw).verify(
            signature, report_formats.pae(envelope["payloadType"], payload + b" "))


def test_in_toto_export_refuses_without_sha256():
    with pytest.raises(UsageError, match="sha256"):
        report_formats.statement(document({"blake3": "2" * 64}))


def test_csv_has_one_row_per_event_and_survives_commas_and_quotes():
    rows = list(csv.DictReader(io.StringIO(report_formats.to_csv(document()))))
    assert len(rows) == 1
    assert rows[0]["operator"] == 'A, "quoted"' and rows[0]["chunks"] == "1 2"
    assert json.loads(rows[0]["handover"])["seal"] == "S-1"


def test_html_escapes_everything_from_the_log():
    page = report_html.to_html(document())
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_csv_cells_never_start_a_spreadsheet_formula():
    doc = document()
    doc["events"][0]["actor"]["operator"] = "=HYPERLINK(\"http://x\")"
    rows = list(csv.DictReader(io.StringIO(report_formats.to_csv(doc))))
    assert rows[0]["operator"] == "'=HYPERLINK(\"http://x\")"


@pytest.mark.parametrize("hostile", ["\x1b]0;owned\x07", "ops\r\nforged line", "bell\x07", "\x9b31m"])
def test_control_characters_from_the_log_reach_no_report_raw(hostile):
    doc = document()
    doc["events"][0]["actor"]["operator"] = hostile
    doc["events"][0]["handover"]["to"] = hostile
    page = report_html.to_html(doc)
    table = report_formats.to_csv(doc)
    for raw in ("\x1b", "\x07", "\r", "\x9b"):
        assert raw not in page and raw not in table
    assert "\\x1b" in page + table or "\\x07" in page + table or "\\r" in page + table or "\\x9b" in page + table
    assert list(csv.DictReader(io.StringIO(table)))[0]["operator"].startswith(("\\x1b", "ops\\r", "bell", "\\x9b"))
