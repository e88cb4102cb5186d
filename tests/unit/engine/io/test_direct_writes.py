"""Plain chunks are written around the page cache where the file system allows, and always exactly."""

from __future__ import annotations

import errno
import fcntl
import os
import subprocess
from pathlib import Path

import blake3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airgap_transfer.engine.io import chunk_io, direct, pipeline
from airgap_transfer.engine.io.digests import Digests
from tests.conftest import IS_ROOT
from tests.unit.engine.io.conftest import mount


def _is_direct(fd: int) -> bool:
    return bool(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT)


def _write_through_ring(path: Path, data: bytes, direct_io: bool = True) -> direct.Writer:
    """Write ``data`` as pack does: whole ring buffers, then the short rest."""
    ring = pipeline.Ring(2)
    fd = direct.create(path, direct=direct_io)
    try:
        writer = direct.Writer(fd)
        for start in range(0, len(data), len(ring.views[0])):
            piece = data[start:start + len(ring.views[0])]
            ring.views[0][:len(piece)] = piece
            writer.write(ring.views[0][:len(piece)])
        os.fsync(fd)
    finally:
        os.close(fd)
    return writer


def test_a_plain_chunk_goes_to_the_medium_directly_until_its_short_last_write(ext4):
    point, _image = ext4
    data = os.urandom(3 * 2**20 + 123)
    fd = direct.create(point / "chunk", direct=True)
    try:
        assert _is_direct(fd)
        writer = direct.Writer(fd)
        ring = pipeline.Ring(2)
        for start in range(0, 3 * 2**20, 2**20):
            ring.views[0][:] = data[start:start + 2**20]
            writer.write(ring.views[0])
        assert writer.direct and _is_direct(fd)
        ring.views[1][:123] = data[-123:]
        writer.write(ring.views[1][:123])
        assert not writer.direct and not _is_direct(fd)   # the tail went through the cache
        os.fsync(fd)
    finally:
        os.close(fd)
    assert (point / "chunk").read_bytes() == data


def test_an_unaligned_buffer_is_written_through_the_cache_instead(ext4):
    """The kernel refuses a direct write from misaligned memory (EINVAL); the bytes still land, once."""
    point, _image = ext4
    data = os.urandom(8192)
    backing = bytearray(8192 + 1)
    backing[1:] = data
    fd = direct.create(point / "chunk", direct=True)
    try:
        writer = direct.Writer(fd)
        writer.write(memoryview(backing)[1:])   # aligned length and offset, memory one byte off
        assert not writer.direct
        os.fsync(fd)
    finally:
        os.close(fd)
    assert (point / "chunk").read_bytes() == data


def test_a_full_medium_is_an_error_not_a_short_file(ext4):
    point, _image = ext4
    with pytest.raises(OSError) as raised:
        _write_through_ring(point / "chunk", os.urandom(40 * 2**20))   # the file system holds 32 MiB
    assert raised.value.errno == errno.ENOSPC


def test_a_file_system_without_direct_io_is_written_normally(tmp_path):
    if not IS_ROOT:
        pytest.skip("needs root to mount ramfs")
    made: list = []
    point = mount(tmp_path, made, "mount", "-t", "ramfs", "ramfs")
    try:
        data = os.urandom(2**20 + 7)
        fd = direct.create(point / "chunk", direct=True)
        try:
            assert not _is_direct(fd)
        finally:
            os.close(fd)
        (point / "chunk").unlink()
        writer = _write_through_ring(point / "chunk", data)
        assert not writer.direct
        assert (point / "chunk").read_bytes() == data
    finally:
        subprocess.run(["umount", str(point)], capture_output=True)


def test_create_refuses_to_replace_a_file(tmp_path):
    (tmp_path / "chunk").write_bytes(b"earlier")
    for direct_io in (True, False):
        with pytest.raises(FileExistsError):
            direct.create(tmp_path / "chunk", direct=direct_io)
    assert (tmp_path / "chunk").read_bytes() == b"earlier"


def test_only_plain_chunks_ask_for_direct_writes(tmp_path):
    fd = direct.create(tmp_path / "plain", direct=False)
    try:
        assert not _is_direct(fd)
    finally:
        os.close(fd)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sizes=st.lists(st.one_of(st.integers(0, 3 * 4096), st.sampled_from([4096, 8192, 2**20]),
                                st.integers(1, 2**20)), max_size=12))
def test_the_file_is_the_writes_in_order_whatever_their_sizes(tmp_path_factory, sizes):
    """Aligned and unaligned writes in any mix (a pipe's short reads) give exactly their bytes."""
    path = tmp_path_factory.mktemp("w") / "chunk"
    ring = pipeline.Ring(1, 2**20)
    expected = bytearray()
    fd = direct.create(path, direct=True)
    try:
        writer = direct.Writer(fd)
        for size in sizes:
            piece = os.urandom(size)
            ring.views[0][:size] = piece
            writer.write(ring.views[0][:size])
            expected += piece
        os.fsync(fd)
    finally:
        os.close(fd)
    assert path.read_bytes() == expected


def test_write_chunk_file_is_exact_and_proven_on_a_block_device(ext4):
    """The whole path pack takes for a plain chunk: direct writes, fsync, rename, read-back."""
    point, _image = ext4
    source = point / "source"
    data = os.urandom(5 * 2**20 + 4095)
    source.write_bytes(data)
    ring = pipeline.Ring()
    whole = Digests()
    with open(source, "rb") as handle:
        stored = chunk_io.write_chunk_file(point / "chunk", lambda view: handle.readinto(view), len(data), whole,
                                           ring, "none", len(data), lambda _n: None)
    assert stored.length == stored.stored_length == len(data)
    assert stored.blake3 == blake3.blake3(data).hexdigest() == whole.hexdigest()
    assert (point / "chunk").read_bytes() == data
    assert not [p for p in point.iterdir() if p.name.startswith(".")]   # no temp file left
    assert chunk_io.read_back(point / "chunk", len(data), stored.blake3, ring, what="chunk") == direct.DIRECT
