"""Resume after drives written at once: kept chunks with gaps, each gap refilled in place."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airgap_transfer.engine.pack import resume
from airgap_transfer.errors import UsageError
from airgap_transfer.events import Reporter
from airgap_transfer.format.index import Chunk


def tiling(lengths: list[int]) -> list[Chunk]:
    chunks, offset = [], 0
    for seq, length in enumerate(lengths, start=1):
        chunks.append(Chunk(seq=seq, offset=offset, length=length, blake3="0" * 64, file=f"c{seq}", drive=1))
        offset += length
    return chunks


@settings(max_examples=300, deadline=None)
@given(lengths=st.lists(st.integers(1, 10**6), min_size=1, max_size=40), data=st.data())
def test_gaps_fill_exactly_what_is_missing_between_kept_chunks(lengths, data):
    chunks = tiling(lengths)
    kept = [c for c in chunks if data.draw(st.booleans())]
    gaps = resume._gaps(kept)
    last = kept[-1].seq if kept else 0
    assert sorted(p.seq for p in gaps) == [c.seq for c in chunks if c.seq <= last and c not in kept]
    # together the kept chunks and the gaps tile the bundle up to the last kept chunk, in order
    pieces = sorted([(c.seq, c.offset, c.length) for c in kept] + [(p.seq, p.offset, p.length) for p in gaps])
    position = 0
    for seq, offset, length in pieces:
        assert offset == position and length >= 1
        position += length
    assert position == (kept[-1].offset + kept[-1].length if kept else 0)


@pytest.mark.parametrize("kept, why", [
    ([(2, 0, 10)], "chunk 2 where chunk 1 should start"),        # a missing seq but no bytes for it
    ([(1, 0, 10), (2, 15, 10)], "five bytes and no chunk"),       # bytes but no seq
    ([(1, 0, 10), (4, 11, 10)], "two chunks in one byte"),        # more chunks than bytes
    ([(2, 5, 5), (1, 0, 5)], "out of order"),
])
def test_inconsistent_journal_is_refused(kept, why):
    chunks = [Chunk(seq=s, offset=o, length=n, blake3="0" * 64, file=f"c{s}", drive=1) for s, o, n in kept]
    with pytest.raises(UsageError, match="inconsistent"):
        resume._gaps(chunks)


def test_rehash_covers_gaps_and_checks_only_kept_chunks():
    import blake3
    data = bytes(range(256)) * 40
    lengths = [1000, 2000, 3000, 4240]
    chunks = tiling(lengths)
    for chunk in chunks:
        chunk.blake3 = blake3.blake3(data[chunk.offset:chunk.offset + chunk.length]).hexdigest()
    kept = [chunks[0], chunks[2]]  # chunk 2 is a gap; chunk 4 lies past the last kept
    whole = resume.rehash_prefix(io.BytesIO(data), kept, bytearray(512), Reporter(None))
    assert whole.hexdigest() == blake3.blake3(data[:6000]).hexdigest()
    kept[1].blake3 = "f" * 64
    with pytest.raises(UsageError, match="changed since chunk 3"):
        resume.rehash_prefix(io.BytesIO(data), kept, bytearray(512), Reporter(None))
