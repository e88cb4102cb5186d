"""Dry-run plans that answer the operator's question, and bundle names that say what they became."""

from __future__ import annotations

import json
import subprocess

from tests.conftest import transfer_folder

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
