"""Dry-run plans that answer the operator's question, and bundle names that say what they became."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

MB = 10**6


def sparse(path, size: int):
    subprocess.run(["truncate", "-s", str(size), str(path)], check=True)
    return path


def test_dry_run_for_drives_not_inserted_needs_no_dest(tmp_path, cli):
    big = sparse(tmp_path / "big.img", 150 * 2**30)
    run = cli("pack", big, "--dry-run", "--drive-size", "64GB", "--fs-type", "vfat", "--json")
    assert run.code == 0, run.output
    plan = json.loads(run.stdout.splitlines()[-1])
    assert plan["fits"] and plan["drives_needed"] == 3 and plan["chunks"] >= 38
    assert cli("pack", big).code == 2  # without --dry-run a DEST is still required
    too_small = cli("pack", big, "--dry-run", "--drive-size", "1MB")
    assert too_small.code == 6 and "cannot hold a chunk" in too_small.stderr


def test_dry_run_on_a_small_drive_says_how_many_more_are_needed(tmpfs, tmp_path, cli):
    big = sparse(tmp_path / "big.img", 150 * 2**30)
    drive = tmpfs("64M", "USB1")
    run = cli("pack", big, drive, "--dry-run")
    assert run.code == 0, run.output
    assert "0 chunks on 0 drive" not in run.output
    assert f"more drives like {drive} (64.0 MiB, empty)" in run.output
    plan = json.loads(cli("pack", big, drive, "--dry-run", "--json").stdout.splitlines()[-1])
    assert not plan["fits"] and plan["more_drives"] > 2000
    assert not list(drive.iterdir())


def test_a_changed_bundle_name_is_said_kept_in_the_index_and_keeps_its_extension(tmp_path, cli):
    drive = tmp_path / "drive"
    drive.mkdir()
    long_name = "weights-" + "x" * 238 + ".bin"
    for original, recorded in (("model:v1?.bin", "model_v1_.bin"),
                               (long_name, long_name[:196] + ".bin")):
        source = tmp_path / original
        source.write_bytes(os.urandom(2 * MB))
        packed = cli("pack", source, drive, "--no-prompt")
        assert packed.code == 0, packed.output
        assert f"is recorded as {recorded}" in packed.stderr
        folder = next(p for p in sorted(drive.glob("airgap-*"), key=lambda p: p.stat().st_mtime))
        out = tmp_path / "out"
        unpacked = cli("unpack", drive, out, "--transfer", folder.name[len("airgap-"):], "--no-prompt", "--json")
        assert unpacked.code == 0, unpacked.output
        said = [json.loads(line) for line in unpacked.stdout.splitlines() if '"bundle-renamed"' in line]
        assert said and said[0]["original_name"] == original and said[0]["output"] == str(out / recorded)
        assert (out / recorded).read_bytes() == source.read_bytes()
        shutil.rmtree(folder)


def test_one_clear_line_per_fact(tmp_path, tmpfs, cli):
    source = tmp_path / "model.bin"
    source.write_bytes(os.urandom(2 * MB))
    drive = tmpfs("16M", "USB1")
    run = cli("pack", source, drive, "--no-prompt")
    assert run.code == 0, run.output
    lines = run.stderr.splitlines()
    assert sum(line.startswith("packed ") for line in lines) == 1, lines
    assert "1 chunks" not in run.stderr and "drive(s)" not in run.stderr
    assert "auto:none" not in run.stderr and "stored plain (not compressed)" in run.stderr
    assert "(USB1)" not in run.stderr
