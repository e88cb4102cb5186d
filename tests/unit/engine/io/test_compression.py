"""compression: the auto decision, the stored-size bound, the bounded decoder."""

from __future__ import annotations

import os

import blake3
import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from airgap_transfer.engine.io import chunk_io, compression, pipeline
from airgap_transfer.format.index import Chunk

TEXT = b"".join(b"2026-11-21 host%d GET /api/v1/items/%d 200 OK\n" % (n % 7, n) for n in range(100_000))


@given(cap=st.integers(min_value=0, max_value=2**42))
def test_plain_limit_leaves_room_for_the_worst_frame(cap):
    limit = compression.plain_limit(cap)
    assert limit >= 0
    if limit:
        assert compression.compress_bound(limit) + compression.FRAME_SLACK <= cap
    if cap > 2**20:
        assert limit > cap * 0.99 - 8192  # and wastes almost nothing


def _fd_pipe_source(data: bytes):
    view = memoryview(data)
    position = 0

    def fill(target):
        nonlocal position
        n = min(len(target), len(view) - position)
        target[:n] = view[position:position + n]
        position += n
        return n
    return fill


@settings(max_examples=8, deadline=None)
@given(cap=st.integers(min_value=2**20, max_value=3 * 2**20))
def test_an_incompressible_frame_never_exceeds_its_cap(tmp_path_factory, cap):
    data = os.urandom(cap)  # more than fits: the limit, not the data, ends the chunk
    path = tmp_path_factory.mktemp("frame") / "chunk.zst"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        stored = chunk_io.write_chunk(_fd_pipe_source(data), fd, compression.plain_limit(cap),
                                      blake3.blake3(), pipeline.Ring(3, 300_000), "zstd", cap, lambda n: None)
    finally:
        os.close(fd)
    assert stored.stored_length == path.stat().st_size <= cap
    assert stored.length == compression.plain_limit(cap)
    assert zstandard.ZstdDecompressor().decompressobj().decompress(path.read_bytes()) == data[:stored.length]


def test_decide_honours_the_mode_and_samples_on_auto(tmp_path):
    text = tmp_path / "logs.txt"
    text.write_bytes(TEXT)
    noise = tmp_path / "noise.bin"
    noise.write_bytes(os.urandom(2**20))
    with open(text, "rb") as t, open(noise, "rb") as n:
        assert compression.decide("auto", "logs.txt", os.pread(t.fileno(), compression.SAMPLE_SIZE, 0)) == compression.Decision("zstd", "auto:zstd")
        assert compression.decide("auto", "noise.bin", os.pread(n.fileno(), compression.SAMPLE_SIZE, 0)).encoding == "none"
        assert compression.decide("auto", "noise.bin", os.pread(n.fileno(), compression.SAMPLE_SIZE, 0)).recorded == "auto:none:incompressible"
        # a name that says "already compressed" is not even sampled
        assert compression.decide("auto", "model.safetensors", os.pread(t.fileno(), compression.SAMPLE_SIZE, 0)).recorded == "auto:none:precompressed"
        assert compression.decide("auto", "x.TAR.GZ", os.pread(t.fileno(), compression.SAMPLE_SIZE, 0)).encoding == "none"
        assert compression.decide("zstd", "noise.bin", os.pread(n.fileno(), compression.SAMPLE_SIZE, 0)).encoding == "zstd"
        assert compression.decide("none", "logs.txt", os.pread(t.fileno(), compression.SAMPLE_SIZE, 0)).encoding == "none"
    assert compression.decide("auto", "stdin.bin", None).encoding == "none"


def _chunk_for(plain: bytes, stored: bytes) -> Chunk:
    return Chunk(seq=1, offset=0, length=len(plain), blake3=blake3.blake3(plain).hexdigest(),
                 file="000000000000-000001.chunk.zst", drive=1, encoding="zstd",
                 stored_length=len(stored), stored_blake3=blake3.blake3(stored).hexdigest())


