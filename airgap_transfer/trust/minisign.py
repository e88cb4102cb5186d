"""Minisign-compatible Ed25519 keys and signatures.

Files written here are read by the ``minisign`` tool and vice versa, so an
operator can check a bundle with stock tooling.  Secret keys may be encrypted
with a passphrase exactly as ``minisign -G`` does it; their bytes are sealed
and opened in ``secret_keys``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from airgap_transfer import limits
from airgap_transfer.errors import KeyFileError, TrustError, UsageError
from airgap_transfer.trust import secret_keys
from airgap_transfer.trust.secret_keys import MEMLIMIT, OPSLIMIT, EncryptedKeyError

ALG_LEGACY = secret_keys.KEY_ALGORITHM  # signs the raw message; also the key algorithm tag
ALG_HASHED = b"ED"  # signs blake2b-512(message); minisign's default since 0.10
UNTRUSTED = "untrusted comment: "
TRUSTED = "trusted comment: "
# minisign -G writes this line even with -W; we copy it byte for byte.
SECRET_COMMENT = UNTRUSTED + "minisign encrypted secret key"
_FORBIDDEN = ("\n", "\r", "\0")  # minisign stops or trims a comment at these
_PATH_HINT = "check the path or create a key pair with `airgap-transfer keygen`"
_REFETCH_HINT = "fetch the .minisig file again; it must be the four lines minisign writes"
_RESIGN_HINT = "sign again with minisign or airgap-transfer"


def _b64decode(line: str) -> bytes | None:
    """Strict base64 (no stray characters), or None so callers pick the error."""
    try:
        return base64.b64decode(line.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _key_id_hex(key_id: bytes) -> str:
    return f"{int.from_bytes(key_id, 'little'):016X}"


def _utf8(text: str) -> bytes:
    # surrogateescape lets a file decoded the same way round-trip its bytes.
    return text.encode("utf-8", "surrogateescape")


def _lines(text: str) -> list[str]:
    """Split on LF only (a comment may hold other separators); allow CRLF."""
    if text.endswith("\n"):
        text = text[:-1]
    return [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]


StrPath = str | os.PathLike[str]
_K = TypeVar("_K")


def _read_small(path: StrPath, what: str) -> tuple[str, os.stat_result]:
    """Read a key file of at most limits.MAX_KEY_FILE_BYTES bytes; stat the open descriptor."""
    try:
        with open(path, "rb") as handle:
            info = os.fstat(handle.fileno())
            data = handle.read(limits.MAX_KEY_FILE_BYTES + 1)
    except FileNotFoundError:
        raise KeyFileError(f"{what} {path} does not exist", hint=_PATH_HINT) from None
    except OSError as exc:
        raise KeyFileError(f"cannot read {what} {path}: {exc.strerror}", hint=_PATH_HINT) from None
    try:
        if len(data) <= limits.MAX_KEY_FILE_BYTES:
            return data.decode("utf-8"), info
    except UnicodeDecodeError:
        pass
    raise KeyFileError(f"{what} {path} is not a minisign key (binary or larger than "
                       f"{limits.MAX_KEY_FILE_BYTES} bytes)", hint="point to the minisign key file itself")


def _parse_named(path: StrPath, parse: Callable[[str], _K], text: str) -> _K:
    """Run ``parse``; prefix any KeyFileError with the file it came from."""
    try:
        return parse(text)
    except KeyFileError as exc:
        raise KeyFileError(f"{path}: {exc.detail}", hint=exc.hint) from None


@dataclass(frozen=True)
class PublicKey:
    key_id: bytes
    raw: bytes

    def __post_init__(self) -> None:
        if len(self.key_id) != 8 or len(self.raw) != 32:
            raise ValueError("public key needs an 8-byte key id and 32 raw bytes")

    @property
    def key_id_hex(self) -> str:
        return _key_id_hex(self.key_id)

    @property
    def key_id_hex_unpadded(self) -> str:
        return self.key_id_hex.lstrip("0") or "0"

    def to_file_text(self) -> str:
        blob = _b64(ALG_LEGACY + self.key_id + self.raw)
        # minisign (-G and -R alike) prints the id with %PRIX64, without zero padding.
        return f"{UNTRUSTED}minisign public key {self.key_id_hex_unpadded}\n{blob}\n"

    @classmethod
    def from_text(cls, text: str) -> PublicKey:
        hint = "give a minisign public key file or its base64 line (starts with RW)"
        lines = _lines(text.strip()) if len(text) <= limits.MAX_KEY_FILE_BYTES else []
        if len(lines) == 2 and lines[0].startswith(UNTRUSTED):
            lines = lines[1:]  # the comment is unsigned; ignore its content
        blob = _b64decode(lines[0]) if len(lines) == 1 else None
        if blob is None or len(blob) != 42:
            raise KeyFileError("not a minisign public key", hint=hint)
        if blob[:2] != ALG_LEGACY:
            raise KeyFileError("public key uses an unknown algorithm", hint=hint)
        return cls(key_id=blob[2:10], raw=blob[10:])

    @classmethod
    def from_file(cls, path: StrPath) -> PublicKey:
        text, _ = _read_small(path, "public key file")
        return _parse_named(path, cls.from_text, text)


@dataclass(frozen=True)
class SecretKey:
    key_id: bytes
    seed: bytes = field(repr=False)  # never let a log line carry the key

    def __post_init__(self) -> None:
        if len(self.key_id) != 8 or len(self.seed) != 32:
            raise ValueError("secret key needs an 8-byte key id and a 32-byte seed")

    def _private(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(self.seed)

    def public_key(self) -> PublicKey:
        return PublicKey(key_id=self.key_id, raw=secret_keys.public_half(self.seed))

    def to_file_text(self, passphrase: bytes | None = None,
                     kdf_limits: tuple[int, int] = (OPSLIMIT, MEMLIMIT)) -> str:
        blob = secret_keys.seal(self.key_id, self.seed, passphrase, kdf_limits)
        return f"{SECRET_COMMENT}\n{_b64(blob)}\n"

    @classmethod
    def generate(cls) -> SecretKey:
        return cls(key_id=secrets.token_bytes(8), seed=secrets.token_bytes(32))

    @classmethod
    def from_text(cls, text: str, passphrase: bytes | None = None) -> SecretKey:
        hint = "give a minisign secret key file (two lines, made by `minisign -G`)"
        lines = _lines(text.strip()) if len(text) <= limits.MAX_KEY_FILE_BYTES else []
        if len(lines) != 2 or not lines[0].startswith(UNTRUSTED):
            raise KeyFileError("not a minisign secret key", hint=hint)
        blob = _b64decode(lines[1])
        if blob is None or len(blob) != secret_keys.BLOB_LEN:
            raise KeyFileError("not a minisign secret key", hint=hint)
        key_id, seed = secret_keys.open_sealed(blob, passphrase)
        return cls(key_id=key_id, seed=seed)

    @staticmethod
    def is_encrypted_text(text: str) -> bool:
        lines = _lines(text.strip()) if len(text) <= limits.MAX_KEY_FILE_BYTES else []
        blob = _b64decode(lines[1]) if len(lines) == 2 else None
        return blob is not None and secret_keys.is_encrypted(blob)

    @classmethod
    def from_file(cls, path: StrPath, check_permissions: bool = True,
                  passphrase: Callable[[], bytes] | None = None) -> SecretKey:
        """Read a key file; an encrypted one calls ``passphrase()`` for its passphrase."""
        text, info = _read_small(path, "secret key file")
        mode = stat.S_IMODE(info.st_mode)
        if check_permissions and os.name == "posix" and mode & 0o077:
            raise KeyFileError(f"secret key file {path} is accessible by group or others "
                               f"(mode {mode:04o})", hint=f"run `chmod 600 {path}`")
        given = passphrase() if passphrase is not None and cls.is_encrypted_text(text) else None
        try:
            return _parse_named(path, lambda t: cls.from_text(t, given), text)
        except EncryptedKeyError:
            raise EncryptedKeyError(f"secret key {path} is encrypted with a passphrase",
                                    hint="give its passphrase on a terminal or in the file named by "
                                         "AIRGAP_TRANSFER_PASSPHRASE_FILE") from None


@dataclass(frozen=True)
class Signature:
    algorithm: bytes
    key_id: bytes
    signature: bytes
    trusted_comment: str
    global_signature: bytes
    untrusted_comment: str

    @property
    def key_id_hex(self) -> str:
        return _key_id_hex(self.key_id)

    def to_file_text(self) -> str:
        sig_line = _b64(self.algorithm + self.key_id + self.signature)
        return (
            f"{UNTRUSTED}{self.untrusted_comment}\n{sig_line}\n"
            f"{TRUSTED}{self.trusted_comment}\n{_b64(self.global_signature)}\n"
        )

    @classmethod
    def from_text(cls, text: str) -> Signature:
        if len(text) > limits.MAX_SIGNATURE_BYTES:
            raise TrustError(f"signature file is longer than {limits.MAX_SIGNATURE_BYTES} characters",
                             hint=_REFETCH_HINT)
        lines = _lines(text)
        if len(lines) != 4 or not (lines[0].startswith(UNTRUSTED) and lines[2].startswith(TRUSTED)):
            raise TrustError("signature file is not in minisign format", hint=_REFETCH_HINT)
        sig, glob = _b64decode(lines[1]), _b64decode(lines[3])
        if sig is None or glob is None or len(sig) != 74 or len(glob) != 64:
            raise TrustError("signature file holds a damaged signature", hint=_REFETCH_HINT)
        if any(ch in lines[2] for ch in _FORBIDDEN):
            raise TrustError("signature's trusted comment contains a NUL or carriage return",
                             hint=_REFETCH_HINT)
        if sig[:2] not in (ALG_HASHED, ALG_LEGACY):
            raise TrustError("signature uses an unknown algorithm", hint=_RESIGN_HINT)
        return cls(
            algorithm=sig[:2], key_id=sig[2:10], signature=sig[10:],
            trusted_comment=lines[2][len(TRUSTED):], global_signature=glob,
            untrusted_comment=lines[0][len(UNTRUSTED):],
        )


def _check_comment(kind: str, text: str) -> None:
    if any(ch in text for ch in _FORBIDDEN):
        raise UsageError(f"{kind} comment contains a line break or NUL",
                         hint="use a single-line comment")


def sign(message: bytes, key: SecretKey, trusted_comment: str,
         untrusted_comment: str = "signature from airgap-transfer secret key") -> Signature:
    """Always the prehashed "ED" form: `minisign -V -H` refuses legacy ones."""
    return sign_prehashed(prehash(message).digest(), key, trusted_comment, untrusted_comment)


def prehash(message: bytes = b"") -> hashlib.blake2b:
    """The "ED" form's hash of the message; update it piece by piece to sign a stream."""
    return hashlib.blake2b(message, digest_size=64)


