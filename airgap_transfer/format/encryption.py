"""The index's optional ``encryption`` field, and the sealed section it carries.

An encrypted transfer's index is signed and readable by anyone, like every
index, so that a courier can check the stored bytes without a key.  What the
key hides lives in ``sealed``: an age file (to the same recipients as the
chunks) holding a msgpack ``SealedSection`` with the bundle name, the
whole-bundle digests and each chunk's plaintext digests.  In the public index
those places hold ``PUBLIC_NAME``, nothing, and the stored digests.

``public_index`` turns the packer's full index into that public form;
``apply_sealed`` turns a public index back into the full one once the sealed
section has been decrypted.  Both are pure data: the cryptography is in
``engine/crypt``.  See docs/FORMAT.md section 13.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airgap_transfer import limits
from airgap_transfer.errors import FormatError, TrustError
from airgap_transfer.format import serialization

if TYPE_CHECKING:
    from airgap_transfer.format.index import Index

SCHEME = "age-v1"
SEALED_MAGIC = "airgap-transfer/sealed"
PUBLIC_NAME = "encrypted-bundle"
MAX_RECIPIENTS = limits.MAX_RECIPIENTS
MAX_IDENTITY_FILE_BYTES = limits.MAX_IDENTITY_AGE_BYTES
ENCRYPTED_ENCODINGS = ("age", "zstd+age")


def is_encrypted(encoding: str) -> bool:
    return encoding in ENCRYPTED_ENCODINGS


def is_compressed(encoding: str) -> bool:
    return encoding in ("zstd", "zstd+age")


def sealed_encoding(encoding: str) -> str:
    """The encoding of a chunk that is also encrypted: ``none`` → ``age``, ``zstd`` → ``zstd+age``."""
    return "age" if encoding == "none" else f"{encoding}+age"


@dataclass
class Encryption:
    """What the index says about encryption: that it is on, and to how many recipients."""

    recipients: int               # X25519 stanzas in every chunk's header (the per-transfer identity counts)
    passphrase: bool              # identity.age holds a per-transfer identity, under an scrypt passphrase
    sealed: bytes                 # age file of the SealedSection
    identity: bytes | None = None  # identity.age's bytes when ``passphrase``
    scheme: str = SCHEME

    def to_dict(self) -> dict[str, Any]:
        return {"scheme": self.scheme, "recipients": self.recipients, "passphrase": self.passphrase,
                "identity": self.identity, "sealed": self.sealed}

    @classmethod
    def from_dict(cls, data: Any, limit: int) -> Encryption:
        if not isinstance(data, dict) or set(data) != {"scheme", "recipients", "passphrase", "identity", "sealed"}:
            raise FormatError("index field 'encryption' is malformed")
        if data["scheme"] != SCHEME:
            raise FormatError(f"index encryption scheme {str(data['scheme'])[:40]!r} is not supported "
                              f"(this tool reads {SCHEME})", hint="use an airgap-transfer release that reads it")
        recipients, passphrase = data["recipients"], data["passphrase"]
        identity, sealed = data["identity"], data["sealed"]
        if type(recipients) is not int or not 1 <= recipients <= MAX_RECIPIENTS:
            raise FormatError(f"encryption recipients is not an integer in [1, {MAX_RECIPIENTS}]")
        if type(passphrase) is not bool:
            raise FormatError("encryption passphrase is not a boolean")
        if passphrase != (identity is not None):
            raise FormatError("encryption identity must be present exactly when a passphrase is used")
        if identity is not None and (not isinstance(identity, bytes) or len(identity) > MAX_IDENTITY_FILE_BYTES):
            raise FormatError(f"encryption identity is not bytes of at most {MAX_IDENTITY_FILE_BYTES}")
        if not isinstance(sealed, bytes) or not sealed or len(sealed) > limit:
            raise FormatError("encryption sealed section is not bytes within the index limit")
        return cls(recipients, passphrase, sealed, identity)


@dataclass
class SealedSection:
    """The secrets of the index: name, whole digests, plaintext chunk digests (seq order)."""

    transfer_id: str
    bundle_name: str
    bundle_blake3: str | None
    bundle_sha256: str | None
    chunks: list[tuple[str, str | None]]  # (blake3, sha256) of each chunk's plaintext, in seq order

    def to_bytes(self) -> bytes:
        return serialization.dumps({
            "magic": SEALED_MAGIC, "transfer_id": self.transfer_id,
            "bundle": {"name": self.bundle_name, "blake3": self.bundle_blake3, "sha256": self.bundle_sha256},
            "chunks": [[b3, sha] for b3, sha in self.chunks]})

    @classmethod
    def from_bytes(cls, data: bytes, limit: int) -> SealedSection:
        raw = serialization.loads(data, what="sealed section", limit=limit)
        if raw.get("magic") != SEALED_MAGIC or set(raw) != {"magic", "transfer_id", "bundle", "chunks"}:
            raise FormatError("sealed section is malformed")
        bundle, chunks = raw["bundle"], raw["chunks"]
        if not isinstance(bundle, dict) or set(bundle) != {"name", "blake3", "sha256"} or not isinstance(chunks, list):
            raise FormatError("sealed section is malformed")

        def digest(value: Any) -> str:
            if not isinstance(value, str) or not limits.HEX256_RE.fullmatch(value):
                raise FormatError("sealed section holds a malformed digest")
            return value

        def optional(value: Any) -> str | None:
            return None if value is None else digest(value)

        name = bundle["name"]
        if not isinstance(name, str) or not name or len(name) > limits.MAX_NAME_CHARS:
            raise FormatError("sealed section holds a malformed bundle name")
        entries = []
        for item in chunks:
            if not isinstance(item, list) or len(item) != 2:
                raise FormatError("sealed section holds a malformed chunk entry")
            entries.append((digest(item[0]), optional(item[1])))
        if not isinstance(raw["transfer_id"], str):
            raise FormatError("sealed section is malformed")
        return cls(raw["transfer_id"], name, optional(bundle["blake3"]), optional(bundle["sha256"]), entries)


def public_index(index: Index, encryption_without_sealed: Encryption, seal: Callable[[bytes], bytes]) -> Index:
    """The index as it goes on the drive: secrets replaced, ``seal(bytes) -> bytes`` encrypts them."""
    section = SealedSection(index.transfer_id, index.bundle_name, index.bundle_blake3, index.bundle_sha256,
                            [(c.blake3, c.sha256) for c in sorted(index.chunks, key=lambda c: c.seq)])
    chunks = [dataclasses.replace(c, blake3=c.stored_blake3, sha256=None) for c in index.chunks]
    encryption = dataclasses.replace(encryption_without_sealed, sealed=seal(section.to_bytes()))
    return dataclasses.replace(index, bundle_name=PUBLIC_NAME, bundle_blake3=None, bundle_sha256=None,
                               bundle_original_name=None,  # the sender's name is as secret as the bundle's
                               chunks=chunks, encryption=encryption)


def apply_sealed(index: Index, section: SealedSection) -> Index:
    """The full index from a verified public one and its decrypted sealed section."""
    if section.transfer_id != index.transfer_id:
        raise TrustError("the sealed section of the index belongs to another transfer",
                         hint="the index was assembled from two transfers; use the drives of one")
    if len(section.chunks) != len(index.chunks):
        raise FormatError(f"the sealed section lists {len(section.chunks)} chunks, the index {len(index.chunks)}")
    if index.final and section.bundle_blake3 is None:
        raise FormatError("final index's sealed section carries no whole-bundle digest")
    chunks = [dataclasses.replace(c, blake3=b3, sha256=sha)
              for c, (b3, sha) in zip(sorted(index.chunks, key=lambda c: c.seq), section.chunks, strict=True)]
    full = dataclasses.replace(index, bundle_name=section.bundle_name, bundle_blake3=section.bundle_blake3,
                               bundle_sha256=section.bundle_sha256, chunks=chunks)
    full._check_name()
    return full