def _read(tmp_path, chunk: Chunk, stored: bytes) -> tuple[str | None, bytes]:
    src = tmp_path / "chunk.zst"
    src.write_bytes(stored)
    out = tmp_path / "out"
    out_fd = os.open(out, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    fd = os.open(src, os.O_RDONLY)
    try:
        problem = chunk_io.read_chunk(fd, chunk, blake3.blake3(), out_fd, pipeline.Ring(2, 2**16), lambda n: None)
    finally:
        os.close(fd)
        os.close(out_fd)
    return problem, out.read_bytes()


def test_a_good_frame_decodes(tmp_path):
    stored = zstandard.ZstdCompressor().compress(TEXT)
    problem, out = _read(tmp_path, _chunk_for(TEXT, stored), stored)
    assert problem is None and out == TEXT


def test_a_zstd_bomb_stops_one_byte_past_the_declared_length(tmp_path):
    bomb = zstandard.ZstdCompressor(level=19).compress(bytes(200 * 2**20))  # ~6 KiB on disk
    chunk = _chunk_for(b"small" * 1000, bomb)   # even with its stored digest signed
    problem, out = _read(tmp_path, chunk, bomb)
    assert problem and "longer than" in problem
    assert len(out) <= chunk.length + 2**16      # at most one buffer ever reached the output


def test_a_frame_declaring_a_small_size_but_overlong_is_refused(tmp_path):
    plain = TEXT[:10_000]
    real = zstandard.ZstdCompressor(write_content_size=True).compress(TEXT)
    problem, _ = _read(tmp_path, _chunk_for(plain, real), real)
    assert problem and "longer than" in problem


@pytest.mark.parametrize("window_log", [25, 27])  # just above limits.MAX_ZSTD_WINDOW (2^24), and far above
def test_a_frame_asking_for_a_huge_window_is_refused(tmp_path, window_log):
    params = zstandard.ZstdCompressionParameters(window_log=window_log, enable_ldm=True, compression_level=3)
    stream = zstandard.ZstdCompressor(compression_params=params).compressobj()  # no content size:
    greedy = stream.compress(TEXT * 2) + stream.flush()                          # the window stays 128 MiB
    problem, _ = _read(tmp_path, _chunk_for(TEXT * 2, greedy), greedy)
    assert problem and "zstd" in problem


def test_trailing_bytes_after_the_frame_are_caught(tmp_path):
    frame = zstandard.ZstdCompressor().compress(TEXT)
    chunk = _chunk_for(TEXT, frame)
    problem, out = _read(tmp_path, chunk, frame + b"junk")
    assert problem in ("stored bytes do not match the signed index",
                       "not a valid zstd frame (zstd decompress error: Unknown frame descriptor)")


def test_garbage_is_not_a_frame(tmp_path):
    junk = os.urandom(5000)
    problem, _ = _read(tmp_path, _chunk_for(TEXT, junk), junk)
    assert problem and problem.startswith("not a valid zstd frame")


def _skippable_frame(payload: bytes) -> bytes:
    return (0x184D2A50).to_bytes(4, "little") + len(payload).to_bytes(4, "little") + payload


@pytest.mark.parametrize("other", [
    "recompressed",      # another frame of the same plain bytes: not the stored bytes that were signed
    "skippable frame",   # a frame the decoder stops before, appended: the plain bytes still match
])
def test_stored_bytes_other_than_the_signed_ones_are_refused_though_they_decode_right(tmp_path, other):
    signed = zstandard.ZstdCompressor(level=3).compress(TEXT)
    stored = (zstandard.ZstdCompressor(level=19, write_checksum=True).compress(TEXT) if other == "recompressed"
              else signed + _skippable_frame(b"hidden"))
    assert stored != signed
    problem, out = _read(tmp_path, _chunk_for(TEXT, signed), stored)
    assert problem == "stored bytes do not match the signed index"
