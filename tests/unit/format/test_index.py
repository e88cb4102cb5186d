import blake3
import pytest

from airgap_transfer.errors import FormatError
from airgap_transfer.format import layout, serialization
from airgap_transfer.format.index import Chunk, Index

TID = "0123456789abcdef0123456789abcdef"


def make_index(lengths=(10, 10, 5), final=True) -> Index:
    chunks, offset = [], 0
    for seq, length in enumerate(lengths, start=1):
        chunks.append(Chunk(seq=seq, offset=offset, length=length, blake3="ab" * 32,
                            file=layout.chunk_file_name(TID, seq), drive=1))
        offset += length
    return Index(transfer_id=TID, bundle_name="b.bin", bundle_size=offset,
                 bundle_blake3=blake3.blake3(b"x").hexdigest(), created="2026-11-21T00:00:00Z",
                 tool="airgap-transfer test", signer="00112233AABBCCDD", final=final, chunks=chunks)


def test_round_trip_is_exact():
    index = make_index()
    data = index.to_bytes()
    again = Index.from_bytes(data)
    assert again == index
    assert again.to_bytes() == data


def mutate(change):
    document = make_index().to_dict()
    change(document)
    return serialization.dumps(document)


@pytest.mark.parametrize("label, change, message", [
    ("wrong magic", lambda d: d.update(magic="something-else"), "magic"),
    ("major version 2", lambda d: d.update(version=[2, 0]), "not supported"),
    ("gap", lambda d: d["chunks"][1].update(offset=11), "gap"),
    ("overlap", lambda d: d["chunks"][1].update(offset=9), "overlap"),
    ("sizes do not add up", lambda d: d["bundle"].update(size=26), "add up"),
    ("duplicate seq", lambda d: d["chunks"][2].update(seq=2), "sequence"),
    ("path in file name", lambda d: d["chunks"][0].update(file="../../x"), "file name"),
    ("negative length", lambda d: d["chunks"][0].update(length=-1), "length"),
    ("length is a string", lambda d: d["chunks"][0].update(length="10"), "length"),
    ("bad digest", lambda d: d["chunks"][0].update(blake3="zz"), "blake3"),
    ("unknown field", lambda d: d.update(extra=1), "unknown"),
    ("missing chunks", lambda d: d.pop("chunks"), "chunks"),
    ("bad transfer id", lambda d: d.update(transfer_id="../x"), "transfer_id"),
    ("final without digest", lambda d: d["bundle"].update(blake3=None), "digest"),
])
def test_malformed_index_is_refused(label, change, message):
    with pytest.raises(FormatError) as info:
        Index.from_bytes(mutate(change))
    assert message in info.value.one_line()


def test_newer_minor_version_may_add_fields():
    data = mutate(lambda d: (d.update(version=[1, 7], future_field="x")))
    assert Index.from_bytes(data).transfer_id == TID


def test_partial_index_need_not_cover_the_bundle():
    index = make_index(final=False)
    index.bundle_blake3 = None
    assert not Index.from_bytes(index.to_bytes()).final


def test_original_name_round_trips_and_is_optional():
    plain = make_index()
    assert "original_name" not in Index.from_bytes(plain.to_bytes()).to_dict()["bundle"]
    plain.bundle_original_name = "model:v1?.bin"
    again = Index.from_bytes(plain.to_bytes())
    assert again.bundle_original_name == "model:v1?.bin" and again.to_dict()["version"] == [1, 1]
