"""The optimised paths give the bytes and digests of a simple reference.

Single-threaded BLAKE3 in a two-thread pipeline (or inline for small
streams), the streamed index packing and parsing, and small chunks read back
inline: each is compared with the plainest way to compute the same thing, and
with stock b3sum where it is installed.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess

import blake3
import msgpack
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airgap_transfer import limits
from airgap_transfer.engine.io import pipeline
from airgap_transfer.engine.io.digests import Digests
from airgap_transfer.engine.pack.packer import PackConfig, pack
from airgap_transfer.format import layout, serialization
from airgap_transfer.format.index import Chunk, Drive, Index
from tests.conftest import transfer_folder

needs_b3sum = pytest.mark.skipif(shutil.which("b3sum") is None, reason="needs stock b3sum (Debian: b3sum)")


@settings(max_examples=25, deadline=None)
@given(size=st.integers(min_value=0, max_value=2**21), buffer=st.integers(min_value=1000, max_value=2**20),
       count=st.integers(min_value=1, max_value=4), limit_cut=st.integers(min_value=0, max_value=2**20))
def test_pumped_digests_equal_one_shot_hashes(size, buffer, count, limit_cut):
    """Whatever the ring (inline or threaded) and limit, tap sees the bytes in order, once each."""
    data = os.urandom(size)
    limit = max(0, size - limit_cut) if limit_cut % 3 else -1
    expected = data if limit < 0 else data[:limit]
    view, position = memoryview(data), 0

    def fill(target: memoryview) -> int:
        nonlocal position
        n = min(len(target), len(view) - position)
        target[:n] = view[position:position + n]
        position += n
        return n

    digests, written = Digests(sha256=True), bytearray()
    moved = pipeline.pump(fill, written.extend, digests.update, limit, pipeline.Ring(count, buffer))
    assert moved == len(expected) and bytes(written) == expected
    assert digests.hexdigest() == blake3.blake3(expected).hexdigest()
    assert digests.sha256_hexdigest() == hashlib.sha256(expected).hexdigest()


@needs_b3sum
@pytest.mark.parametrize("size", [0, 1, 1023, 1024, 1025, 2**20 - 1, 2 * 2**20 + 7, 5 * 2**20 + 3])
def test_single_threaded_blake3_matches_stock_b3sum(tmp_path, size):
    path = tmp_path / "f"
    path.write_bytes(os.urandom(size))
    stock = subprocess.run(["b3sum", "--no-names", str(path)], capture_output=True, text=True, check=True)
    ours = Digests()
    with open(path, "rb") as handle:
        for piece in iter(lambda: handle.read(65_537), b""):
            ours.update(piece)
    assert ours.hexdigest() == stock.stdout.strip()


TID = "0123456789abcdef" * 2
hex64 = st.text("0123456789abcdef", min_size=64, max_size=64)


@st.composite
def indexes(draw) -> Index:
    lengths = draw(st.lists(st.integers(min_value=1, max_value=2**40), min_size=0, max_size=40))
    chunks, offset = [], 0
    for seq, length in enumerate(lengths, start=1):
        encoding = draw(st.sampled_from(["none", "zstd"]))
        stored = length if encoding == "none" else draw(st.integers(min_value=1, max_value=2**40))
        digest = draw(hex64)
        chunks.append(Chunk(seq=seq, offset=offset, length=length, blake3=digest,
                            file=layout.chunk_file_name(TID, seq, encoding), drive=draw(st.integers(1, 3)),
                            encoding=encoding, stored_length=stored,
                            stored_blake3=digest if encoding == "none" else draw(hex64),
                            sha256=draw(st.none() | hex64)))
        offset += length
    return Index(transfer_id=TID, bundle_name="bundle.bin", bundle_size=offset, bundle_blake3=draw(hex64),
                 created="2026-12-03T04:00:00Z", tool="airgap-transfer test", signer="00" * 8, final=True,
                 compression="auto", bundle_sha256=draw(st.none() | hex64), chunks=chunks,
                 drives=[Drive(ordinal=n, label=f"USB{n}") for n in (1, 2, 3)])


@settings(max_examples=60, deadline=None)
@given(index=indexes())
def test_streamed_index_bytes_and_parse_equal_the_whole_document_reference(index):
    reference = serialization.dumps(index.to_dict())
    assert bytes(index.to_bytes()) == reference
    assert b"".join(index.to_pieces()) == reference   # what pack writes to a drive, a piece at a time
    assert Index.from_bytes(reference) == Index.from_dict(serialization.loads(reference, limit=2**26)) == index
    assert Index.from_bytes(io.BytesIO(reference)) == index  # parsed from a (private) file of the bytes


def test_an_index_with_its_chunks_before_its_version_parses_the_same():
    """Streaming converts chunks early only when magic and version came first; any order still parses."""
    index = Index(transfer_id=TID, bundle_name="b", bundle_size=5, bundle_blake3="a" * 64,
                  created="2026-12-03T04:00:00Z", tool="t", signer="00" * 8, final=True,
                  chunks=[Chunk(1, 0, 5, "b" * 64, layout.chunk_file_name(TID, 1), 1)])
    document = index.to_dict()
    reordered = {"chunks": document.pop("chunks"), **document}
    data = msgpack.packb(reordered, use_bin_type=True)
    assert Index.from_bytes(data) == index


@pytest.mark.parametrize("bad", [
    {"chunks": [{"seq": 1}]},                                        # a chunk map missing fields
    {"chunks": [1, 2]},                                              # items that are not maps
    {"chunks": {"1": 2}},                                            # not a list at all
])
def test_streamed_parse_still_refuses_malformed_chunks(bad):
    index = Index(transfer_id=TID, bundle_name="b", bundle_size=0, bundle_blake3="a" * 64,
                  created="2026-12-03T04:00:00Z", tool="t", signer="00" * 8, final=True)
    data = msgpack.packb({**index.to_dict(), **bad}, use_bin_type=True)
    with pytest.raises(Exception) as caught:
        Index.from_bytes(data)
    assert type(caught.value).__name__ == "FormatError"


def test_streamed_parse_refuses_a_duplicate_top_level_key():
    index = Index(transfer_id=TID, bundle_name="b", bundle_size=0, bundle_blake3="a" * 64,
                  created="2026-12-03T04:00:00Z", tool="t", signer="00" * 8, final=True)
    packed = serialization.dumps(index.to_dict())
    # A map announcing one more entry, whose extra entry repeats "final" with another value.
    header_len = 1
    assert packed[0] & 0xF0 == 0x80
    twisted = bytes([packed[0] + 1]) + packed[header_len:] + msgpack.packb("final") + msgpack.packb(False)
    with pytest.raises(Exception, match="duplicate key"):
        Index.from_bytes(twisted)


@needs_b3sum
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(size=st.integers(min_value=1, max_value=300_000), chunk_size=st.integers(min_value=4096, max_value=70_000),
       compress=st.sampled_from(["none", "zstd"]))
def test_small_chunks_are_plain_slices_or_frames_and_pass_stock_b3sum(tmp_path_factory, size, chunk_size, compress):
    """Small chunks take the inline paths (no pipeline thread, read-back in the caller's thread)."""
    work = tmp_path_factory.mktemp("small")
    data = os.urandom(size // 2) + b"compressible " * (size // 26) + os.urandom(size - size // 2 - 13 * (size // 26))
    source = work / "bundle.bin"
    source.write_bytes(data)
    drive = work / "drive"
    drive.mkdir()
    result = pack(PackConfig(source=str(source), destinations=[drive], chunk_size=chunk_size, compress=compress))
    folder = transfer_folder(drive)
    rebuilt = bytearray()
    for chunk in result.chunks:
        stored = (folder / chunk.file).read_bytes()
        plain = zstandard.ZstdDecompressor().decompressobj().decompress(stored) if chunk.encoding == "zstd" else stored
        assert plain == data[chunk.offset:chunk.offset + chunk.length]
        assert chunk.blake3 == blake3.blake3(plain).hexdigest()
        assert chunk.stored_blake3 == blake3.blake3(stored).hexdigest() and chunk.stored_length == len(stored)
        rebuilt += plain
    assert bytes(rebuilt) == data and result.bundle_blake3 == blake3.blake3(data).hexdigest()
    check = subprocess.run(["b3sum", "-c", layout.B3SUMS_NAME], cwd=folder, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_streamed_parse_reports_too_many_chunks_before_looking_at_them():
    index = Index(transfer_id=TID, bundle_name="b", bundle_size=0, bundle_blake3="a" * 64,
                  created="2026-12-03T04:00:00Z", tool="t", signer="00" * 8, final=True)
    data = msgpack.packb({**index.to_dict(), "chunks": [None] * (limits.MAX_CHUNKS + 1)}, use_bin_type=True)
    with pytest.raises(Exception, match=f"at most {limits.MAX_CHUNKS}"):
        Index.from_bytes(data)


@pytest.mark.parametrize("bad", [b"", b"\x81", b"\x91\x01", b"\x82\xa1a\x01\xa1a\x02", b"\x80\x00"],
                         ids=["empty", "truncated", "not-a-map", "duplicate-key", "trailing"])
def test_a_file_is_refused_exactly_as_the_same_bytes_are(bad):
    """The spilled-copy path parses a file: every refusal of the bytes path holds for it too."""
    messages = []
    for data in (bad, io.BytesIO(bad)):
        with pytest.raises(Exception) as caught:
            serialization.loads(data, what="index", limit=2**20, stream=("chunks", lambda item, head: item, 10))
        assert type(caught.value).__name__ == "FormatError"
        messages.append(str(caught.value))
    assert messages[0] == messages[1]


def test_an_index_over_the_limit_is_refused_while_it_is_written():
    index = Index(transfer_id=TID, bundle_name="b", bundle_size=5, bundle_blake3="a" * 64,
                  created="2026-12-03T04:00:00Z", tool="t", signer="00" * 8, final=True,
                  chunks=[Chunk(1, 0, 5, "b" * 64, layout.chunk_file_name(TID, 1), 1)])
    size = len(index.to_bytes())
    index.check_size(size)
    with pytest.raises(Exception, match="over the"):
        index.check_size(limits.MAX_INDEX_BYTES + 1)
