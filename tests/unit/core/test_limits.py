"""The caps in limits.py agree with each other, and each reader enforces the one it names."""

from __future__ import annotations

import secrets

import pytest

from airgap_transfer import limits
from airgap_transfer.errors import FormatError
from airgap_transfer.format import layout
from airgap_transfer.format.index import Chunk, Drive, Index


def _index(count: int, drives: int, sha256: bool) -> Index:
    """An index of ``count`` chunks on ``drives`` drives, with long lengths and labels."""
    transfer_id = secrets.token_hex(16)
    chunks = [Chunk(seq=seq, offset=(seq - 1) * 2**40, length=2**40, blake3="ab" * 32,
                    file=layout.chunk_file_name(transfer_id, seq), drive=min(seq, drives),
                    sha256="ef" * 32 if sha256 else None)
              for seq in range(1, count + 1)]
    return Index(transfer_id=transfer_id, bundle_name="b" * 200, bundle_size=count * 2**40,
                 bundle_blake3="cd" * 32, bundle_sha256="ef" * 32 if sha256 else None,
                 created="2026-11-21T12:00:00Z", tool="airgap-transfer test", signer="0123456789ABCDEF",
                 final=True, chunks=chunks,
                 drives=[Drive(ordinal=n, label="L" * 64, fs_type="exfat", fs_uuid="1234-ABCD", serial="S" * 32)
                         for n in range(1, drives + 1)])


def _size(count: int, drives: int, sha256: bool = False) -> int:
    return len(_index(count, drives, sha256).to_bytes())


def test_an_index_of_the_most_chunks_fits_the_index_cap():
    per_chunk = _size(2, 1) - _size(1, 1)
    per_drive = _size(2, 2) - _size(2, 1)
    assert _size(1, 1) + per_chunk * (limits.MAX_CHUNKS - 1) + per_drive * 1000 < limits.MAX_INDEX_BYTES


def test_with_sha256_the_index_cap_binds_before_the_chunk_cap():
    """Documented in limits.py: pack then refuses to write the index (test_index_fuzz proves the refusal)."""
    per_chunk = _size(2, 1, sha256=True) - _size(1, 1, sha256=True)
    assert per_chunk * limits.MAX_CHUNKS > limits.MAX_INDEX_BYTES > per_chunk * 180_000


def test_the_caps_that_bound_chunk_lists_are_above_the_chunk_cap():
    assert limits.MAX_ARRAY_LEN >= limits.MAX_DRIVES >= limits.MAX_CHUNKS
    assert limits.MAX_PARITY < limits.MAX_STRIPE_SHARDS
    assert limits.MAX_ENTRIES_PER_DIR > limits.MAX_CHUNKS
    assert limits.MAX_ENTRIES_TOTAL >= limits.MAX_ENTRIES_PER_DIR
    assert limits.MAX_INDEX_BYTES <= limits.MAX_BUNDLE_SIZE


@pytest.mark.parametrize(("field", "cap", "message"), [
    ("chunks", limits.MAX_CHUNKS, f"chunk list is not a list of at most {limits.MAX_CHUNKS}"),
    ("drives", limits.MAX_DRIVES, "drive list is malformed")])
def test_the_index_reader_refuses_one_more_than_the_cap(field, cap, message):
    document = _index(1, 1, sha256=False).to_dict()
    document[field] = [0] * (cap + 1)
    with pytest.raises(FormatError, match=message):
        Index.from_dict(document)