def sign_prehashed(digest: bytes, key: SecretKey, trusted_comment: str,
                   untrusted_comment: str = "signature from airgap-transfer secret key") -> Signature:
    """``sign`` of a message known only by its ``prehash`` digest (written as it was hashed)."""
    if len(digest) != 64:
        raise ValueError("a prehash is 64 bytes of BLAKE2b-512")
    _check_comment("trusted", trusted_comment)
    _check_comment("untrusted", untrusted_comment)
    private = key._private()
    sig = private.sign(digest)
    glob = private.sign(sig + _utf8(trusted_comment))
    result = Signature(ALG_HASHED, key.key_id, sig, trusted_comment, glob, untrusted_comment)
    if len(result.to_file_text()) > limits.MAX_SIGNATURE_BYTES:  # else we could not read it back
        raise UsageError("signature comments are too long",
                         hint=f"keep the signature file under {limits.MAX_SIGNATURE_BYTES} characters")
    return result


def _valid(raw: bytes, signature: bytes, data: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(raw).verify(signature, data)
    except (InvalidSignature, ValueError):
        return False
    return True


def verify(message: bytes, sig: Signature, trusted: Iterable[PublicKey]) -> PublicKey:
    """Return the trusted key that made ``sig`` over ``message``, or raise."""
    return verify_prehashed(prehash(message).digest(), lambda: message, sig, trusted)


def verify_prehashed(digest: bytes, message: Callable[[], bytes], sig: Signature,
                     trusted: Iterable[PublicKey]) -> PublicKey:
    """``verify`` of a message known by its ``prehash`` digest; ``message()`` only for a legacy signature."""
    candidates = [key for key in trusted if key.key_id == sig.key_id]
    if not candidates:
        raise TrustError(
            f"signed by key {sig.key_id_hex}, which is not trusted",
            hint="pass the sender's public key with --trust (or put it in the config folder's trusted/); "
                 "--allow-untrusted shows the key id for out-of-band comparison",
        )
    if sig.algorithm == ALG_HASHED:
        signed = digest
    elif sig.algorithm == ALG_LEGACY:
        signed = message()
    else:
        raise TrustError("signature uses an unknown algorithm", hint=_RESIGN_HINT)
    global_data = sig.signature + _utf8(sig.trusted_comment)
    for key in candidates:  # more than one only if two trusted keys share an id
        if all(_valid(key.raw, *pair) for pair in ((sig.signature, signed),
                                                   (sig.global_signature, global_data))):
            return key
    raise TrustError(
        f"signature by key {sig.key_id_hex} does not match the data or its trusted comment",
        hint="the data or signature was altered or damaged; fetch both again",
    )
