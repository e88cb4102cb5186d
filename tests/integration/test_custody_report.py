"""Chain of custody end to end: pack → handover → verify → unpack → report, and tampering.

The sender and the receiver are two hosts here: separate config/state folders,
so the receiver signs its handover with its own key, not the sender's.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import html.parser
import io
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import blake3
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from airgap_transfer.custody import chain as custody
from airgap_transfer.custody import report_formats
from airgap_transfer.trust import minisign
from tests.conftest import default_public_key, transfer_folder

MB = 10**6
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def receiver_env(tmp_path: Path) -> dict[str, str]:
    return {"XDG_CONFIG_HOME": str(tmp_path / "receiver" / "config"),
            "XDG_STATE_HOME": str(tmp_path / "receiver" / "state")}


def receiver_public_key(tmp_path: Path) -> Path:
    return tmp_path / "receiver" / "config" / "airgap-transfer" / "signing.pub"


def assert_valid_chain(events: list[dict]) -> None:
    previous = None
    for position, event in enumerate(events, start=1):
        stored = {k: v for k, v in event.items() if k != "hash"}
        assert event["seq"] == position
        assert event["prev"] == (blake3.blake3(custody.canonical(previous)).hexdigest() if previous else "0" * 64)
        assert event["hash"] == blake3.blake3(custody.canonical(stored)).hexdigest()
        previous = stored


class BalancedHTML(html.parser.HTMLParser):
    """Well-formedness: every non-void element closed, in order."""

    VOID = {"meta", "br", "hr", "img", "link", "input", "col"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture
def round_trip(cli, tmpfs, random_file, tmp_path):
    """Pack onto two real size-limited drives, hand over, verify and unpack on the receiver."""
    bundle = random_file(10 * MB)
    (tmp_path / "media").mkdir()
    drives = [tmpfs("8M", "media/d1"), tmpfs("8M", "media/d2")]
    packed = cli("pack", bundle, *drives, "--chunk-size", "2MB", "--sha256", "--operator", "Alice Archer",
                 "--title", "Courier")
    assert packed.code == 0, packed.output
    env = receiver_env(tmp_path)
    sender_key = default_public_key()
    steps = [
        ("custody", "handover", tmp_path / "media", "--from", "Alice Archer", "--to", "Bob Baker",
         "--seal", "S-0042", "--purpose", "carry into the enclave", "--location", "Gate 3", "--operator", "Bob Baker",
         "--trust", sender_key),
        ("verify", *drives, "--trust", sender_key, "--operator", "Bob Baker", "--title", "Receiving officer"),
        ("unpack", *drives, tmp_path / "out", "--trust", sender_key, "--operator", "Bob Baker"),
    ]
    for args in steps:
        run = cli(*args, env=env)
        assert run.code == 0, (args[0], run.output)
    return {"bundle": bundle, "drives": drives, "env": env, "media": tmp_path / "media"}


# The two drives are written at once, 5 MB each (2 + 2 + 1 MB chunks), and both finish at the end.
EXPECTED_TYPES = (["pack-started"] + ["chunk-written"] * 6 + ["drive-finished"] * 2
                  + ["packed", "handover", "verified", "received"] + ["chunk-verified"] * 6
                  + ["bundle-proven", "output-written"])


def test_full_round_gives_every_event_in_order_with_a_valid_chain(cli, round_trip, tmp_path):
    out = tmp_path / "report.json"
    run = cli("report", round_trip["media"], "--format", "json", "-o", out, "--trust", default_public_key(),
              env=round_trip["env"])
    assert run.code == 0, run.output
    document = json.loads(out.read_text())
    events = document["events"]
    assert [e["type"] for e in events] == EXPECTED_TYPES
    assert_valid_chain(events)
    assert document["verification"]["ok"] and document["verification"]["forks"] == []
    assert len(document["verification"]["copies"]) == 3  # two drives and the receiver's local log
    bundle = round_trip["bundle"].read_bytes()
    assert document["digests"] == {"blake3": blake3.blake3(bundle).hexdigest(),
                                   "sha256": hashlib.sha256(bundle).hexdigest()}
    assert document["transfer"]["index_trusted"] is True
    handover = document["handovers"][0]["handover"]
    assert handover == {"from": "Alice Archer", "to": "Bob Baker", "seal": "S-0042",
                        "purpose": "carry into the enclave", "location": "Gate 3"}
    receiver_key = minisign.PublicKey.from_file(receiver_public_key(tmp_path))
    assert document["handovers"][0]["signer"] == receiver_key.key_id_hex
    assert events[0]["actor"]["operator"] == "Alice Archer" and events[0]["actor"]["title"] == "Courier"
    assert all(e["tool"].startswith("airgap-transfer ") and e["host"] and e["tz"] for e in events)
    written = [e for e in events if e["type"] == "chunk-written"]
    assert sorted(e["chunks"] for e in written) == [[1], [2], [3], [4], [5], [6]]  # in the order they landed
    assert all(set(e["digests"]) == {"blake3", "sha256"} and e["media"]["fs_type"] == "tmpfs" for e in written)
    verified = next(e for e in events if e["type"] == "verified")
    assert verified["details"]["counts"]["good"] == 6
    if os.environ.get("AIRGAP_SAMPLE_REPORT_DIR"):  # how docs/sample-report.* are made
        html_out = Path(os.environ["AIRGAP_SAMPLE_REPORT_DIR"]) / "sample-report.html"
        assert cli("report", round_trip["media"], "--format", "html", "-o", html_out, "--trust",
                   default_public_key(), env=round_trip["env"]).code == 0
        shutil.copy(out, html_out.with_suffix(".json"))


def test_verify_accepts_heads_signed_by_trusted_keys_only(cli, round_trip, tmp_path):
    ok = cli("report", round_trip["media"], "--verify", env=round_trip["env"])
    assert ok.code == 0, ok.output
    # The sender does not know the receiver's key yet: the re-signed heads are not trusted.
    untrusted = cli("report", round_trip["media"], "--verify")
    assert untrusted.code == 5, untrusted.output
    assert "not trusted" in untrusted.stderr
    trusted = cli("report", round_trip["media"], "--verify", "--trust", receiver_public_key(tmp_path))
    assert trusted.code == 0, trusted.output


def test_csv_html_and_dsse_exports(cli, round_trip, tmp_path):
    env = round_trip["env"]
    csv_out, html_out, dsse_out = tmp_path / "r.csv", tmp_path / "r.html", tmp_path / "r.intoto.json"
    for fmt, out in (("csv", csv_out), ("html", html_out), ("intoto", dsse_out)):
        run = cli("report", round_trip["media"], "--format", fmt, "-o", out, env=env)
        assert run.code == 0, run.output
    rows = list(csv.DictReader(io.StringIO(csv_out.read_text())))
    assert [r["type"] for r in rows[:len(EXPECTED_TYPES)]] == EXPECTED_TYPES
    assert [int(r["seq"]) for r in rows] == list(range(1, len(rows) + 1))
    parser = BalancedHTML()
    parser.feed(html_out.read_text())
    parser.close()
    assert parser.stack == []
    text = " ".join(parser.text)
    for heading in ("Transfer summary", "Verification", "Bundle digests", "Drives", "Timeline", "Handover sign-off",
                    "PASS", "S-0042", "Bob Baker"):
        assert heading in text
    envelope = json.loads(dsse_out.read_text())
    payload = base64.b64decode(envelope["payload"])
    key = minisign.PublicKey.from_file(receiver_public_key(tmp_path))  # the receiver signs its own export
    assert envelope["signatures"][0]["keyid"] == key.key_id_hex
    Ed25519PublicKey.from_public_bytes(key.raw).verify(base64.b64decode(envelope["signatures"][0]["sig"]),
                                                       report_formats.pae(envelope["payloadType"], payload))
    statement = json.loads(payload)
    bundle = round_trip["bundle"].read_bytes()
    assert statement["subject"][0]["digest"] == {"sha256": hashlib.sha256(bundle).hexdigest(),
                                                 "blake3": blake3.blake3(bundle).hexdigest()}


def test_sender_exports_dsse_signed_with_the_transfer_key(cli, random_file, tmp_path):
    drive = tmp_path / "drive"
    drive.mkdir()
    assert cli("pack", random_file(3 * MB), drive, "--sha256").code == 0
    out = tmp_path / "s.intoto.json"
    run = cli("report", drive, "--format", "intoto", "-o", out)
    assert run.code == 0, run.output
    envelope = json.loads(out.read_text())
    key = minisign.PublicKey.from_file(default_public_key())
    index_signer = json.loads(base64.b64decode(envelope["payload"]))["predicate"]["transfer"]["signer"]
    assert envelope["signatures"][0]["keyid"] == key.key_id_hex == index_signer
    Ed25519PublicKey.from_public_bytes(key.raw).verify(base64.b64decode(envelope["signatures"][0]["sig"]),
                                                       report_formats.pae(envelope["payloadType"],
                                                                  base64.b64decode(envelope["payload"])))


def test_unpack_records_sha256_when_pack_did_not(cli, random_file, tmp_path):
    drive = tmp_path / "drive"
    drive.mkdir()
    bundle = random_file(3 * MB)
    assert cli("pack", bundle, drive, "--chunk-size", "1MiB").code == 0
    refused = cli("report", drive, "--format", "intoto", "-o", tmp_path / "x.json")
    assert refused.code == 2 and "sha256" in refused.stderr
    assert cli("unpack", drive, tmp_path / "out", "--trust", default_public_key()).code == 0
    out = tmp_path / "r.json"
    assert cli("report", drive, "--format", "json", "-o", out).code == 0
    assert json.loads(out.read_text())["digests"]["sha256"] == hashlib.sha256(bundle.read_bytes()).hexdigest()


# --- tampering ----------------------------------------------------------------------------

@pytest.fixture
def packed_drive(cli, random_file, tmp_path):
    """One drive: pack (6 events) and a handover (7th), so the log has 7 events."""
    drive = tmp_path / "drive"
    drive.mkdir()
    assert cli("pack", random_file(3 * MB), drive, "--chunk-size", "1MiB").code == 0
    assert cli("custody", "handover", drive, "--from", "A", "--to", "B").code == 0
    log = transfer_folder(drive) / custody.LOG_NAME
    assert len(log.read_bytes().splitlines()) == 7
    return drive


def _tamper(log: Path, operation: str, position: int) -> None:
    lines = log.read_bytes().splitlines(keepends=True)
    i = position - 1
    if operation == "edit":  # a plausible, still canonical change: another operator
        event = json.loads(lines[i])
        event["actor"]["user"] = "mallory"
        lines[i] = custody.canonical(event) + b"\n"
    elif operation == "edit-bytes":  # a flipped digit inside a hash
        lines[i] = re.sub(rb'"prev":"(.)', lambda m: b'"prev":"' + (b"1" if m.group(1) != b"1" else b"2"),
                          lines[i], count=1)
    elif operation == "delete":
        del lines[i]
    elif operation == "reorder":
        lines[i], lines[i + 1] = lines[i + 1], lines[i]
    log.write_bytes(b"".join(lines))


@pytest.mark.parametrize("operation, position", [
    ("edit", 1), ("edit", 4), ("edit", 7), ("edit-bytes", 3),
    ("delete", 1), ("delete", 4), ("delete", 7),
    ("reorder", 1), ("reorder", 5), ("reorder", 6)])
def test_tampering_with_a_drive_log_fails_verify_and_names_the_event(cli, packed_drive, operation, position):
    _tamper(transfer_folder(packed_drive) / custody.LOG_NAME, operation, position)
    run = cli("report", packed_drive, "--verify")
    assert run.code == 4, run.output
    assert re.search(rf"event {position}\b", run.stderr), run.stderr
    assert "custody.jsonl" in run.stderr


def test_a_replaced_head_signature_is_a_trust_failure(cli, packed_drive, tmp_path):
    other = minisign.SecretKey.generate()
    events = custody.read_log(transfer_folder(packed_drive) / custody.LOG_NAME)
    (transfer_folder(packed_drive) / custody.HEAD_NAME).write_text(custody.sign_head(events, other))
    run = cli("report", packed_drive, "--verify")
    assert run.code == 5 and "not trusted" in run.stderr, run.output


def test_handover_refuses_to_extend_a_tampered_log(cli, packed_drive):
    _tamper(transfer_folder(packed_drive) / custody.LOG_NAME, "delete", 2)
    run = cli("custody", "handover", packed_drive, "--from", "B", "--to", "C")
    assert run.code == 4 and re.search(r"event 2\b", run.stderr), run.output


def test_report_by_transfer_id_reads_the_local_log(cli, packed_drive, tmp_path):
    transfer_id = transfer_folder(packed_drive).name.removeprefix("airgap-")
    out = tmp_path / "local.json"
    run = cli("report", transfer_id[:8], "--format", "json", "-o", out)
    assert run.code == 0, run.output
    assert [e["type"] for e in json.loads(out.read_text())["events"]][-1] == "handover"
    assert cli("report", transfer_id, "--verify").code == 0


# --- printing ------------------------------------------------------------------------------

PAPER_POINTS = {"A4": (595, 842), "Letter": (612, 792)}


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium for headless rendering (apt-get install chromium)")
def test_headless_chromium_renders_the_html_report(cli, packed_drive, tmp_path):
    page = tmp_path / "report.html"
    assert cli("report", packed_drive, "--format", "html", "-o", page).code == 0
    common = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--no-first-run",
              f"--user-data-dir={tmp_path / 'chromium-profile'}"]

    def chromium(*args: str) -> None:
        done = subprocess.run(common + list(args), capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stderr[-2000:]

    png = tmp_path / "report.png"
    chromium("--window-size=900,1200", f"--screenshot={png}", page.as_uri())
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    # The report leaves the paper size to the printer; print it as a user choosing each size would.
    for paper, (width, height) in PAPER_POINTS.items():
        chosen = tmp_path / f"report-{paper}.html"
        chosen.write_text(page.read_text().replace("</head>", f"<style>@page {{ size: {paper}; }}</style></head>"))
        pdf = tmp_path / f"report-{paper}.pdf"
        chromium("--no-pdf-header-footer", f"--print-to-pdf={pdf}", chosen.as_uri())
        data = pdf.read_bytes()
        assert data[:5] == b"%PDF-"
        boxes = re.findall(rb"/MediaBox \[0 0 ([0-9.]+) ([0-9.]+)\]", data)
        assert boxes and all(round(float(w)) == width and round(float(h)) == height for w, h in boxes), boxes


def test_a_drive_whose_log_was_removed_fails_verify(cli, packed_drive):
    for name in (custody.LOG_NAME, custody.HEAD_NAME):
        (transfer_folder(packed_drive) / name).unlink()
    run = cli("report", packed_drive, "--verify")
    assert run.code == 4 and "missing from this drive" in run.stderr, run.output


def test_pack_sha256_signs_sha256_of_every_chunk_and_the_whole(cli, random_file, tmp_path):
    from airgap_transfer.format.index import Index
    drive = tmp_path / "drive"
    drive.mkdir()
    bundle = random_file(3 * MB)
    assert cli("pack", bundle, drive, "--chunk-size", "1MiB", "--sha256").code == 0
    folder = transfer_folder(drive)
    index = Index.from_bytes((folder / "index.agt").read_bytes())
    assert index.bundle_sha256 == hashlib.sha256(bundle.read_bytes()).hexdigest()
    assert len(index.chunks) == 3
    for chunk in index.chunks:
        assert chunk.sha256 == hashlib.sha256((folder / chunk.file).read_bytes()).hexdigest()


def test_media_identity_of_an_exfat_drive_is_recorded(cli, exfat, random_file):
    drive = exfat("64M", label="CUSTODY1")
    assert cli("pack", random_file(2 * MB), drive).code == 0
    events = custody.read_log(transfer_folder(drive) / custody.LOG_NAME)
    media = next(e for e in events if e["type"] == "chunk-written")["media"]
    assert media["mount_point"] == str(drive) and media["device"].startswith("/dev/loop")
    if shutil.which("blkid"):
        assert media["label"] == "CUSTODY1" and "exfat" in (media.get("fs_format"), media["fs_type"]) and media["fs_uuid"]


@pytest.mark.skipif(shutil.which("minisign") is None, reason="needs the stock minisign tool")
def test_stock_minisign_verifies_the_signed_head(cli, random_file, tmp_path):
    drive = tmp_path / "drive"
    drive.mkdir()
    assert cli("pack", random_file(2 * MB), drive).code == 0
    folder = transfer_folder(drive)
    last = custody.read_log(folder / custody.LOG_NAME)[-1]
    head = tmp_path / "head.txt"
    head.write_bytes(custody.head_message(last["transfer_id"], last["seq"], custody.event_hash(last)))
    done = subprocess.run(["minisign", "-V", "-p", str(folder / "signer.pub"), "-m", str(head),
                           "-x", str(folder / custody.HEAD_NAME)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert f"seq:{last['seq']}" in done.stdout


def test_unpack_no_sha256_skips_it_and_says_so_in_the_log(cli, random_file, tmp_path):
    drive = tmp_path / "drive"
    drive.mkdir()
    assert cli("pack", random_file(2 * MB), drive).code == 0
    run = cli("unpack", drive, tmp_path / "out", "--trust", default_public_key(), "--no-sha256", "--json")
    assert run.code == 0, run.output
    result = json.loads(run.stdout.splitlines()[-1])
    assert result["sha256"] is None
    events = custody.read_log(next((Path(os.environ["XDG_STATE_HOME"]) / "airgap-transfer" / "custody").glob("*.jsonl")))
    assert events[-1]["type"] == "output-written" and set(events[-1]["digests"]) == {"blake3"}


def test_unpack_sha256_as_the_brief_names_it_is_the_default_made_explicit(cli, random_file, tmp_path):
    bundle = random_file(2 * MB)
    drive = tmp_path / "drive"
    drive.mkdir()
    assert cli("pack", bundle, drive).code == 0
    run = cli("unpack", drive, tmp_path / "out", "--trust", default_public_key(), "--sha256", "--json")
    assert run.code == 0, run.output
    result = json.loads(run.stdout.splitlines()[-1])
    assert result["sha256"] == hashlib.sha256(bundle.read_bytes()).hexdigest()
