"""RESTORE.txt: following its commands literally, with stock tools only, rebuilds the bundle."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import transfer_folder
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
    """Run step 1, then step 2 in every drive's transfer folder, then the rest, as the note says."""
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
    missing = [t for t in ("b3sum", "cat", "tar", "bash") if not shutil.which(t)]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (apt: b3sum coreutils tar bash)")


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


def test_directory_bundle_rebuilt_with_tar(cli, tmp_path):
    source = make_tree(tmp_path / "deploy")
    drive = tmp_path / "drive"
    drive.mkdir()
    assert cli("keygen", "--no-passphrase").code == 0
    assert cli("pack", source, drive, "--chunk-size", "1MiB").code == 0
    home = tmp_path / "home"
    home.mkdir()
    work = follow_note([drive], home)
    assert snapshot(work / "deploy") == snapshot(source)


def test_a_damaged_chunk_makes_the_commands_fail(cli, tmp_path, random_file):
    bundle = random_file(2 * 2**20)
    drive = tmp_path / "drive"
    drive.mkdir()
    assert cli("keygen", "--no-passphrase").code == 0
    assert cli("pack", bundle, drive, "--chunk-size", "1MiB").code == 0
    chunk = sorted(transfer_folder(drive).glob("*.chunk"))[0]
    data = bytearray(chunk.read_bytes())
    data[100] ^= 1
    chunk.write_bytes(bytes(data))
    home = tmp_path / "home"
    home.mkdir()
    with pytest.raises(AssertionError, match="FAILED"):
        follow_note([drive], home)
