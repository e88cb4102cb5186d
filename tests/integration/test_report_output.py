"""Where `report -o` may write: a new file, an earlier report (replaced, and said), stdout; never a device, a link
or a drive's transfer folder.

A report runs as root beside drives and system files, so a wrong -o must be a
usage error (exit 2) that leaves the path as it was, never exit 0 having
replaced it, nor a traceback.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

MB = 10**6


@pytest.fixture
def drive(cli, random_file, tmp_path):
    drive = tmp_path / "drive"
    drive.mkdir()
    assert cli("pack", random_file(MB), drive).code == 0
    return drive


def test_an_earlier_report_is_replaced_and_that_is_said(cli, drive, tmp_path):
    out = tmp_path / "custody.json"
    assert cli("report", drive, "-o", out).code == 0
    again = cli("report", drive, "-o", out, "--format", "csv")
    assert again.code == 0, again.output
    assert "held an earlier file; it is replaced" in again.stderr
    assert out.read_text().startswith("seq,time")


def test_a_report_is_never_written_among_a_drives_files(cli, drive):
    folder = next(drive.glob("airgap-*"))
    index = (folder / "index.agt").read_bytes()
    for target in (folder / "index.agt", folder / "custody.html"):
        refused = cli("report", drive, "-o", target)
        assert refused.code == 2 and "inside a transfer folder" in refused.stderr, refused.output
    assert (folder / "index.agt").read_bytes() == index and not (folder / "custody.html").exists()


@pytest.mark.parametrize("kind", ["fifo", "symlink", "folder"])
def test_what_is_not_a_regular_file_is_never_replaced(cli, drive, tmp_path, kind):
    target, victim = tmp_path / "target", tmp_path / "victim.txt"
    victim.write_text("keep me")
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "symlink":
        target.symlink_to(victim)
    else:
        target.mkdir()
    refused = cli("report", drive, "-o", target)
    assert refused.code == 2 and "not a regular file" in refused.stderr, refused.output
    assert "Traceback" not in refused.stderr
    assert victim.read_text() == "keep me"
    assert {"fifo": target.is_fifo, "symlink": target.is_symlink, "folder": target.is_dir}[kind]()


def test_an_unwritable_place_is_a_usage_error_not_a_bug(cli, drive, tmpfs, tmp_path):
    readonly = tmpfs("1M", "readonly")
    subprocess.run(["mount", "-o", "remount,ro", str(readonly)], check=True)
    refused = cli("report", drive, "-o", readonly / "custody.json")
    assert refused.code == 2, refused.output
    assert "cannot write the report" in refused.stderr and "internal error" not in refused.stderr
    full = tmpfs("64K", "full")
    (full / "filler").write_bytes(b"\0" * (64 * 1024 - 4096))
    no_room = cli("report", drive, "-o", full / "custody.html", "--format", "html")
    assert no_room.code == 6, no_room.output     # the page (its style sheet alone) is over 4 KiB
    assert "no space" in no_room.stderr and [p.name for p in full.iterdir()] == ["filler"]


def test_dash_is_stdout_and_cannot_share_it_with_json(cli, drive):
    shown = cli("report", drive, "-o", "-")
    assert shown.code == 0, shown.output
    assert json.loads(shown.stdout)["report"] == "airgap-transfer chain-of-custody report"
    assert not Path("-").exists()
    clash = cli("report", drive, "-o", "-", "--json")
    assert clash.code == 2 and "stdout" in clash.stderr


def test_in_toto_without_sha256_is_refused_before_a_key_is_made(cli, drive, tmp_path):
    receiver = {"XDG_CONFIG_HOME": str(tmp_path / "rx" / "config"), "XDG_STATE_HOME": str(tmp_path / "rx" / "state")}
    refused = cli("report", drive, "--format", "intoto", "-o", tmp_path / "s.json", env=receiver)
    assert refused.code == 2 and "sha256" in refused.stderr, refused.output
    assert "created signing key" not in refused.stderr
    assert not (tmp_path / "rx" / "config" / "airgap-transfer" / "signing.key").exists()


@pytest.mark.skipif(not shutil.which("age-keygen"), reason="needs age-keygen for a recipient (apt: age)")
def test_in_toto_of_an_encrypted_transfer_says_why_it_cannot_be(cli, random_file, tmp_path):
    key = tmp_path / "age.key"
    subprocess.run(["age-keygen", "-o", str(key)], capture_output=True, check=True)
    recipient = subprocess.run(["age-keygen", "-y", str(key)], capture_output=True, text=True,
                               check=True).stdout.strip()
    drive = tmp_path / "sealed"
    drive.mkdir()
    assert cli("pack", random_file(MB), drive, "--encrypt-to", recipient, "--sha256").code == 0
    refused = cli("report", drive, "--format", "intoto", "-o", tmp_path / "s.json")
    assert refused.code == 2 and "encrypted transfer has no in-toto subject" in refused.stderr, refused.output
    assert "json, csv or html" in refused.stderr
