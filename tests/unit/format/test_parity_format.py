"""The index's parity field: round trip, and hostile variants refused; the margin it leaves."""

from __future__ import annotations

import blake3
import pytest

from airgap_transfer.engine.parity import margin, stripes
from airgap_transfer.errors import FormatError
from airgap_transfer.format import layout, serialization
from airgap_transfer.format.index import FORMAT_MINOR, Chunk, Index
from airgap_transfer.format.parity import SCHEME, Parity, ParityFile, Stripe

TID = "0123456789abcdef0123456789abcdef"
DIGEST = "cd" * 32


def make_index(drives=(1, 2, 1, 2, 3), lengths=(10, 10, 10, 10, 4), m=1) -> Index:
    chunks, offset = [], 0
    for seq, (drive, length) in enumerate(zip(drives, lengths), start=1):
        chunks.append(Chunk(seq=seq, offset=offset, length=length, blake3="ab" * 32,
                            file=layout.chunk_file_name(TID, seq), drive=drive))
        offset += length
    parity = Parity(SCHEME, 0, m)
    for number, members in enumerate(stripes.plan(chunks), start=1):
        parity.k = max(parity.k, len(members))
        parity.stripes.append(Stripe(number, max(c.stored_length for c in members), [c.seq for c in members],
                                     [ParityFile(layout.parity_file_name(TID, number, p), 3 + p, DIGEST)
                                      for p in range(1, m + 1)]))
    return Index(transfer_id=TID, bundle_name="b.bin", bundle_size=offset,
                 bundle_blake3=blake3.blake3(b"x").hexdigest(), created="2026-11-21T00:00:00Z",
                 tool="airgap-transfer test", signer="00112233AABBCCDD", final=True, chunks=chunks, parity=parity)


def test_stripes_take_one_chunk_per_drive():
    index = make_index()
    assert [s.chunks for s in index.parity.stripes] == [[1, 2, 5], [3, 4]]
    assert [s.length for s in index.parity.stripes] == [10, 10]
    assert stripes.parity_bytes([[10, 10], [10, 10], [4]]) == 20


def test_round_trip_is_exact_and_minor_version_says_so():
    index = make_index(m=2)
    data = index.to_bytes()
    again = Index.from_bytes(data)
    assert again == index and again.to_bytes() == data
    assert index.to_dict()["version"] == [1, FORMAT_MINOR] and FORMAT_MINOR >= 1


def test_an_index_without_parity_has_no_parity_field():
    index = make_index()
    index.parity = None
    assert "parity" not in index.to_dict()
    assert Index.from_bytes(index.to_bytes()).parity is None


def mutate(change):
    document = make_index().to_dict()
    change(document)
    return serialization.dumps(document)


def _stripe(d, n=0):
    return d["parity"]["stripes"][n]


@pytest.mark.parametrize("label, change, message", [
    ("unknown scheme", lambda d: d["parity"].update(scheme="xor"), "scheme"),
    ("m zero", lambda d: d["parity"].update(m=0), "'m'"),
    ("m too large", lambda d: d["parity"].update(m=99), "'m'"),
    ("k too large for the field", lambda d: d["parity"].update(k=256), "'k'"),
    ("stripes not a list", lambda d: d["parity"].update(stripes={}), "stripe list"),
    ("no stripes", lambda d: d["parity"].update(stripes=[]), "stripe list"),
    ("stripe out of order", lambda d: _stripe(d).update(seq=2), "sequence"),
    ("chunk in two stripes", lambda d: _stripe(d, 1)["chunks"].append(1), "another stripe"),
    ("unknown chunk", lambda d: _stripe(d)["chunks"].__setitem__(2, 77), "unknown"),
    ("chunk in no stripe", lambda d: _stripe(d, 1)["chunks"].pop(), "no parity stripe"),
    ("chunk seq not an int", lambda d: _stripe(d)["chunks"].__setitem__(0, "1"), "chunk list"),
    ("stripe wider than k", lambda d: d["parity"].update(k=2), "at most"),
    ("length not the longest chunk", lambda d: _stripe(d).update(length=11), "longest"),
    ("path in parity name", lambda d: _stripe(d)["parity"][0].update(file="../../etc/x"), "name"),
    ("parity named for another stripe", lambda d: _stripe(d)["parity"][0].update(
        file=layout.parity_file_name(TID, 2, 1)), "name"),
    ("parity on a data drive", lambda d: _stripe(d)["parity"][0].update(drive=2), "holding its data"),
    ("too few parity files", lambda d: _stripe(d).update(parity=[]), "parity list"),
    ("bad parity digest", lambda d: _stripe(d)["parity"][0].update(blake3="00"), "blake3"),
    ("unknown stripe field", lambda d: _stripe(d).update(extra=1), "unknown"),
    ("parity in a partial index", lambda d: d.update(final=False), "partial"),
])
def test_malformed_parity_is_refused(label, change, message):
    with pytest.raises(FormatError) as info:
        Index.from_bytes(mutate(change))
    assert message in info.value.one_line(), info.value.one_line()


def test_margin_counts_drives_and_shortfall():
    parity = make_index(m=1).parity
    whole = margin.assess(parity, set(), set())
    assert whole.ok and whole.spare_drives == 1 and "all data present" in whole.summary()
    one = margin.assess(parity, {2, 4}, set())           # drive 2 lost
    assert one.ok and one.rebuildable == [2, 4] and one.spare_drives == 0
    assert "2 chunk(s) missing or corrupt, rebuildable" in one.summary()
    two = margin.assess(parity, {1, 2, 3, 4}, set())     # drives 1 and 2 lost
    assert not two.ok and two.short == 2 and two.rebuildable == []
    assert "not rebuildable: 2 chunk(s) short" in two.summary()
    parity_gone = margin.assess(parity, {5}, {layout.parity_file_name(TID, 1, 1)})
    assert not parity_gone.ok and parity_gone.unrebuildable_stripes == [1]


def test_only_plain_chunk_files_are_read_from_the_source_or_the_output():
    """Parity covers stored bytes: a zstd or encrypted chunk file is never stood in for by the plain slice."""
    from airgap_transfer.engine.pack.parity_phase import plain_slice

    plain = Chunk(seq=1, offset=0, length=10, blake3="ab" * 32, file=layout.chunk_file_name(TID, 1), drive=1)
    assert plain_slice(plain)
    zstd = Chunk(seq=1, offset=0, length=10, blake3="ab" * 32, file=layout.chunk_file_name(TID, 1, "zstd"),
                 drive=1, encoding="zstd", stored_length=8, stored_blake3="cd" * 32)
    sealed = Chunk(seq=1, offset=0, length=10, blake3="ab" * 32, file=layout.chunk_file_name(TID, 1) + ".age",
                   drive=1, stored_length=10 + 32, stored_blake3="ef" * 32)
    assert not plain_slice(zstd) and not plain_slice(sealed)
