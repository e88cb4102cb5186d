"""The index's optional `encryption` field: public form, sealed section, and what a reader refuses.

One transfer is encrypted throughout or not at all: the check that refuses a
plain chunk in an encrypted index (or the reverse) is proven here.
"""

from __future__ import annotations

import dataclasses

import pytest

from airgap_transfer.engine.crypt.keys import X25519Identity
from airgap_transfer.engine.crypt.transfer import OpeningKeys, SealingKeys
from airgap_transfer.errors import FormatError, TrustError
from airgap_transfer.format import layout, serialization
from airgap_transfer.format.encryption import PUBLIC_NAME
from airgap_transfer.format.index import FORMAT_MINOR, Chunk, Index

TID = "0123456789abcdef0123456789abcdef"


def full_index(encoding: str = "age") -> Index:
    chunks, offset = [], 0
    for seq, length in enumerate((100, 100, 50), start=1):
        chunks.append(Chunk(seq=seq, offset=offset, length=length, blake3=f"{seq:02x}" * 32,
                            file=layout.chunk_file_name(TID, seq, encoding), drive=1, encoding=encoding,
                            stored_length=length + 250, stored_blake3=f"{seq + 0x10:02x}" * 32,
                            sha256=f"{seq + 0x20:02x}" * 32))
        offset += length
    return Index(transfer_id=TID, bundle_name="secret plans.tar", bundle_size=offset, bundle_blake3="ee" * 32,
                 bundle_sha256="dd" * 32, created="2026-11-21T00:00:00Z", tool="t", signer="00112233AABBCCDD",
                 final=True, kind="directory", chunks=chunks)


@pytest.fixture
def identity():
    return X25519Identity.generate()


def sealed_bytes(identity) -> bytes:
    return SealingKeys.create([identity.recipient], None).public_index(full_index()).to_bytes()


def test_public_index_hides_name_and_plaintext_digests_and_opens_back(identity):
    data = sealed_bytes(identity)
    for secret in (b"secret plans", b"ee" * 32, b"01" * 32, b"21" * 32, bytes.fromhex("ee" * 32)):
        assert secret not in data
    public = Index.from_bytes(data)
    assert public.bundle_name == PUBLIC_NAME and public.bundle_blake3 is None
    assert all(c.blake3 == c.stored_blake3 and c.sha256 is None for c in public.chunks)
    assert public.encryption.recipients == 1 and not public.encryption.passphrase
    assert serialization.loads(data)["version"] == [1, FORMAT_MINOR]
    opened = OpeningKeys([identity]).open_index(public)
    assert opened == dataclasses.replace(full_index(), encryption=public.encryption)


def test_a_stranger_cannot_open_the_sealed_section(identity):
    public = Index.from_bytes(sealed_bytes(identity))
    with pytest.raises(TrustError, match="recipient"):
        OpeningKeys([X25519Identity.generate()]).open_index(public)
    with pytest.raises(TrustError, match="--identity"):
        OpeningKeys([]).open_index(public)


def test_a_sealed_section_of_another_transfer_is_refused(identity):
    keys = SealingKeys.create([identity.recipient], None)
    other = dataclasses.replace(full_index(), transfer_id="f" * 32,
                                chunks=[dataclasses.replace(c, file=layout.chunk_file_name("f" * 32, c.seq, "age"))
                                        for c in full_index().chunks])
    stolen = keys.public_index(other).encryption
    public = dataclasses.replace(Index.from_bytes(sealed_bytes(identity)), encryption=stolen)
    with pytest.raises(TrustError, match="another transfer"):
        OpeningKeys([identity]).open_index(public)


def document(identity) -> dict:
    return serialization.loads(sealed_bytes(identity))


@pytest.mark.parametrize("label, change, message", [
    ("a plain chunk in an encrypted transfer",
     lambda d: d["chunks"][1].update(encoding="none", file=layout.chunk_file_name(TID, 2), stored_length=100),
     "mixed encrypted and plain"),
    ("an encrypted chunk in a plain transfer", lambda d: d.pop("encryption"), "mixed encrypted and plain"),
    ("plaintext digest in public", lambda d: d["chunks"][0].update(blake3="01" * 32), "stored digest"),
    ("whole digest in public", lambda d: d["bundle"].update(blake3="ee" * 32), "sealed section only"),
    ("unknown scheme", lambda d: d["encryption"].update(scheme="gpg"), "not supported"),
    ("zero recipients", lambda d: d["encryption"].update(recipients=0), "recipients"),
    ("identity without passphrase", lambda d: d["encryption"].update(identity=b"x"), "exactly when"),
    ("sealed not bytes", lambda d: d["encryption"].update(sealed="text"), "sealed section"),
    ("extra key", lambda d: d["encryption"].update(extra=1), "malformed"),
    ("field in a 1.0 index", lambda d: d.update(version=[1, 0]), "unknown field"),
])
def test_reader_refuses(identity, label, change, message):
    doc = document(identity)
    change(doc)
    with pytest.raises(FormatError, match=message):
        Index.from_bytes(serialization.dumps(doc))


def test_chunk_names_of_encrypted_chunks():
    assert layout.chunk_file_name(TID, 7, "age") == "0123456789ab-000007.chunk.age"
    assert layout.chunk_file_name(TID, 7, "zstd+age") == "0123456789ab-000007.chunk.zst.age"
    assert layout.CHUNK_RE.fullmatch("0123456789ab-000007.chunk.zst.age")
    assert not layout.CHUNK_RE.fullmatch("0123456789ab-000007.chunk.age.zst")


def test_the_passphrase_opens_when_the_identities_given_do_not(identity):
    keys = SealingKeys.create([identity.recipient], b"pw", work_factor=10)
    public = Index.from_bytes(keys.public_index(full_index()).to_bytes())
    assert public.encryption.passphrase and public.encryption.recipients == 2
    stranger = X25519Identity.generate()
    asked = []
    opened = OpeningKeys([stranger]).open_index(public, lambda: asked.append(1) or b"pw")
    assert opened.bundle_name == "secret plans.tar" and asked == [1]
    assert OpeningKeys([identity]).open_index(public, lambda: asked.append(2) or b"pw").bundle_name
    assert asked == [1], "the passphrase is asked only when the identities do not open it"
    with pytest.raises(TrustError) as refused:
        OpeningKeys([stranger]).open_index(public, lambda: None)
    assert "passphrase" in refused.value.one_line()
    with pytest.raises(TrustError, match="passphrase"):
        OpeningKeys([], b"wrong").open_index(public)
