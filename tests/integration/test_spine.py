"""The spine end to end, through the installed CLI on real size-limited mounts."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import default_public_key, only_resumable_partials, transfer_folder

MB = 10**6


@pytest.fixture
def packed(tmpfs, random_file, cli):
    """A 150 MB random bundle packed onto three 64 MiB tmpfs drives in 20 MB chunks."""
    source = random_file(150 * MB)
    drives = [tmpfs("64M", f"drive{n}") for n in (1, 2, 3)]
    result = cli("pack", source, *drives, "--chunk-size", "20MB")
    assert result.code == 0, result.output
    return source, drives


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_round_trip_reverse_order(packed, cli, tmp_path):
    source, drives = packed
    out = tmp_path / "out"
    result = cli("unpack", *reversed(drives), out, "--trust", default_public_key())
    assert result.code == 0, result.output
    assert _digest(out / source.name) == _digest(source)
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "temporary output left behind"


def test_round_trip_from_parent_folder(packed, cli, tmp_path):
    source, drives = packed
    parent = drives[0].parent  # the three mount points live side by side here
    out = tmp_path / "out2"
    result = cli("unpack", parent, out, "--trust", default_public_key())
    assert result.code == 0, result.output
    assert _digest(out / source.name) == _digest(source)


def test_every_drive_holds_chunks_index_signature_and_checksums(packed):
    _, drives = packed
    for drive in drives:
        folder = transfer_folder(drive)
        names = {p.name for p in folder.iterdir()}
        assert {"index.agt", "index.agt.minisig", "B3SUMS"} <= names
        assert any(name.endswith(".chunk") for name in names)
        assert not [n for n in names if n.startswith(".")], "temp file left on a drive"


@pytest.mark.skipif(shutil.which("b3sum") is None, reason="needs b3sum (Debian package b3sum)")
def test_stock_b3sum_checks_each_drive(packed):
    for drive in packed[1]:
        check = subprocess.run(["b3sum", "-c", "B3SUMS"], cwd=transfer_folder(drive),
                               capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
        assert "FAILED" not in check.stdout


@pytest.mark.skipif(shutil.which("minisign") is None, reason="needs minisign (Debian package minisign)")
def test_stock_minisign_verifies_the_index(packed):
    folder = transfer_folder(packed[1][0])
    check = subprocess.run(["minisign", "-V", "-p", str(default_public_key()), "-m",
                            str(folder / "index.agt"), "-x", str(folder / "index.agt.minisig")],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_cat_in_name_order_restores_the_bundle(packed, tmp_path):
    source, drives = packed
    chunks = sorted((p for d in drives for p in transfer_folder(d).glob("*.chunk")), key=lambda p: p.name)
    restored = tmp_path / "restored"
    with open(restored, "wb") as out:
        subprocess.run(["cat", *map(str, chunks)], stdout=out, check=True)
    assert _digest(restored) == _digest(source)


def test_verify_and_status_report_every_chunk(packed, cli):
    _, drives = packed
    verify = cli("verify", *drives, "--trust", default_public_key(), "--json")
    assert verify.code == 0, verify.output
    result = json.loads(verify.stdout.strip().splitlines()[-1])
    assert result["complete"] and result["counts"]["good"] == len(result["chunks"]) >= 8
    assert sum(c["length"] for c in result["chunks"]) == 150 * MB
    status = cli("status", drives[0], "--trust", default_public_key())
    assert status.code == 3, status.output  # chunks missing: incomplete, as the README's table says
    assert "missing" in status.output


def _first_chunk(drive: Path) -> Path:
    return sorted(transfer_folder(drive).glob("*.chunk"))[0]


def test_flipped_bit_is_exit_4_naming_chunk_and_drive(packed, cli, tmp_path):
    source, drives = packed
    victim = _first_chunk(drives[1])
    with open(victim, "r+b") as handle:
        handle.seek(12345)
        byte = handle.read(1)
        handle.seek(12345)
        handle.write(bytes([byte[0] ^ 0x01]))
    out = tmp_path / "out"
    result = cli("unpack", *drives, out, "--trust", default_public_key())
    assert result.code == 4, result.output
    seq = int(victim.name.split("-")[1].split(".")[0])
    assert f"chunk {seq}" in result.stderr and str(drives[1]) in result.stderr
    assert "Traceback" not in result.output
    assert not (out / source.name).exists()
    assert only_resumable_partials(out)  # chunks before the bad one are kept for a resumed run
    verify = cli("verify", *drives, "--trust", default_public_key())
    assert verify.code == 4 and f"chunk {seq}" in verify.stderr


def test_truncated_chunk_is_exit_4(packed, cli, tmp_path):
    source, drives = packed
    victim = _first_chunk(drives[2])
    os.truncate(victim, victim.stat().st_size - 1)
    result = cli("unpack", *drives, tmp_path / "out", "--trust", default_public_key())
    assert result.code == 4, result.output
    assert "truncated" in result.stderr
    assert not (tmp_path / "out" / source.name).exists()


def test_missing_drive_is_exit_3_listing_missing_chunks(packed, cli, tmp_path):
    source, drives = packed
    result = cli("unpack", drives[0], drives[2], tmp_path / "out", "--trust", default_public_key())
    assert result.code == 3, result.output
    missing = sorted(int(p.name.split("-")[1][:6]) for p in transfer_folder(drives[1]).glob("*.chunk"))
    assert f"chunks {', '.join(map(str, missing))}" in result.stderr
    assert not (tmp_path / "out" / source.name).exists()


def test_untrusted_key_is_exit_5(packed, cli, tmp_path):
    _, drives = packed
    receiver = {"XDG_CONFIG_HOME": str(tmp_path / "receiver-config")}  # another machine: no key of its own
    result = cli("unpack", *drives, tmp_path / "out", env=receiver)
    assert result.code == 5, result.output
    assert "not trusted" in result.stderr
    allowed = cli("unpack", *drives, tmp_path / "out", "--allow-untrusted", env=receiver)
    assert allowed.code == 0, allowed.output
    assert "UNTRUSTED" in allowed.stderr


def test_the_local_signing_key_is_trusted_on_its_own_machine(packed, cli, tmp_path):
    source, drives = packed
    result = cli("unpack", *drives, tmp_path / "out", "--no-prompt")
    assert result.code == 0, result.output
    assert "NOT trusted" not in result.output
    assert _digest(tmp_path / "out" / source.name) == _digest(source)


def test_modified_index_is_exit_5(packed, cli, tmp_path):
    _, drives = packed
    for drive in drives:  # every copy modified, so no good copy remains
        index = transfer_folder(drive) / "index.agt"
        data = bytearray(index.read_bytes())
        data[len(data) // 2] ^= 0x40
        index.write_bytes(bytes(data))
    result = cli("unpack", *drives, tmp_path / "out", "--trust", default_public_key())
    assert result.code == 5, result.output
    assert "Traceback" not in result.output


def test_random_bytes_as_index_are_a_clean_error(packed, cli, tmp_path):
    _, drives = packed
    for drive in drives:
        (transfer_folder(drive) / "index.agt").write_bytes(os.urandom(4096))
    result = cli("unpack", *drives, tmp_path / "out", "--trust", default_public_key())
    assert result.code == 5, result.output
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_one_bad_index_copy_is_reported_not_fatal(packed, cli, tmp_path):
    source, drives = packed
    (transfer_folder(drives[0]) / "index.agt").write_bytes(b"garbage")
    result = cli("unpack", *drives, tmp_path / "out", "--trust", default_public_key())
    assert result.code == 0, result.output
    assert "index copy rejected" in result.stderr


def test_existing_output_is_refused_and_untouched(packed, cli, tmp_path):
    source, drives = packed
    out = tmp_path / "out"
    out.mkdir()
    (out / source.name).write_bytes(b"precious")
    result = cli("unpack", *drives, out, "--trust", default_public_key())
    assert result.code == 2, result.output
    assert "--force" in result.stderr
    assert (out / source.name).read_bytes() == b"precious"
    forced = cli("unpack", *drives, out, "--trust", default_public_key(), "--force")
    assert forced.code == 0, forced.output
    assert _digest(out / source.name) == _digest(source)


def test_destination_too_small_is_exit_6_and_writes_nothing(tmpfs, random_file, cli):
    source = random_file(40 * MB)
    drive = tmpfs("16M")
    result = cli("pack", source, drive, "--chunk-size", "5MB", "--no-prompt")
    assert result.code == 6, result.output
    assert "Traceback" not in result.output
    assert not list(drive.rglob("*.chunk")) and not list(drive.rglob(".*tmp*"))


def test_stdin_source_round_trips(tmpfs, random_file, cli, tmp_path):
    source = random_file(12 * MB)
    drive = tmpfs("32M")
    result = cli("pack", "-", drive, "--name", "piped.bin", "--chunk-size", "5MB", input=source.read_bytes())
    assert result.code == 0, result.output
    out = tmp_path / "out"
    assert cli("unpack", drive, out, "--trust", default_public_key()).code == 0
    assert _digest(out / "piped.bin") == _digest(source)


def test_version_and_module_entry_point(cli):
    result = cli("--version")
    assert result.code == 0 and "airgap-transfer" in result.stdout
    module = subprocess.run([sys.executable, "-m", "airgap_transfer", "--version"],
                            capture_output=True, text=True)
    assert module.returncode == 0 and "airgap-transfer" in module.stdout
