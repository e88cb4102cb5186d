"""Tests for airgap_transfer.trust.minisign, including interop with the real tool."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess

import pytest

from airgap_transfer.errors import KeyFileError, TrustError, UsageError
from airgap_transfer.trust import minisign, secret_keys
from airgap_transfer.trust.keyfiles import write_key_pair
from airgap_transfer.trust.minisign import (
    PublicKey,
    SecretKey,
    Signature,
    sign,
    verify,
)

MESSAGE = b"bundle index v1\n"
needs_minisign = pytest.mark.skipif(
    shutil.which("minisign") is None,
    reason="the minisign binary is not installed (apt-get install minisign)",
)

# Published vectors from the tests of jedisct1/rust-minisign-verify,
# src/lib.rs (fn verify / fn verify_prehashed), commit
# 078b3acec53ca1650448cf46408e4d9b373c25fe; the same key and signature lines
# appear in jedisct1/go-minisign minisign_test.go.  Message is b"test".
VECTOR_PUBLIC = "RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3"
VECTOR_PUBLIC_FILE = f"untrusted comment: minisign public key E7620F1842B4E81F\n{VECTOR_PUBLIC}\n"
VECTOR_LEGACY = (
    "untrusted comment: signature from minisign secret key\n"
    "RWQf6LRCGA9i59SLOFxz6NxvASXDJeRtuZykwQepbDEGt87ig1BNpWaVWuNrm73YiIiJbq71Wi+dP9eKL8OC351vwIasSSbXxwA=\n"
    "trusted comment: timestamp:1555779966\tfile:test\n"
    "QtKMXWyYcwdpZAlPF7tE2ENJkRd1ujvKjlj1m9RtHTBnZPa5WKU5uWRs5GoP5M/VqE81QFuMKI5k/SfNQUaOAA==\n"
)
VECTOR_PREHASHED = (
    "untrusted comment: signature from minisign secret key\n"
    "RUQf6LRCGA9i559r3g7V1qNyJDApGip8MfqcadIgT9CuhV3EMhHoN1mGTkUidF/z7SrlQgXdy8ofjb7bNJJylDOocrCo8KLzZwo=\n"
    "trusted comment: timestamp:1556193335\tfile:test\n"
    "y/rUw2y8/hOUYjZU71eHp/Wo1KZ40fGy2VJEDl34XMJM+TX48Ss/17u3IvIfbVR1FkZZSNCisQbuQY+bHwhEBg==\n"
)


@pytest.fixture(scope="module")
def key() -> SecretKey:
    return SecretKey.generate()


def run(*args: str) -> subprocess.CompletedProcess:
    # stdin closed so an unexpected password prompt fails instead of hanging
    return subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)


def replace_line(text: str, index: int, new: str) -> str:
    lines = text.split("\n")
    lines[index] = new
    return "\n".join(lines)


# --- published vectors -------------------------------------------------------

@pytest.mark.parametrize("sig_text", [VECTOR_LEGACY, VECTOR_PREHASHED], ids=["legacy-Ed", "prehashed-ED"])
@pytest.mark.parametrize("key_text", [VECTOR_PUBLIC, VECTOR_PUBLIC_FILE], ids=["bare", "file"])
def test_published_vector_verifies(sig_text: str, key_text: str) -> None:
    public = PublicKey.from_text(key_text)
    assert public.key_id_hex == "E7620F1842B4E81F"
    sig = Signature.from_text(sig_text)
    assert sig.trusted_comment.startswith("timestamp:")
    assert verify(b"test", sig, [public]) == public
    with pytest.raises(TrustError):
        verify(b"Test", sig, [public])


def test_published_vector_round_trips_text() -> None:
    assert Signature.from_text(VECTOR_PREHASHED).to_file_text() == VECTOR_PREHASHED
    assert PublicKey.from_text(VECTOR_PUBLIC).to_file_text() == VECTOR_PUBLIC_FILE


# --- sign / verify -------------------------------------------------------------

def test_round_trip(key: SecretKey) -> None:
    sig = sign(MESSAGE, key, "timestamp:1\tfile:index")
    assert sig.algorithm == b"ED"
    parsed = Signature.from_text(sig.to_file_text())
    assert parsed == sig
    assert verify(MESSAGE, parsed, [SecretKey.generate().public_key(), key.public_key()]) == key.public_key()


def test_key_files_round_trip(key: SecretKey) -> None:
    assert SecretKey.from_text(key.to_file_text()) == key
    assert PublicKey.from_text(key.public_key().to_file_text()) == key.public_key()
    bare = key.public_key().to_file_text().splitlines()[1]
    assert PublicKey.from_text(bare) == key.public_key()
    assert key.seed.hex() not in repr(key)


def test_tampered_message(key: SecretKey) -> None:
    sig = sign(MESSAGE, key, "c")
    with pytest.raises(TrustError, match="does not match"):
        verify(MESSAGE + b"x", sig, [key.public_key()])


def test_tampered_trusted_comment(key: SecretKey) -> None:
    text = sign(MESSAGE, key, "version:1").to_file_text()
    forged = Signature.from_text(text.replace("trusted comment: version:1", "trusted comment: version:2"))
    with pytest.raises(TrustError, match="does not match"):
        verify(MESSAGE, forged, [key.public_key()])


def test_untrusted_comment_is_not_signed(key: SecretKey) -> None:
    text = sign(MESSAGE, key, "c").to_file_text()
    edited = Signature.from_text(replace_line(text, 0, "untrusted comment: anything"))
    assert verify(MESSAGE, edited, [key.public_key()]) == key.public_key()


def test_wrong_key_with_same_id(key: SecretKey) -> None:
    impostor = SecretKey(key_id=key.key_id, seed=os.urandom(32))
    sig = sign(MESSAGE, impostor, "c")
    with pytest.raises(TrustError, match="does not match"):
        verify(MESSAGE, sig, [key.public_key()])


def test_untrusted_key_names_key_id(key: SecretKey) -> None:
    sig = sign(MESSAGE, key, "c")
    with pytest.raises(TrustError) as info:
        verify(MESSAGE, sig, [SecretKey.generate().public_key()])
    assert key.public_key().key_id_hex in info.value.one_line()
    assert "not trusted" in info.value.one_line()
    with pytest.raises(TrustError):
        verify(MESSAGE, sig, [])


def test_tampered_global_signature(key: SecretKey) -> None:
    sig = sign(MESSAGE, key, "c")
    bad = Signature(sig.algorithm, sig.key_id, sig.signature, sig.trusted_comment,
                    bytes(64), sig.untrusted_comment)
    with pytest.raises(TrustError):
        verify(MESSAGE, bad, [key.public_key()])


def test_legacy_signature_is_checked_against_raw_message(key: SecretKey) -> None:
    hashed = sign(MESSAGE, key, "c")
    as_legacy = Signature(b"Ed", hashed.key_id, hashed.signature, hashed.trusted_comment,
                          hashed.global_signature, hashed.untrusted_comment)
    with pytest.raises(TrustError):
        verify(MESSAGE, as_legacy, [key.public_key()])


@pytest.mark.parametrize("comment", ["two\nlines", "cr\rhere", "nul\0"])
def test_sign_refuses_multiline_comment(key: SecretKey, comment: str) -> None:
    with pytest.raises(UsageError):
        sign(MESSAGE, key, comment)
    with pytest.raises(UsageError):
        sign(MESSAGE, key, "ok", untrusted_comment=comment)


def test_sign_refuses_comment_too_long_to_read_back(key: SecretKey) -> None:
    with pytest.raises(UsageError):
        sign(MESSAGE, key, "x" * 8192)


# --- malformed signature files -------------------------------------------------

def _good() -> str:
    return VECTOR_PREHASHED


def _sig_line(payload: bytes) -> str:
    return replace_line(_good(), 1, base64.b64encode(payload).decode())


_SIG = base64.b64decode(_good().split("\n")[1])

MALFORMED = {
    "empty": "",
    "one-line": _good().split("\n")[0] + "\n",
    "three-lines": "\n".join(_good().split("\n")[:3]) + "\n",
    "extra-line": _good() + "more\n",
    "bad-base64": replace_line(_good(), 1, "RUQ!!!not base64!!!"),
    "bad-global-base64": replace_line(_good(), 3, "####"),
    "wrong-length": _sig_line(_SIG[:-1]),
    "wrong-global-length": replace_line(_good(), 3, base64.b64encode(bytes(63)).decode()),
    "wrong-algorithm": _sig_line(b"XX" + _SIG[2:]),
    "no-untrusted-prefix": replace_line(_good(), 0, "comment: x"),
    "no-trusted-prefix": replace_line(_good(), 2, "timestamp:1556193335"),
    "nul-in-trusted": replace_line(_good(), 2, "trusted comment: a\0b"),
    "overlong": replace_line(_good(), 0, "untrusted comment: " + "x" * 8200),
}


@pytest.mark.parametrize("text", list(MALFORMED.values()), ids=list(MALFORMED))
def test_malformed_signature_file(text: str) -> None:
    with pytest.raises(TrustError) as info:
        Signature.from_text(text)
    assert "\n" not in info.value.one_line()


def test_crlf_signature_file_is_accepted() -> None:
    sig = Signature.from_text(_good().replace("\n", "\r\n"))
    assert verify(b"test", sig, [PublicKey.from_text(VECTOR_PUBLIC)])


# --- key files -----------------------------------------------------------------

@pytest.mark.parametrize("text", ["", "RWQ", "untrusted comment: x\n!!!\n",
                                  base64.b64encode(b"Xx" + bytes(40)).decode(),
                                  "a\nb\nc\n", "x" * 5000])
def test_malformed_public_key(text: str) -> None:
    with pytest.raises(KeyFileError):
        PublicKey.from_text(text)


def _secret_blob(key: SecretKey) -> bytearray:
    return bytearray(base64.b64decode(key.to_file_text().splitlines()[1]))


def _secret_text(blob: bytes) -> str:
    return f"untrusted comment: minisign encrypted secret key\n{base64.b64encode(bytes(blob)).decode()}\n"


FAST = (32768 * 4, 2**24)  # small scrypt limits: the same code path, milliseconds instead of seconds


def test_encrypted_secret_key_needs_its_passphrase(key: SecretKey) -> None:
    text = key.to_file_text(b"correct horse", FAST)
    with pytest.raises(minisign.EncryptedKeyError):
        SecretKey.from_text(text)
    assert SecretKey.from_text(text, b"correct horse") == key
    with pytest.raises(KeyFileError, match="wrong passphrase"):
        SecretKey.from_text(text, b"correct horsf")
    assert SecretKey.is_encrypted_text(text) and not SecretKey.is_encrypted_text(key.to_file_text())


def test_encrypted_key_layout_is_minisigns(key: SecretKey) -> None:
    blob = base64.b64decode(key.to_file_text(b"pw", FAST).splitlines()[1])
    assert blob[:6] == b"EdScB2" and len(blob) == 158
    assert int.from_bytes(blob[38:46], "little") == FAST[0] and int.from_bytes(blob[46:54], "little") == FAST[1]
    assert blob[54:62] != key.key_id  # key id, secret key and checksum are all under the stream


@pytest.mark.parametrize("opslimit, memlimit, expected", [
    (33554432, 1073741824, (20, 8, 1)),   # minisign -G: N = 2^20, r = 8, p = 1 (1 GiB)
    (524288, 16777216, (14, 8, 1)),       # libsodium's interactive limits
    (1000, 2**30, (10, 8, 1)),            # below the floor of 32768 operations
])
def test_scrypt_parameters_follow_libsodium(opslimit, memlimit, expected) -> None:
    assert secret_keys.scrypt_params(opslimit, memlimit) == expected


def test_a_key_asking_for_absurd_scrypt_memory_is_refused_before_deriving(key: SecretKey) -> None:
    blob = bytearray(base64.b64decode(key.to_file_text(b"pw", FAST).splitlines()[1]))
    blob[46:54] = (2**40).to_bytes(8, "little")
    with pytest.raises(KeyFileError, match="scrypt limits"):
        SecretKey.from_text(_secret_text(blob), b"pw")


def test_secret_key_checksum(key: SecretKey) -> None:
    blob = _secret_blob(key)
    blob[126:] = bytes(32)  # minisign 0.11 -G -W writes a zero checksum
    assert SecretKey.from_text(_secret_text(blob)) == key
    blob[126] = 1
    with pytest.raises(KeyFileError, match="corrupt"):
        SecretKey.from_text(_secret_text(blob))
    blob = _secret_blob(key)
    blob[100] ^= 1  # public half no longer matches the seed
    with pytest.raises(KeyFileError, match="corrupt"):
        SecretKey.from_text(_secret_text(blob))


@pytest.mark.parametrize("text", ["", "just one line", "untrusted comment: x\nAAAA\n"])
def test_malformed_secret_key(text: str) -> None:
    with pytest.raises(KeyFileError):
        SecretKey.from_text(text)


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o666])
def test_secret_key_permissions_refused(tmp_path, key: SecretKey, mode: int) -> None:
    path = tmp_path / "x.key"
    path.write_text(key.to_file_text())
    path.chmod(mode)
    with pytest.raises(KeyFileError) as info:
        SecretKey.from_file(path)
    assert f"chmod 600 {path}" in info.value.one_line()
    assert SecretKey.from_file(path, check_permissions=False) == key


def test_missing_key_file(tmp_path) -> None:
    with pytest.raises(KeyFileError, match="does not exist"):
        SecretKey.from_file(tmp_path / "none.key")
    with pytest.raises(KeyFileError, match="does not exist"):
        PublicKey.from_file(tmp_path / "none.pub")


def test_oversized_key_file(tmp_path) -> None:
    path = tmp_path / "big.pub"
    path.write_text("x" * 5000)
    with pytest.raises(KeyFileError, match="larger"):
        PublicKey.from_file(path)


def test_write_key_pair(tmp_path, key: SecretKey) -> None:
    secret_path, public_path = tmp_path / "k.key", tmp_path / "k.pub"
    write_key_pair(key, secret_path, public_path)
    assert secret_path.stat().st_mode & 0o777 == 0o600
    assert SecretKey.from_file(secret_path) == key
    assert PublicKey.from_file(public_path) == key.public_key()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.key", "k.pub"]  # no temp left
    with pytest.raises(KeyFileError, match="already exists"):
        write_key_pair(SecretKey.generate(), secret_path, tmp_path / "other.pub")
    assert SecretKey.from_file(secret_path) == key
    assert not (tmp_path / "other.pub").exists()


# --- interop with the real minisign binary -----------------------------------

@needs_minisign
def test_minisign_verifies_our_signature(tmp_path, key: SecretKey) -> None:
    (tmp_path / "m").write_bytes(MESSAGE)
    (tmp_path / "k.pub").write_text(key.public_key().to_file_text())
    (tmp_path / "m.minisig").write_text(sign(MESSAGE, key, "timestamp:1\tfile:m").to_file_text())
    result = run("minisign", "-V", "-H", "-p", str(tmp_path / "k.pub"),
                 "-m", str(tmp_path / "m"), "-x", str(tmp_path / "m.minisig"))
    assert result.returncode == 0, result.stderr
    assert "timestamp:1\tfile:m" in result.stdout
    (tmp_path / "m").write_bytes(MESSAGE + b"x")
    result = run("minisign", "-V", "-p", str(tmp_path / "k.pub"),
                 "-m", str(tmp_path / "m"), "-x", str(tmp_path / "m.minisig"))
    assert result.returncode != 0


@needs_minisign
@pytest.mark.parametrize("flags,algorithm", [((), b"ED"), (("-l",), b"Ed")], ids=["default", "legacy"])
def test_minisign_keys_and_signatures_load(tmp_path, flags: tuple, algorithm: bytes) -> None:
    pub, sec, msg = tmp_path / "x.pub", tmp_path / "x.key", tmp_path / "m"
    result = run("minisign", "-G", "-W", "-p", str(pub), "-s", str(sec))
    assert result.returncode == 0, result.stderr
    public, secret = PublicKey.from_file(pub), SecretKey.from_file(sec)
    assert secret.public_key() == public
    # minisign prints the id unpadded (%PRIX64): 1 key in 16 starts with a 0 digit.
    assert pub.read_text().splitlines()[0] == f"untrusted comment: minisign public key {public.key_id_hex_unpadded}"
    assert public.to_file_text() == pub.read_text()
    # Same layout and comment line as minisign, apart from the checksum
    # (minisign 0.11 leaves it zero for unencrypted keys).
    ours, theirs = secret.to_file_text().splitlines(), sec.read_text().splitlines()
    assert ours[0] == theirs[0]
    assert base64.b64decode(ours[1])[:126] == base64.b64decode(theirs[1])[:126]
    msg.write_bytes(MESSAGE)
    result = run("minisign", "-S", *flags, "-s", str(sec), "-m", str(msg), "-t", "from the tool")
    assert result.returncode == 0, result.stderr
    sig = Signature.from_text((tmp_path / "m.minisig").read_text())
    assert sig.algorithm == algorithm
    assert sig.trusted_comment == "from the tool"
    assert verify(MESSAGE, sig, [public]) == public
    with pytest.raises(TrustError):
        verify(MESSAGE + b"x", sig, [public])


@needs_minisign
def test_minisign_uses_our_key_pair(tmp_path, key: SecretKey) -> None:
    sec, pub, msg = tmp_path / "k.key", tmp_path / "k.pub", tmp_path / "m"
    write_key_pair(key, sec, pub)
    msg.write_bytes(MESSAGE)
    # -p makes minisign check that the secret key matches our public key
    result = run("minisign", "-S", "-s", str(sec), "-p", str(pub), "-m", str(msg))
    assert result.returncode == 0, result.stderr + result.stdout
    sig = Signature.from_text((tmp_path / "m.minisig").read_text())
    assert verify(MESSAGE, sig, [key.public_key()]) == key.public_key()
    result = run("minisign", "-R", "-s", str(sec), "-p", str(tmp_path / "again.pub"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "again.pub").read_text() == pub.read_text()
