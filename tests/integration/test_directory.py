"""pack DIR DEST / unpack: a folder goes across and comes back as the same tree."""

from __future__ import annotations

import os
from pathlib import Path

from tests.conftest import default_public_key, transfer_folder, write_random


def make_tree(root: Path) -> Path:
    (root / "models" / "empty").mkdir(parents=True)
    write_random(root / "models" / "weights.bin", 3 * 2**20 + 123)
    (root / "README").write_text("read me\n")
    (root / "run.sh").write_text("#!/bin/sh\necho hi\n")
    os.chmod(root / "run.sh", 0o755)
    os.chmod(root / "models", 0o750)
    (root / "latest").symlink_to("models/weights.bin")
    os.utime(root / "README", (1_500_000_000, 1_500_000_000))
    return root


def snapshot(root: Path) -> dict:
    """Every entry below root: kind, mode, content or link target, file mtime."""
    seen = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        rel = str(path.relative_to(root))
        if path.is_symlink():
            seen[rel] = ("link", os.readlink(path))
        elif path.is_dir():
            seen[rel] = ("dir", oct(info.st_mode & 0o777))
        else:
            seen[rel] = ("file", oct(info.st_mode & 0o777), int(info.st_mtime), path.read_bytes())
    return seen


def test_directory_round_trip_over_two_drives(cli, tmp_path, tmpfs):
    source = make_tree(tmp_path / "deploy")
    assert cli("keygen", "--no-passphrase").code == 0
    small = tmpfs("4M")
    spare = tmp_path / "spare"
    spare.mkdir()
    packed = cli("pack", source, small, spare, "--chunk-size", "1MiB", "--no-prompt")
    assert packed.code == 0, packed.output
    out = tmp_path / "out"
    unpacked = cli("unpack", small, spare, out, "--trust", default_public_key())
    assert unpacked.code == 0, unpacked.output
    assert sorted(p.name for p in out.iterdir()) == ["deploy"]  # no temp tar or staging left
    assert snapshot(out / "deploy") == snapshot(source)
    again = cli("unpack", small, spare, out, "--trust", default_public_key())
    assert again.code == 2 and "already exists" in again.stderr


def test_directory_bundle_index_says_directory(cli, tmp_path):
    source = make_tree(tmp_path / "deploy")
    dest = tmp_path / "drive"
    dest.mkdir()
    assert cli("keygen", "--no-passphrase").code == 0
    assert cli("pack", source, dest).code == 0
    status = cli("status", dest, "--trust", default_public_key(), "--json")
    assert status.code == 0
    note = (transfer_folder(dest) / "RESTORE.txt").read_text()
    assert "deploy (a folder, carried as a tar archive)" in note and "tar -xf deploy.tar" in note


def test_same_tree_packs_to_identical_chunks(cli, tmp_path):
    source = make_tree(tmp_path / "deploy")
    assert cli("keygen", "--no-passphrase").code == 0
    digests = []
    for name in ("one", "two"):
        dest = tmp_path / name
        dest.mkdir()
        assert cli("pack", source, dest, "--chunk-size", "1MiB").code == 0
        sums = (transfer_folder(dest) / "B3SUMS").read_text().splitlines()
        digests.append([line.split()[0] for line in sums if ".chunk" in line])
    assert digests[0] == digests[1] and len(digests[0]) == 4


def test_explicit_output_force_and_refused_special_files(cli, tmp_path):
    source = make_tree(tmp_path / "deploy")
    drive = tmp_path / "drive"
    drive.mkdir()
    assert cli("keygen", "--no-passphrase").code == 0
    assert cli("pack", source, drive, "--json").code == 0
    target = tmp_path / "restored" / "as-named"
    trust = ("--trust", default_public_key())
    assert cli("unpack", drive, tmp_path, "-o", target, *trust).code == 0
    (target / "README").write_text("changed\n")
    (target / "stray").write_text("not in the bundle\n")
    assert cli("unpack", drive, tmp_path, "-o", target, *trust).code == 2
    assert (target / "stray").exists()
    forced = cli("unpack", drive, tmp_path, "-o", target, "--force", *trust)
    assert forced.code == 0, forced.output
    assert snapshot(target) == snapshot(source)
    assert sorted(p.name for p in target.parent.iterdir()) == ["as-named"]

    os.mkfifo(source / "models" / "a-pipe")
    refused = cli("pack", source, drive)
    assert refused.code == 2 and "a-pipe" in refused.stderr


def test_read_only_files_and_folders_keep_their_modes_masked_to_0755(cli, tmp_path):
    source = make_tree(tmp_path / "deploy")
    os.chmod(source / "models" / "weights.bin", 0o444)
    (source / "frozen").mkdir()
    (source / "frozen" / "config.yaml").write_text("a: 1\n")
    os.chmod(source / "frozen" / "config.yaml", 0o400)
    os.chmod(source / "frozen", 0o555)
    os.chmod(source / "run.sh", 0o4777)  # set-uid and world-writable: never restored as such
    drive = tmp_path / "drive"
    drive.mkdir()
    try:
        assert cli("pack", source, drive, "--no-prompt").code == 0
        out = tmp_path / "out"
        assert cli("unpack", drive, out, "--no-prompt").code == 0
        restored = out / "deploy"
        modes = {p.relative_to(restored).as_posix(): oct(p.lstat().st_mode & 0o7777)
                 for p in restored.rglob("*") if not p.is_symlink()}
        assert modes["models/weights.bin"] == "0o444" and modes["frozen"] == "0o555"
        assert modes["frozen/config.yaml"] == "0o400" and modes["run.sh"] == "0o755"
        assert modes["models"] == "0o750"
        replaced = cli("unpack", drive, out, "--no-prompt", "--force")  # a read-only tree is still replaceable
        assert replaced.code == 0, replaced.output
    finally:
        os.chmod(source / "frozen", 0o755)
