"""The directory tar stream: deterministic, faithful, seekable, strict."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from airgap_transfer.engine.pack.dirsource import DirectoryStream
from airgap_transfer.errors import UsageError


def make_tree(root: Path) -> Path:
    (root / "b-dir" / "empty").mkdir(parents=True)
    (root / "a.txt").write_bytes(b"hello\n")
    (root / "b-dir" / "data.bin").write_bytes(os.urandom(70_001))
    (root / "b-dir" / "run.sh").write_bytes(b"#!/bin/sh\n")
    os.chmod(root / "b-dir" / "run.sh", 0o755)
    os.chmod(root / "b-dir", 0o750)
    (root / "link").symlink_to("b-dir/data.bin")
    os.utime(root / "a.txt", (1_600_000_000, 1_600_000_000))
    return root


def read_all(stream: DirectoryStream, block: int = 4096) -> bytes:
    out = bytearray()
    buffer = bytearray(block)
    while got := stream.readinto(memoryview(buffer)):
        out += buffer[:got]
    return bytes(out)


def test_same_tree_gives_identical_bytes_and_declared_size(tmp_path):
    root = make_tree(tmp_path / "tree")
    with DirectoryStream(root, "tree") as first:
        one = read_all(first, 4096)
        assert len(one) == first.size
    os.utime(root / "a.txt", None, ns=(5, 1_600_000_000 * 10**9))  # atime only: no change
    with DirectoryStream(root, "tree") as second:
        assert read_all(second, 1000) == one
    assert len(one) % tarfile.RECORDSIZE == 0


def test_members_are_sorted_normalised_and_faithful(tmp_path):
    root = make_tree(tmp_path / "tree")
    with DirectoryStream(root, "tree") as stream:
        data = read_all(stream)
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        members = archive.getmembers()
        names = [m.name for m in members]
        assert names == ["tree", "tree/a.txt", "tree/b-dir", "tree/b-dir/data.bin",
                         "tree/b-dir/empty", "tree/b-dir/run.sh", "tree/link"]
        by_name = {m.name: m for m in members}
        assert all(m.uid == 0 and m.gid == 0 and m.uname == "" and m.gname == "" for m in members)
        assert by_name["tree/a.txt"].mtime == 1_600_000_000
        assert by_name["tree/b-dir"].mode == 0o750 and by_name["tree/b-dir"].isdir()
        assert by_name["tree/b-dir/run.sh"].mode == 0o755
        assert by_name["tree/b-dir/empty"].isdir()
        assert by_name["tree/link"].issym() and by_name["tree/link"].linkname == "b-dir/data.bin"
        assert archive.extractfile("tree/b-dir/data.bin").read() == (root / "b-dir" / "data.bin").read_bytes()


def test_seek_then_read_matches_the_stream(tmp_path):
    root = make_tree(tmp_path / "tree")
    with DirectoryStream(root, "tree") as stream:
        whole = read_all(stream)
        for position in (0, 1, 511, 512, 1500, 70_000, len(whole) - 3, len(whole)):
            stream.seek(position)
            assert stream.tell() == position
            assert read_all(stream, 777) == whole[position:]


def test_special_files_are_refused(tmp_path):
    root = tmp_path / "tree"
    root.mkdir()
    os.mkfifo(root / "pipe")
    with pytest.raises(UsageError, match="device, socket or pipe"):
        DirectoryStream(root, "tree")


def test_a_file_that_shrinks_while_read_is_an_error(tmp_path):
    root = make_tree(tmp_path / "tree")
    with DirectoryStream(root, "tree") as stream:
        (root / "b-dir" / "data.bin").write_bytes(b"short")
        with pytest.raises(UsageError, match="shrank"):
            read_all(stream)
