"""Placing chunks into the partial output: what an earlier run or an earlier index placed is checked first."""

from __future__ import annotations

import os
import secrets

import blake3
import pytest

from airgap_transfer.engine.unpack import catalog
from airgap_transfer.engine.unpack.assemble import Assembler
from airgap_transfer.errors import TrustError
from airgap_transfer.events import Reporter
from airgap_transfer.format import layout
from airgap_transfer.format.index import Chunk, Index

TID = secrets.token_hex(16)


def chunk(seq: int, offset: int, data: bytes) -> Chunk:
    return Chunk(seq=seq, offset=offset, length=len(data), blake3=blake3.blake3(data).hexdigest(),
                 file=layout.chunk_file_name(TID, seq), drive=1)


def index(chunks: list[Chunk], final: bool, whole: bytes | None = None) -> Index:
    return Index(transfer_id=TID, bundle_name="b.bin", bundle_size=sum(c.length for c in chunks),
                 bundle_blake3=blake3.blake3(whole).hexdigest() if whole is not None else None,
                 created="2026-01-01T00:00:00Z", tool="t", signer="0123456789ABCDEF", final=final,
                 chunks=chunks)


def drive_with(tmp_path, files: dict[int, bytes]) -> catalog.Transfer:
    folder = tmp_path / "drive" / layout.folder_name(TID)
    folder.mkdir(parents=True)
    for seq, data in files.items():
        (folder / layout.chunk_file_name(TID, seq)).write_bytes(data)
    return catalog.Transfer(TID, layout.discover([tmp_path / "drive"]))


@pytest.fixture
def out_fd(tmp_path):
    fd = os.open(tmp_path / "out", os.O_RDWR | os.O_CREAT, 0o600)
    yield fd
    os.close(fd)


def test_a_chunk_placed_under_one_index_that_the_next_index_signs_differently_is_refused(tmp_path, out_fd):
    first, second, other_first = b"a" * 100, b"b" * 50, b"c" * 100
    transfer = drive_with(tmp_path, {1: first, 2: second})
    assembler = Assembler(Reporter(None), out_fd, 150)
    assembler.place_available(transfer, index([chunk(1, 0, first)], final=False))
    assert sorted(assembler.placed) == [1]
    # The final index (signed by the same trusted key) says chunk 1 was other bytes.
    conflicting = index([chunk(1, 0, other_first), chunk(2, 100, second)], final=True, whole=other_first + second)
    with pytest.raises(TrustError, match="chunk 1 differs between two indexes"):
        assembler.place_available(transfer, conflicting)
    assert sorted(assembler.placed) == [1]


def test_an_earlier_runs_chunk_is_adopted_only_where_the_index_agrees_with_its_digest(tmp_path, out_fd):
    data = b"a" * 100
    signed = index([chunk(1, 0, data)], final=True, whole=data)
    os.pwrite(out_fd, data, 0)  # what the earlier run wrote to the partial output
    record = {"seq": 1, "offset": 0, "length": 100, "file": layout.chunk_file_name(TID, 1)}
    for digest, adopted in ((blake3.blake3(b"x" * 100).hexdigest(), []), (blake3.blake3(data).hexdigest(), [1])):
        assembler = Assembler(Reporter(None), out_fd, 100, earlier=[{**record, "blake3": digest}])
        assembler.adopt_earlier(signed)
        assert sorted(assembler.placed) == adopted
