"""Files from a drive are opened only if they are regular files at open time."""

from __future__ import annotations

import os

import pytest

from airgap_transfer.media import fsio


def test_open_regular_reads_a_regular_file(tmp_path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    fd = fsio.open_regular(path)
    try:
        assert os.read(fd, 10) == b"abc"
    finally:
        os.close(fd)


def test_fifo_swapped_in_neither_blocks_nor_opens(tmp_path) -> None:
    path = tmp_path / "chunk"
    os.mkfifo(path)  # no writer: a plain blocking open would hang here forever
    with pytest.raises(OSError, match="not a regular file"):
        fsio.open_regular(path)


def test_symlink_is_refused(tmp_path) -> None:
    target = tmp_path / "real"
    target.write_bytes(b"x")
    (tmp_path / "link").symlink_to(target)
    with pytest.raises(OSError):
        fsio.open_regular(tmp_path / "link")


def test_device_is_refused() -> None:
    with pytest.raises(OSError, match="not a regular file"):
        fsio.open_regular("/dev/zero")


def test_hash_file_bounded_refuses_a_fifo(tmp_path) -> None:
    path = tmp_path / "chunk"
    os.mkfifo(path)
    with pytest.raises(OSError):
        fsio.hash_file_bounded(path, 10, bytearray(64))


def test_hash_file_bounded_stops_one_past_the_length(tmp_path) -> None:
    path = tmp_path / "chunk"
    path.write_bytes(b"x" * 1000)
    _, seen = fsio.hash_file_bounded(path, 10, bytearray(64))
    assert seen == 11
