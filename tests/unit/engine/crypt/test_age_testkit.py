"""age's public test vectors (C2SP/CCTV age testkit) against engine/crypt.

The vectors are vendored in tests/vectors/age-testkit (0BSD/CC0); set
AIRGAP_AGE_TESTKIT to another copy of CCTV's age/testdata to run that
instead.  Every vector either passes or is skipped for a named reason:
armored files (chunks are binary age; armor is not implemented) and the
post-quantum hybrid recipient type (not implemented; chunks use X25519).
Failures must be the kind the vector expects, so a parse error is never
masked by a later MAC failure, and for a payload failure the plaintext
released before the error must hash to the vector's payload digest.
"""

from __future__ import annotations

import hashlib
import os
import zlib
from pathlib import Path

import pytest

from airgap_transfer.engine.crypt import age
from airgap_transfer.engine.crypt.keys import KeyError_, ScryptIdentity, X25519Identity

VENDORED = Path(__file__).resolve().parents[3] / "vectors" / "age-testkit"
FOLDER = Path(os.environ.get("AIRGAP_AGE_TESTKIT") or VENDORED)
VECTORS = sorted(p for p in FOLDER.iterdir() if p.is_file() and p.name != "README.md") if FOLDER.is_dir() else []


def parse_vector(path: Path) -> tuple[dict[str, list[str]], bytes]:
    data = path.read_bytes()
    head, body = data.split(b"\n\n", 1)
    fields: dict[str, list[str]] = {}
    for line in head.decode().splitlines():
        key, value = line.split(": ", 1)
        fields.setdefault(key, []).append(value)
    if fields.get("compressed") == ["zlib"]:
        body = zlib.decompress(body)
    return fields, body


def decrypt_released(body: bytes, identities) -> tuple[bytes, Exception | None]:
    """All plaintext released before an error, and the error (None: decrypted to EOF)."""
    position = 0

    def read_into(view: memoryview) -> int:
        nonlocal position
        take = min(len(view), len(body) - position)
        view[:take] = body[position:position + take]
        position += take
        return take

    released = bytearray()
    try:
        opener = age.Opener(identities, read_into, len(body))
        piece = memoryview(bytearray(64 * 1024))
        while True:
            got = opener.readinto(piece)
            if not got:
                return bytes(released), None
            released += piece[:got]
    except age.AgeError as exc:
        return bytes(released), exc


EXPECTED = {
    "no match": age.NoIdentity,
    "header failure": age.AgeFormatError,
    "HMAC failure": age.AuthenticationError,
    "payload failure": age.AuthenticationError,
}


@pytest.mark.skipif(not VECTORS, reason=f"no age testkit vectors in {FOLDER} (set AIRGAP_AGE_TESTKIT to CCTV's age/testdata)")
@pytest.mark.parametrize("path", VECTORS, ids=[p.name for p in VECTORS])
def test_vector(path):
    fields, body = parse_vector(path)
    expect = fields["expect"][0]
    if fields.get("armored") == ["yes"] or expect == "armor failure":
        pytest.skip("ASCII armor is not implemented (chunks are binary age files)")
    identities = []
    for text in fields.get("identity", []):
        try:
            identities.append(X25519Identity.parse(text))
        except KeyError_:
            pytest.skip("the hybrid (ML-KEM) recipient type is not implemented; chunks use X25519")
    identities += [ScryptIdentity(p.encode()) for p in fields.get("passphrase", [])]
    if any(s in body.split(b"\n---", 1)[0] for s in (b"-> mlkem768x25519",)) and expect == "no match":
        pytest.skip("the hybrid (ML-KEM) recipient type is not implemented")
    released, error = decrypt_released(body, identities)
    if expect == "success":
        assert error is None, f"{path.name}: {error!r}"
    else:
        assert isinstance(error, EXPECTED[expect]), f"{path.name}: expected {expect}, got {error!r}"
        if expect == "HMAC failure":
            assert "MAC" in str(error)
    if "payload" in fields:
        assert hashlib.sha256(released).hexdigest() == fields["payload"][0]
