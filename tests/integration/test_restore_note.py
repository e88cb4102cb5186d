"""RESTORE.txt: following its commands literally, with stock tools only, rebuilds the bundle."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import default_public_key, transfer_folder
from tests.integration.test_directory import make_tree, snapshot

COMMAND = re.compile(r"^    \$ (.*)$")
STEP = re.compile(r"^(\d)\. ")


def commands_by_step(note: str) -> dict[int, list[str]]:
    steps: dict[int, list[str]] = {}
    step = 0
    for line in note.splitlines():
        if match := STEP.match(line):
            step = int(match.group(1))
        elif match := COMMAND.match(line):
            steps.setdefault(step, []).append(match.group(1))
    return steps


def follow_note(drives: list[Path], home: Path) -> Path:
    """Run step 1, then step 2 in every drive's transfer folder, then the rest, as the note says.

    The sender's public key is where step 1 says to put it, as if received out of band.
    """
    if not (home / "sender.pub").exists():
        shutil.copyfile(default_public_key(), home / "sender.pub")
    notes = [(transfer_folder(d) / "RESTORE.txt").read_text() for d in drives]
    assert all(n == notes[0] for n in notes), "every drive carries the same note"
    steps = commands_by_step(notes[0])
    assert sorted(steps)[:3] == [1, 2, 3]
    script = ["set -euo pipefail", *steps[1]]
    for drive in drives:
        script += [f"cd {transfer_folder(drive)}", *steps[2]]
    for step in sorted(steps)[2:]:
        script += steps[step]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home)}
    run = subprocess.run(["bash", "-c", "\n".join(script)], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.count(": OK") >= 2
    work = [p for p in home.iterdir() if p.name.startswith("airgap-restore-")]
    assert len(work) == 1
    return work[0]


@pytest.fixture(autouse=True)
def stock_tools():
    missing = [t for t in ("b3sum", "sha256sum", "minisign", "cat", "tar", "bash") if not shutil.which(t)]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (apt: b3sum minisign coreutils tar bash)")


def test_file_bundle_rebuilt_from_two_drives(cli, tmp_path, random_file, tmpfs):
    bundle = random_file(5 * 2**20 + 17, name="model weights.bin")
    assert cli("keygen", "--no-passphrase").code == 0
    drives = [tmpfs("4M"), tmp_path / "spare"]
    drives[1].mkdir()
    packed = cli("pack", bundle, *drives, "--chunk-size", "1MiB", "--no-prompt")
    assert packed.code == 0, packed.output
    home = tmp_path / "home"
    home.mkdir()
    work = follow_note(drives, home)
    assert (work / "model weights.bin").read_bytes() == bundle.read_bytes()


def packed_on_one_drive(cli, source, tmp_path):
    """A fresh key, and ``source`` packed in 1 MiB chunks onto the folder drive/."""
    drive = tmp_path / "drive"
    drive.mkdir()
    assert cli("keygen", "--no-passphrase").code == 0
    assert cli("pack", source, drive, "--chunk-size", "1MiB").code == 0
    return drive


def test_directory_bundle_rebuilt_with_tar(cli, tmp_path):
    source = make_tree(tmp_path / "deploy")
    drive = packed_on_one_drive(cli, source, tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    work = follow_note([drive], home)
    assert snapshot(work / "deploy") == snapshot(source)


def test_a_damaged_chunk_makes_the_commands_fail(cli, tmp_path, random_file):
    drive = packed_on_one_drive(cli, random_file(2 * 2**20), tmp_path)
    chunk = sorted(transfer_folder(drive).glob("*.chunk"))[0]
    data = bytearray(chunk.read_bytes())
    data[100] ^= 1
    chunk.write_bytes(bytes(data))
    home = tmp_path / "home"
    home.mkdir()
    with pytest.raises(AssertionError, match="FAILED"):
        follow_note([drive], home)


def test_sha256_bundle_rebuilt_with_sha256sums_and_the_signature_checked(cli, tmp_path, random_file, tmpfs):
    """pack --sha256: the note runs stock minisign -V and sha256sum -c SHA256SUMS on every drive."""
    bundle = random_file(3 * 2**20 + 5, name="audited.bin")
    assert cli("keygen", "--no-passphrase").code == 0
    drives = [tmpfs("4M"), tmp_path / "spare"]
    drives[1].mkdir()
    packed = cli("pack", bundle, *drives, "--chunk-size", "1MiB", "--sha256", "--no-prompt", "--compress", "none")
    assert packed.code == 0, packed.output
    note = (transfer_folder(drives[0]) / "RESTORE.txt").read_text()
    assert "sha256sum -c SHA256SUMS" in note and "minisign -V" in note
    home = tmp_path / "home"
    home.mkdir()
    work = follow_note(drives, home)
    assert (work / "audited.bin").read_bytes() == bundle.read_bytes()


def test_a_wrong_sender_key_stops_the_commands(cli, tmp_path, random_file):
    """The signature step fails on a key that did not sign the index (stock minisign exits non-zero)."""
    drive = packed_on_one_drive(cli, random_file(2**20), tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    other = tmp_path / "other"
    assert cli("keygen", "--no-passphrase", "--secret-key", other / "k.key", "--public-key", home / "sender.pub").code == 0
    with pytest.raises(AssertionError, match="(?i)signature"):
        follow_note([drive], home)
