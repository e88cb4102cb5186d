"""age recipients and identities: X25519 (``age1…`` / ``AGE-SECRET-KEY-1…``) and scrypt.

A recipient wraps a file key into a stanza; an identity unwraps a stanza
into the file key, or returns None when the stanza is not for it.  A stanza
of a type we know but malformed is an error, not "not for us", as in age.

Key files are read as age reads them: one key a line, ``#`` comments and
blank lines ignored.  Anything else on a line (an SSH key, a plugin) is
refused by name, with the line number, never echoed whole.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from airgap_transfer import limits
from airgap_transfer.engine.crypt import bech32
from airgap_transfer.engine.crypt.header import HeaderError, Stanza, b64decode, b64encode

FILE_KEY_SIZE = 16
RECIPIENT_HRP = "age"
IDENTITY_HRP = "age-secret-key-"
X25519_LABEL = b"age-encryption.org/v1/X25519"
SCRYPT_LABEL = b"age-encryption.org/v1/scrypt"
SCRYPT_SALT_SIZE = 16
SCRYPT_WORK_FACTOR = 18        # age's default: 2^18 iterations, about a second
MAX_SCRYPT_WORK_FACTOR = limits.MAX_SCRYPT_WORK_FACTOR
MAX_KEY_FILE_BYTES = limits.MAX_AGE_KEY_FILE_BYTES
MAX_KEYS_PER_FILE = limits.MAX_AGE_KEYS_PER_FILE
_ZERO_NONCE = bytes(12)
_Key = TypeVar("_Key")


class KeyError_(ValueError):
    """A key string or key file is malformed; the message says which line."""


def _wrap(key: bytes, file_key: bytes) -> bytes:
    return ChaCha20Poly1305(key).encrypt(_ZERO_NONCE, file_key, None)


def _unwrap(key: bytes, body: bytes) -> bytes | None:
    try:
        return ChaCha20Poly1305(key).decrypt(_ZERO_NONCE, body, None)
    except InvalidTag:
        return None


def _decode_key(text: str, hrp: str, cased: str, what: str, form: str) -> bytes:
    """The 32 bytes of an age X25519 key string: bech32 with this HRP, in one case (``cased``) as age writes it."""
    try:
        found, data = bech32.decode(text)
    except bech32.Bech32Error as exc:
        raise KeyError_(f"not an age {what} ({exc})") from None
    if found != hrp or len(data) != 32 or text != cased:
        raise KeyError_(f"not an age X25519 {what} ({form})")
    return data


def _x25519_wrap_key(shared: bytes, share: bytes, recipient: bytes) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt=share + recipient, info=X25519_LABEL).derive(shared)


@dataclass(frozen=True)
class X25519Recipient:
    public: bytes  # 32 bytes

    @classmethod
    def parse(cls, text: str) -> X25519Recipient:
        return cls(_decode_key(text, RECIPIENT_HRP, text.lower(), "recipient", "age1…"))

    def __str__(self) -> str:
        return bech32.encode(RECIPIENT_HRP, self.public)

    def wrap(self, file_key: bytes) -> list[Stanza]:
        ephemeral = X25519PrivateKey.generate()
        share = ephemeral.public_key().public_bytes_raw()
        shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(self.public))
        body = _wrap(_x25519_wrap_key(shared, share, self.public), file_key)
        return [Stanza("X25519", [b64encode(share).decode()], body)]


@dataclass(frozen=True)
class X25519Identity:
    secret: bytes  # 32 bytes

    @classmethod
    def generate(cls) -> X25519Identity:
        return cls(X25519PrivateKey.generate().private_bytes_raw())

    @classmethod
    def parse(cls, text: str) -> X25519Identity:
        return cls(_decode_key(text, IDENTITY_HRP, text.upper(), "identity", "AGE-SECRET-KEY-1…"))

    def __str__(self) -> str:
        return bech32.encode(IDENTITY_HRP, self.secret).upper()

    @property
    def recipient(self) -> X25519Recipient:
        key = X25519PrivateKey.from_private_bytes(self.secret)
        return X25519Recipient(key.public_key().public_bytes_raw())

    def unwrap(self, stanzas: list[Stanza]) -> bytes | None:
        for stanza in stanzas:
            if stanza.type != "X25519":
                continue
            if len(stanza.args) != 1:
                raise HeaderError("X25519 stanza must have exactly one argument")
            share = b64decode(stanza.args[0].encode(), "X25519 share")
            if len(share) != 32:
                raise HeaderError("X25519 share is not 32 bytes")
            if len(stanza.body) != FILE_KEY_SIZE + 16:
                raise HeaderError("X25519 stanza body is not 32 bytes")
            key = X25519PrivateKey.from_private_bytes(self.secret)
            try:  # cryptography refuses an all-zero shared secret (a low-order share), as age must
                shared = key.exchange(X25519PublicKey.from_public_bytes(share))
            except ValueError:
                shared = bytes(32)
            if not any(shared):
                raise HeaderError("X25519 share is a low-order point")
            file_key = _unwrap(_x25519_wrap_key(shared, share, self.recipient.public), stanza.body)
            if file_key is not None:
                return file_key
        return None


def _scrypt_key(passphrase: bytes, salt: bytes, work_factor: int) -> bytes:
    return Scrypt(salt=SCRYPT_LABEL + salt, length=32, n=2 ** work_factor, r=8, p=1).derive(passphrase)


@dataclass(frozen=True)
class ScryptRecipient:
    passphrase: bytes
    work_factor: int = SCRYPT_WORK_FACTOR

    def wrap(self, file_key: bytes) -> list[Stanza]:
        salt = os.urandom(SCRYPT_SALT_SIZE)
        body = _wrap(_scrypt_key(self.passphrase, salt, self.work_factor), file_key)
        return [Stanza("scrypt", [b64encode(salt).decode(), str(self.work_factor)], body)]


@dataclass(frozen=True)
class ScryptIdentity:
    passphrase: bytes
    max_work_factor: int = MAX_SCRYPT_WORK_FACTOR

    def unwrap(self, stanzas: list[Stanza]) -> bytes | None:
        ours = [s for s in stanzas if s.type == "scrypt"]
        if not ours:
            return None
        if len(stanzas) != 1:  # age: a passphrase-encrypted file has no other recipient
            raise HeaderError("an scrypt stanza must be the only stanza of its header")
        stanza = ours[0]
        if len(stanza.args) != 2:
            raise HeaderError("scrypt stanza must have a salt and a work factor")
        salt = b64decode(stanza.args[0].encode(), "scrypt salt")
        text = stanza.args[1]
        if len(salt) != SCRYPT_SALT_SIZE:
            raise HeaderError("scrypt salt is not 16 bytes")
        if not text.isdigit() or not text.isascii() or (text.startswith("0")) or len(text) > 2:
            raise HeaderError("scrypt work factor is not a decimal number")
        work_factor = int(text)
        if work_factor > self.max_work_factor:
            raise HeaderError(f"scrypt work factor 2^{work_factor} is over the 2^{self.max_work_factor} we accept")
        if len(stanza.body) != FILE_KEY_SIZE + 16:
            raise HeaderError("scrypt stanza body is not 32 bytes")
        return _unwrap(_scrypt_key(self.passphrase, salt, work_factor), stanza.body)


Recipient = X25519Recipient | ScryptRecipient
Identity = X25519Identity | ScryptIdentity


def _key_lines(text: str, what: str) -> Iterator[tuple[int, str]]:
    count = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        count += 1
        if count > MAX_KEYS_PER_FILE:
            raise KeyError_(f"more than {MAX_KEYS_PER_FILE} keys in the {what} file")
        yield number, line


def _kind(line: str) -> str:
    if line.startswith(("ssh-", "ecdsa-", "sk-")):
        return "an SSH key (not supported here; use an age X25519 key)"
    if line.startswith("AGE-PLUGIN-"):
        return "an age plugin identity (not supported here)"
    return "not an age X25519 key"


def _parse_key_file(text: str, what: str, prefix: str, parse: Callable[[str], _Key]) -> list[_Key]:
    """Every key of a key file, each line starting with ``prefix``; a line that does not is named by kind."""
    found = []
    for number, line in _key_lines(text, what):
        if not line.startswith(prefix):
            raise KeyError_(f"line {number}: {_kind(line)}")
        try:
            found.append(parse(line))
        except KeyError_ as exc:
            raise KeyError_(f"line {number}: {exc}") from None
    if not found:
        raise KeyError_(f"no {prefix}… line in the {what} file")
    return found


def parse_identities(text: str) -> list[X25519Identity]:
    """Every identity of an age identity file (as ``age -i`` reads it)."""
    return _parse_key_file(text, "identity", "AGE-SECRET-KEY-1", X25519Identity.parse)


def parse_recipients(text: str) -> list[X25519Recipient]:
    """Every recipient of an age recipients file (as ``age -R`` reads it)."""
    return _parse_key_file(text, "recipients", "age1", X25519Recipient.parse)


def identity_file_text(identity: X25519Identity, created: str) -> str:
    """What age-keygen writes, so either tool reads the other's files."""
    return (f"# created: {created}\n# public key: {identity.recipient}\n{identity}\n")
