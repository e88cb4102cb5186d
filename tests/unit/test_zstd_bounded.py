"""Bounded zstd decoding of hostile chunk files."""

from __future__ import annotations

import os
import shutil
import subprocess

import blake3
import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from airgap_transfer.engine.io.zstd_bounded import BadChunk, decode_chunk

BUFFER = memoryview(bytearray(64 * 1024))


def decode(path, stored_length: int, length: int, **kwargs) -> tuple[bytes, str]:
    out = bytearray()
    stored = blake3.blake3()
    fd = os.open(path, os.O_RDONLY)
    try:
        decode_chunk(fd, stored_length, length, BUFFER, out.extend, stored, **kwargs)
    finally:
        os.close(fd)
    return bytes(out), stored.hexdigest()


def write(tmp_path, data: bytes, name: str = "c.zst"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_round_trip_and_stored_digest(tmp_path) -> None:
    plain = os.urandom(300_000) + bytes(300_000)
    frame = zstandard.ZstdCompressor(level=3).compress(plain)
    out, stored = decode(write(tmp_path, frame), len(frame), len(plain))
    assert out == plain
    assert stored == blake3.blake3(frame).hexdigest()


def test_bomb_stops_one_byte_past_declared_length(tmp_path) -> None:
    """32 MiB of zeros in a few KiB; the frame declares its true size, the index says 1 MiB."""
    frame = zstandard.ZstdCompressor(level=19).compress(bytes(32 * 2**20))
    assert len(frame) < 64 * 1024
    with pytest.raises(BadChunk, match="more than the 1048576 bytes"):
        decode(write(tmp_path, frame), len(frame), 2**20)


def test_frame_without_content_size_is_still_bounded(tmp_path) -> None:
    compressor = zstandard.ZstdCompressor(write_content_size=False)
    frame = compressor.compress(bytes(4 * 2**20))
    with pytest.raises(BadChunk, match="more than"):
        decode(write(tmp_path, frame), len(frame), 2**20)


def test_short_output_is_refused(tmp_path) -> None:
    frame = zstandard.ZstdCompressor().compress(b"x" * 1000)
    with pytest.raises(BadChunk, match="1000 of 1001"):
        decode(write(tmp_path, frame), len(frame), 1001)


def test_truncated_frame(tmp_path) -> None:
    frame = zstandard.ZstdCompressor().compress(os.urandom(100_000))[:-100]
    with pytest.raises(BadChunk):
        decode(write(tmp_path, frame), len(frame), 100_000)


def test_overlong_compressed_file(tmp_path) -> None:
    frame = zstandard.ZstdCompressor().compress(b"y" * 5000)
    with pytest.raises(BadChunk, match="longer than"):
        decode(write(tmp_path, frame + b"\0" * 10), len(frame), 5000)


def test_trailing_garbage_within_declared_length(tmp_path) -> None:
    frame = zstandard.ZstdCompressor().compress(b"z" * 5000)
    with pytest.raises(BadChunk):
        decode(write(tmp_path, frame + b"junk"), len(frame) + 4, 5000)


def test_window_over_the_cap_is_refused(tmp_path) -> None:
    params = zstandard.ZstdCompressionParameters.from_level(3, window_log=24, enable_ldm=True)
    frame = zstandard.ZstdCompressor(compression_params=params).compress(os.urandom(2**20) * 3)
    with pytest.raises(BadChunk, match="not a valid zstd frame"):
        decode(write(tmp_path, frame), len(frame), 3 * 2**20, max_window_size=2**20)


@pytest.mark.skipif(shutil.which("zstd") is None, reason="needs the zstd tool (apt: zstd)")
def test_frame_from_stock_zstd(tmp_path) -> None:
    plain = write(tmp_path, os.urandom(200_000) + bytes(200_000), "plain")
    subprocess.run(["zstd", "-q", "-19", str(plain), "-o", str(tmp_path / "c.zst")], check=True)
    frame_path = tmp_path / "c.zst"
    out, _ = decode(frame_path, frame_path.stat().st_size, 400_000)
    assert out == plain.read_bytes()


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=2000), st.integers(0, 10_000))
def test_arbitrary_bytes_never_escape(tmp_path_factory, data: bytes, length: int) -> None:
    path = write(tmp_path_factory.mktemp("z"), data)
    try:
        out, _ = decode(path, len(data), length)
    except BadChunk:
        return
    assert len(out) == length
