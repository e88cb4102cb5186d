"""Read-back comes from the medium: O_DIRECT on block-device file systems, a clean fallback elsewhere."""

from __future__ import annotations

import mmap
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import blake3
import pytest

from airgap_transfer.engine.io import direct, pipeline, readback
from airgap_transfer.errors import IntegrityError
from tests.conftest import IS_ROOT


def _mount(tmp_path: Path, made: list, *command: str) -> Path:
    point = tmp_path / f"mnt-{uuid.uuid4().hex[:6]}"
    point.mkdir()
    result = subprocess.run([*command, str(point)], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount {command[1:3]} here: {result.stderr.strip()}")
    made.append(("umount", point))
    return point


@pytest.fixture
def ext4(tmp_path):
    """An ext4 image on a loop device: a file system on a block device, as a USB disk is."""
    if not IS_ROOT:
        pytest.skip("needs root for loop devices")
    if not (shutil.which("mkfs.ext4") and shutil.which("losetup")):
        pytest.skip("needs mkfs.ext4 (e2fsprogs) and losetup")
    made: list = []
    image = tmp_path / "ext4.img"
    subprocess.run(["truncate", "-s", "32M", str(image)], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], check=True, capture_output=True)
    loop = subprocess.run(["losetup", "-f", "--show", str(image)], capture_output=True, text=True)
    if loop.returncode != 0:
        pytest.skip(f"no loop device available: {loop.stderr.strip()}")
    made.append(("losetup", loop.stdout.strip()))
    point = _mount(tmp_path, made, "mount", "-t", "ext4", loop.stdout.strip())
    yield point, image
    for kind, what in reversed(made):
        subprocess.run(["umount", str(what)] if kind == "umount" else ["losetup", "-d", what], capture_output=True)


def _write(path: Path, data: bytes) -> str:
    with open(path, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    return blake3.blake3(data).hexdigest()


def test_block_device_file_system_is_read_directly(ext4):
    point, _image = ext4
    data = os.urandom(3 * 2**20 + 123)   # not a multiple of the block: the last read is short
    digest = _write(point / "chunk", data)
    ring = pipeline.Ring(2)
    assert readback.read_back(point / "chunk", len(data), digest, ring, what="chunk") == direct.DIRECT


def test_corruption_under_a_cache_that_cannot_be_dropped_is_caught(ext4):
    """The medium changes under pages the cache keeps (mapped by another process): read-back sees it.

    Dropping the cache cannot evict mapped pages, so a buffered read-back
    would hash the good bytes still in RAM and prove a corrupt chunk.
    """
    point, image = ext4
    data = os.urandom(2**20)
    digest = _write(point / "chunk", data)
    with open(point / "chunk", "rb") as held:
        mapped = mmap.mmap(held.fileno(), 0, prot=mmap.PROT_READ)
        try:
            assert mapped[:4096] == data[:4096]    # the pages are cached and mapped
            raw = image.read_bytes()
            where = raw.find(data[:64])
            assert where >= 0 and raw.find(data[:64], where + 1) < 0
            with open(image, "r+b") as medium:   # the medium flips a bit behind the cache's back
                medium.seek(where + 100)
                medium.write(bytes([data[100] ^ 0x01]))
                medium.flush()
                os.fsync(medium.fileno())
            with pytest.raises(IntegrityError, match="does not match what was written"):
                readback.read_back(point / "chunk", len(data), digest, pipeline.Ring(2), what="chunk")
            assert mapped[100] == data[100]        # the cache alone would have vouched for it
        finally:
            mapped.close()


def test_file_system_refusing_o_direct_falls_back_to_a_dropped_cache(tmp_path):
    if not IS_ROOT:
        pytest.skip("needs root to mount ramfs")
    made: list = []
    point = _mount(tmp_path, made, "mount", "-t", "ramfs", "ramfs")
    try:
        data = os.urandom(2**20 + 5)
        digest = _write(point / "chunk", data)
        ring = pipeline.Ring(2)
        assert readback.read_back(point / "chunk", len(data), digest, ring, what="chunk") == direct.CACHE_DROPPED
        (point / "chunk").write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
        with pytest.raises(IntegrityError, match="does not match"):
            readback.read_back(point / "chunk", len(data), digest, ring, what="chunk")
    finally:
        subprocess.run(["umount", str(point)], capture_output=True)


@pytest.mark.parametrize("size,limit,expected", [
    (0, 0, 0), (1, 1, 1), (4096, 4096, 4096), (5000, 4999, 5000), (3 * 2**20, 2**20, 2 * 2**20),
])
def test_reading_stops_within_one_buffer_past_the_limit(tmp_path, size, limit, expected):
    """A file longer than declared is named, not read to its end; bytes past the limit are not consumed."""
    path = tmp_path / "f"
    path.write_bytes(os.urandom(size))
    consumed = []
    seen, _ = direct.read_uncached(path, limit, lambda view: consumed.append(len(view)),
                                   pipeline.Ring(1, 2**20).views[0])
    assert seen == min(size, expected)
    assert sum(consumed) == min(size, limit)


def test_a_short_file_is_reported_short(tmp_path):
    path = tmp_path / "f"
    data = os.urandom(10_000)
    path.write_bytes(data)
    with pytest.raises(IntegrityError, match="gave 10000 bytes, 10001 were written"):
        readback.read_back(path, 10_001, blake3.blake3(data).hexdigest(), pipeline.Ring(1), what="chunk")
