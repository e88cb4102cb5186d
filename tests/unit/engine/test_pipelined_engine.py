"""The pipelined engine, called as a library, against a simple sequential reference.

The reference is what pack must mean: consecutive plain slices of the source,
each chunk file either the slice itself or one zstd frame of it, digests of
the slice and of the file, and unpack giving the source back byte for byte.
"""

from __future__ import annotations

import os
from pathlib import Path

import blake3
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airgap_transfer.engine.io import compression, pipeline, readback
from airgap_transfer.engine.pack.packer import PackConfig, pack
from airgap_transfer.engine.pack.planning import MIN_CHUNK
from airgap_transfer.engine.unpack import catalog
from airgap_transfer.engine.unpack.unpacker import UnpackConfig, unpack
from airgap_transfer.format import layout
from airgap_transfer.trust import keys
from tests.conftest import default_public_key, transfer_folder

TEXT = b"".join(b"line %d of a log that compresses well, host=h%d\n" % (n, n % 5) for n in range(200_000))


def _source_bytes(kind: str, size: int, seed: int) -> bytes:
    if kind == "random":
        return os.urandom(size)
    start = seed % max(1, len(TEXT) - size) if size < len(TEXT) else 0
    return (TEXT * (1 + size // len(TEXT)))[start:start + size]


def _reference_lengths(size: int, chunk_size: int, encoding: str) -> list[int]:
    step = compression.plain_limit(chunk_size) if encoding == "zstd" else chunk_size
    lengths = []
    while size > 0:
        lengths.append(min(step, size))
        size -= lengths[-1]
    return lengths


def _decode(path: Path, encoding: str) -> bytes:
    data = path.read_bytes()
    if encoding == "zstd":
        return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    return data


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(size=st.integers(min_value=1, max_value=5 * 2**20),
       chunk_size=st.integers(min_value=MIN_CHUNK + 70_000, max_value=3 * 2**20),
       ring_buffer=st.integers(min_value=4096, max_value=3 * 2**20),
       kind=st.sampled_from(["random", "text"]),
       mode=st.sampled_from(["none", "zstd", "auto"]),
       seed=st.integers(min_value=0, max_value=2**20))
def test_pack_and_unpack_match_the_sequential_reference(tmp_path_factory, monkeypatch, size, chunk_size,
                                                        ring_buffer, kind, mode, seed):
    monkeypatch.setattr(pipeline, "RING_BUFFER_SIZE", ring_buffer)  # odd buffer/chunk alignments
    work = tmp_path_factory.mktemp("engine")
    data = _source_bytes(kind, size, seed)
    source = work / "bundle.bin"
    source.write_bytes(data)
    drive = work / "drive"
    drive.mkdir()

    result = pack(PackConfig(source=str(source), destinations=[drive], chunk_size=chunk_size, compress=mode))

    with open(source, "rb") as handle:
        decision = compression.decide(mode, "bundle.bin", os.pread(handle.fileno(), compression.SAMPLE_SIZE, 0))
    lengths = _reference_lengths(size, chunk_size, decision.encoding)
    assert [c.length for c in result.chunks] == lengths
    assert result.bundle_blake3 == blake3.blake3(data).hexdigest()
    folder = transfer_folder(drive)
    offset = 0
    for chunk, length in zip(result.chunks, lengths):
        plain = data[offset:offset + length]
        path = folder / chunk.file
        assert chunk.offset == offset and chunk.encoding == decision.encoding
        assert chunk.file == layout.chunk_file_name(result.transfer_id, chunk.seq, decision.encoding)
        assert chunk.blake3 == blake3.blake3(plain).hexdigest()
        assert chunk.stored_length == path.stat().st_size <= chunk_size
        assert chunk.stored_blake3 == blake3.blake3(path.read_bytes()).hexdigest()
        assert _decode(path, chunk.encoding) == plain
        offset += length

    index = catalog.load_index(catalog.find_transfer([drive], None, _quiet()),
                               keys.trusted_keys([str(default_public_key())]), False, _quiet()).index
    assert index.compression == decision.recorded
    assert [c.to_dict() for c in index.chunks] == [c.to_dict() for c in result.chunks]

    out = work / "out"
    unpacked = unpack(UnpackConfig(sources=[drive], output_dir=out, trust=[str(default_public_key())]))
    assert unpacked.output.read_bytes() == data


def _quiet():
    from airgap_transfer.events import Reporter
    return Reporter(None)


def test_compressible_data_is_stored_smaller(tmp_path):
    source = tmp_path / "logs.txt"
    source.write_bytes(TEXT)
    drive = tmp_path / "drive"
    drive.mkdir()
    result = pack(PackConfig(source=str(source), destinations=[drive], chunk_size=4 * 2**20))
    assert all(c.encoding == "zstd" for c in result.chunks)
    assert sum(c.stored_length for c in result.chunks) < len(TEXT) / 3


def test_read_back_catches_a_medium_that_returns_other_bytes(tmp_path):
    from airgap_transfer.errors import IntegrityError
    path = tmp_path / "chunk"
    data = os.urandom(300_000)
    path.write_bytes(data)
    ring = pipeline.Ring(2, 65536)
    readback.read_back(path, len(data), blake3.blake3(data).hexdigest(), ring, what="chunk 1")
    with pytest.raises(IntegrityError, match="does not match"):
        readback.read_back(path, len(data), blake3.blake3(b"other").hexdigest(), ring, what="chunk 1")
    path.write_bytes(data + b"x")   # a fake-capacity drive may hand back more, or less
    with pytest.raises(IntegrityError, match="more than"):
        readback.read_back(path, len(data), blake3.blake3(data).hexdigest(), ring, what="chunk 1")
    path.write_bytes(data[:-1])
    with pytest.raises(IntegrityError, match="gave 299999 bytes"):
        readback.read_back(path, len(data), blake3.blake3(data).hexdigest(), ring, what="chunk 1")


@pytest.mark.parametrize("mode", ["none", "zstd"])
def test_enospc_mid_chunk_rewinds_the_source_and_moves_the_chunk_on(tmp_path, monkeypatch, mode):
    """The reader runs ahead of the writer; a full drive must still rewind to the chunk's start."""
    monkeypatch.setattr(pipeline, "RING_BUFFER_SIZE", 64 * 1024)
    data = _source_bytes("text", 3 * 2**20 + 12345, 99)
    source = tmp_path / "bundle.bin"
    source.write_bytes(data)
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    real_write = os.write
    calls = {"n": 0}
    fail_at = 5 if mode == "none" else 1  # multi-threaded zstd emits a chunk's frame in few writes

    def write_that_fills_the_first_drive(fd, view):
        target = os.readlink(f"/proc/self/fd/{fd}")
        if target.startswith(str(first)) and ".chunk" in target:
            calls["n"] += 1
            if calls["n"] >= fail_at:
                raise OSError(28, "No space left on device")
        return real_write(fd, view)

    events = []
    os.write = write_that_fills_the_first_drive
    try:
        result = pack(PackConfig(source=str(source), destinations=[first, second], chunk_size=2 * 2**20,
                                 compress=mode), events.append)
    finally:
        os.write = real_write
    assert any(e.kind == "drive-full" for e in events), [(e.kind, e.message) for e in events if e.level != "progress"]
    assert calls["n"] >= fail_at
    assert result.bundle_blake3 == blake3.blake3(data).hexdigest()
    assert {c.drive for c in result.chunks} == {2}  # chunk 1 was moved, not cut short
    assert not list(transfer_folder(first).glob("*.chunk*")) + list(transfer_folder(first).glob(".*tmp*"))
    out = unpack(UnpackConfig(sources=[first, second], output_dir=tmp_path / "out",
                              trust=[str(default_public_key())]))
    assert out.output.read_bytes() == data


def test_a_failed_read_back_stops_pack_before_any_index_is_written(tmp_path, monkeypatch):
    """Read-back runs beside the next chunk's copy, but an index never names an unproven chunk."""
    from airgap_transfer.errors import IntegrityError
    source = tmp_path / "bundle.bin"
    source.write_bytes(os.urandom(3 * 2**20))
    drive = tmp_path / "drive"
    drive.mkdir()
    real = readback.read_back

    def lying_medium(path, length, digest, ring, *, what, stop=None, tap=None):
        if path.name.endswith("000002.chunk"):
            raise IntegrityError(f"read-back of {what} does not match what was written")
        return real(path, length, digest, ring, what=what, stop=stop, tap=tap)

    monkeypatch.setattr(readback, "read_back", lying_medium)
    with pytest.raises(IntegrityError, match="chunk 2"):
        pack(PackConfig(source=str(source), destinations=[drive], chunk_size=MIN_CHUNK, compress="none"))
    assert not list(transfer_folder(drive).glob("index.agt*"))
