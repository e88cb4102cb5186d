"""hypothesis fuzzing of the index parser: any bytes give an Index or a FormatError.

Nothing else may escape (no ValueError, RecursionError, MemoryError, KeyError),
and whatever parses obeys the invariants unpack relies on.
"""

from __future__ import annotations

import secrets

import msgpack
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from airgap_transfer import limits
from airgap_transfer.errors import FormatError
from airgap_transfer.format import layout, serialization
from airgap_transfer.format.index import Chunk, Index
from airgap_transfer.limits import MAX_BUNDLE_SIZE

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def valid_index(lengths: list[int], final: bool = True) -> Index:
    transfer_id = secrets.token_hex(16)
    chunks, offset = [], 0
    for seq, length in enumerate(lengths, start=1):
        chunks.append(Chunk(seq=seq, offset=offset, length=length, blake3="ab" * 32,
                            file=layout.chunk_file_name(transfer_id, seq), drive=1))
        offset += length
    return Index(transfer_id=transfer_id, bundle_name="bundle.bin", bundle_size=offset,
                 bundle_blake3="cd" * 32, created="2026-11-21T12:00:00Z", tool="airgap-transfer test",
                 signer="0123456789ABCDEF", final=final, chunks=chunks)


def check_invariants(index: Index) -> None:
    """What unpack relies on once from_bytes returned."""
    offset = 0
    for position, chunk in enumerate(index.chunks, start=1):
        assert chunk.seq == position and chunk.offset == offset and chunk.length > 0
        assert layout.CHUNK_RE.fullmatch(chunk.file) and "/" not in chunk.file
        offset += chunk.length
    if index.final:
        assert offset == index.bundle_size and index.bundle_blake3
    assert 0 <= index.bundle_size <= MAX_BUNDLE_SIZE


def parse(data: bytes) -> Index | None:
    try:
        index = Index.from_bytes(data)
    except FormatError:
        return None
    check_invariants(index)
    return index


@FUZZ
@given(st.binary(max_size=4096))
def test_arbitrary_bytes(data: bytes) -> None:
    parse(data)


@FUZZ
@given(st.lists(st.integers(1, 2**40), min_size=0, max_size=20), st.booleans())
def test_valid_indexes_round_trip(lengths: list[int], final: bool) -> None:
    index = valid_index(lengths, final)
    again = Index.from_bytes(index.to_bytes())
    assert again == index


@FUZZ
@given(st.lists(st.integers(1, 2**30), min_size=1, max_size=8), st.data())
def test_mutated_valid_index(lengths: list[int], data) -> None:
    """Flip, drop, insert or cut bytes of a real index: parsed or refused, never a crash."""
    blob = bytearray(valid_index(lengths).to_bytes())
    for _ in range(data.draw(st.integers(1, 6))):
        where = data.draw(st.integers(0, len(blob) - 1))
        action = data.draw(st.sampled_from(["flip", "drop", "insert", "cut"]))
        if action == "flip":
            blob[where] ^= 1 << data.draw(st.integers(0, 7))
        elif action == "drop" and len(blob) > 1:
            del blob[where]
        elif action == "insert":
            blob.insert(where, data.draw(st.integers(0, 255)))
        else:
            blob = blob[:max(1, where)]
    parse(bytes(blob))


msgpack_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**64 - 1) | st.floats(allow_nan=False)
    | st.text(max_size=40) | st.binary(max_size=40),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=30,
)


@FUZZ
@given(st.lists(st.integers(1, 2**30), min_size=1, max_size=5), st.data())
def test_fields_replaced_by_random_values(lengths: list[int], data) -> None:
    """Keep the structure of a real index, put hostile values where fields were."""
    document = valid_index(lengths).to_dict()
    paths_ = [(k,) for k in document] + [("bundle", k) for k in document["bundle"]] + \
             [("chunks", i, k) for i in range(len(lengths)) for k in document["chunks"][0]]
    for path in data.draw(st.lists(st.sampled_from(paths_), min_size=1, max_size=4)):
        target = document
        try:
            for step in path[:-1]:
                target = target[step]
        except (KeyError, IndexError, TypeError):
            continue  # an earlier draw already replaced the parent
        if not isinstance(target, dict):
            continue
        if data.draw(st.booleans()):
            target[path[-1]] = data.draw(msgpack_values)
        else:
            target.pop(path[-1], None)
    try:
        blob = msgpack.packb(document, use_bin_type=True)
    except (OverflowError, ValueError, TypeError):
        assume(False)
    parse(blob)


@FUZZ
@given(st.lists(st.integers(1, 2**30), min_size=2, max_size=6), st.data())
def test_chunk_list_reordered_or_resized_is_refused(lengths: list[int], data) -> None:
    index = valid_index(lengths)
    chunks = index.chunks
    change = data.draw(st.sampled_from(["swap", "grow", "shrink", "repeat", "drop"]))
    i = data.draw(st.integers(0, len(chunks) - 2))
    if change == "swap":
        chunks[i], chunks[i + 1] = chunks[i + 1], chunks[i]
    elif change == "grow":
        chunks[i].length += 1
        chunks[i].stored_length += 1
    elif change == "shrink":
        assume(chunks[i].length > 1)
        chunks[i].length -= 1
        chunks[i].stored_length -= 1
    elif change == "repeat":
        chunks.insert(i + 1, chunks[i])
    else:
        del chunks[i]
    with pytest.raises(FormatError):
        Index.from_bytes(index.to_bytes())


def test_loads_refuses_oversized_before_parsing() -> None:
    with pytest.raises(FormatError, match="over the"):
        serialization.loads(b"\x80" * 101, limit=100)


def test_large_legitimate_index_parses() -> None:
    """100 000 chunks (~26 MB of index) is within the shared cap, on both sides."""
    index = valid_index([2**20] * 100_000)
    data = index.to_bytes()
    assert len(data) > limits.MAX_DOCUMENT_BYTES
    assert len(Index.from_bytes(data).chunks) == 100_000


def test_pack_cannot_write_an_index_unpack_would_refuse(monkeypatch) -> None:
    from airgap_transfer.errors import UsageError
    monkeypatch.setattr(limits, "MAX_INDEX_BYTES", 10_000)
    with pytest.raises(UsageError, match="over the 10000-byte limit"):
        valid_index([2**20] * 100).to_bytes()
