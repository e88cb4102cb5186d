"""The bytes of a minisign secret key file: sealed and opened, in clear or under a passphrase.

The layout is ``minisign -G``'s: algorithm, KDF and checksum tags, scrypt salt
and limits, then key id, secret key (seed and public half) and a BLAKE2b
checksum.  With a passphrase, scrypt (salsa20/8, SHA-256; hashlib's, from
OpenSSL) turns it and a random salt into a 104-byte stream XORed over those
last three; the checksum then tells a wrong passphrase from a right one.
``minisign.SecretKey`` reads and writes the file's two lines around these bytes.
"""

from __future__ import annotations

import hashlib
import secrets

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from airgap_transfer import limits
from airgap_transfer.errors import KeyFileError

KEY_ALGORITHM = b"Ed"  # minisign's key algorithm tag (its legacy signatures carry it too)
KDF_NONE = b"\0\0"
KDF_SCRYPT = b"Sc"
CHK_BLAKE2B = b"B2"
BLOB_LEN = 2 + 2 + 2 + 32 + 8 + 8 + 8 + 64 + 32  # 158: tags, salt, limits, key id, key pair, checksum
# minisign's (libsodium's "sensitive") scrypt limits; the file records them, readers use those recorded.
OPSLIMIT = 33554432
MEMLIMIT = 1073741824
_ENCRYPTED_LEN = 8 + 64 + 32    # key id, secret key (seed and public half), checksum
_KEYGEN_HINT = "make a key with `minisign -G` or `airgap-transfer keygen`"


class EncryptedKeyError(KeyFileError):
    """An encrypted secret key was read without a passphrase."""


def seal(key_id: bytes, seed: bytes, passphrase: bytes | None = None,
         kdf_limits: tuple[int, int] = (OPSLIMIT, MEMLIMIT)) -> bytes:
    """The file's bytes for this key; without a passphrase, zero salt and limits as ``minisign -G -W``."""
    # We fill in the checksum where minisign 0.11 leaves zeros for -W; it ignores it.
    keypair = seed + public_half(seed)
    secret = key_id + keypair + _checksum(key_id, keypair)
    if passphrase is None:
        return KEY_ALGORITHM + KDF_NONE + CHK_BLAKE2B + bytes(32 + 8 + 8) + secret
    salt = secrets.token_bytes(32)
    stream = _kdf_stream(passphrase, salt, *kdf_limits)
    recorded = kdf_limits[0].to_bytes(8, "little") + kdf_limits[1].to_bytes(8, "little")
    return KEY_ALGORITHM + KDF_SCRYPT + CHK_BLAKE2B + salt + recorded + _xor(secret, stream)


def is_encrypted(blob: bytes) -> bool:
    return len(blob) == BLOB_LEN and blob[2:4] == KDF_SCRYPT


def open_sealed(blob: bytes, passphrase: bytes | None = None) -> tuple[bytes, bytes]:
    """(key id, seed) of a key file's ``BLOB_LEN`` bytes, checked; refused with the reason otherwise."""
    if blob[:2] != KEY_ALGORITHM or blob[2:4] not in (KDF_NONE, KDF_SCRYPT) or blob[4:6] != CHK_BLAKE2B:
        raise KeyFileError("secret key uses an unknown algorithm", hint=_KEYGEN_HINT)
    secret = blob[54:]
    encrypted = blob[2:4] == KDF_SCRYPT
    if encrypted:
        if passphrase is None:
            raise EncryptedKeyError("secret key is encrypted with a passphrase")
        opslimit, memlimit = int.from_bytes(blob[38:46], "little"), int.from_bytes(blob[46:54], "little")
        if opslimit > limits.MAX_SCRYPT_OPSLIMIT or memlimit > limits.MAX_SCRYPT_MEMLIMIT:
            raise KeyFileError(f"secret key asks for scrypt limits beyond what this tool allows "
                               f"({opslimit} operations, {memlimit} bytes)", hint=_KEYGEN_HINT)
        secret = _xor(secret, _kdf_stream(passphrase, blob[6:38], opslimit, memlimit))
    key_id, keypair, chk = secret[:8], secret[8:72], secret[72:]
    good_chk = chk == _checksum(key_id, keypair)
    if encrypted and not good_chk:
        raise KeyFileError("wrong passphrase for the secret key (or the key file is damaged)",
                           hint="try again; scripts give it in the file named by "
                                "AIRGAP_TRANSFER_PASSPHRASE_FILE")
    # minisign 0.11 writes an all-zero checksum for -W keys; anything else
    # must match, and the stored public half must match the seed.
    bad_chk = not good_chk and chk != bytes(32)
    if bad_chk or public_half(keypair[:32]) != keypair[32:]:
        raise KeyFileError("secret key is corrupt (checksum or public half does not match)",
                           hint="restore the key file from its backup")
    return key_id, keypair[:32]


def public_half(seed: bytes) -> bytes:
    return Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()


def _kdf_stream(passphrase: bytes, salt: bytes, opslimit: int, memlimit: int) -> bytes:
    n_log2, r, p = scrypt_params(opslimit, memlimit)
    return hashlib.scrypt(passphrase, salt=salt, n=1 << n_log2, r=r, p=p,
                          maxmem=128 * r * ((1 << n_log2) + p + 2) + 2**20, dklen=_ENCRYPTED_LEN)


def scrypt_params(opslimit: int, memlimit: int) -> tuple[int, int, int]:
    """libsodium's pickparams for crypto_pwhash_scryptsalsa208sha256: (log2 N, r, p)."""
    opslimit = max(opslimit, 32768)
    r = 8
    if opslimit < memlimit // 32:
        p = 1
        max_n = opslimit // (r * 4)
    else:
        max_n = memlimit // (r * 128)
    n_log2 = 1
    while n_log2 < 63 and (1 << n_log2) <= max_n // 2:
        n_log2 += 1
    if not opslimit < memlimit // 32:
        max_rp = min((opslimit // 4) // (1 << n_log2), 0x3FFFFFFF)
        p = max(1, max_rp // r)
    return n_log2, r, p


def _xor(data: bytes, stream: bytes) -> bytes:
    return bytes(a ^ b for a, b in zip(data, stream, strict=True))


def _checksum(key_id: bytes, keypair: bytes) -> bytes:
    return hashlib.blake2b(KEY_ALGORITHM + key_id + keypair, digest_size=32).digest()
