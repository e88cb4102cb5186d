"""A receiver with one port, scripted: one drive per run with --no-prompt, and nothing proven is ever lost."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from tests.conftest import default_public_key, transfer_folder

MB = 10**6


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_one_drive_per_run_with_no_prompt_copies_each_and_finishes(tmpfs, random_file, cli, tmp_path):
    source = random_file(20 * MB)
    drives = [tmpfs("9M", f"u{n}") for n in (1, 2, 3)]
    packed = cli("pack", source, *drives, "--chunk-size", "7MB", "--no-prompt", "--no-parallel")
    assert packed.code == 0, packed.output
    out = tmp_path / "out"
    copied = []
    for drive in drives[:2]:
        run = cli("unpack", drive, out, "--trust", default_public_key(), "--no-prompt", "--json")
        assert run.code == 3, run.output
        copied.append([e["chunk"] for e in _events(run.stdout) if e["event"] == "chunk-verified"])
        assert not (out / source.name).exists()
    assert copied == [[1], [2]]   # each run copied its drive's chunk, and did not read the earlier one again
    last = cli("unpack", drives[2], out, "--trust", default_public_key(), "--no-prompt", "--json")
    assert last.code == 0, last.output
    assert [e["chunk"] for e in _events(last.stdout) if e["event"] == "chunk-verified"] == [3]
    assert _sha(out / source.name) == _sha(source)


def test_a_run_refused_up_front_keeps_the_earlier_runs_partial_output(tmpfs, random_file, cli, tmp_path):
    """No room this time (exit 6): the 19 chunks proven by the earlier run are still there for the next."""
    source = random_file(20 * MB)
    drive = tmp_path / "drive"
    drive.mkdir()
    assert cli("pack", source, drive, "--chunk-size", "1MB", "--no-prompt").code == 0
    held = tmp_path / "held.chunk"
    (chunk_7,) = transfer_folder(drive).glob("*-000007.chunk")
    shutil.move(chunk_7, held)
    out = tmpfs("30M", "out")
    args = ["unpack", drive, out, "--trust", default_public_key(), "--no-prompt"]
    first = cli(*args)
    assert first.code == 3 and "chunk" in first.stderr and "7" in first.stderr, first.output
    partial = [p for p in out.iterdir() if p.name.startswith(".")]
    assert len(partial) == 1
    shutil.move(held, chunk_7)
    filler = out / "other-file"
    filler.write_bytes(b"\0" * (shutil.disk_usage(out).free - 200_000))   # less room than chunk 7 needs
    refused = cli(*args)
    assert refused.code == 6, refused.output
    assert [p for p in out.iterdir() if p.name.startswith(".")] == partial   # kept, not discarded
    filler.unlink()
    finished = cli(*args, "--json")
    assert finished.code == 0, finished.output
    verified = [e["chunk"] for e in _events(finished.stdout) if e["event"] == "chunk-verified"]
    assert verified == [7]
    assert _sha(out / source.name) == _sha(source)
