"""One transfer's keys: seal chunks and the index's secrets on pack, open them on unpack.

Pack encrypts every chunk to the same X25519 recipients: those given with
``--encrypt-to``, plus, with ``--passphrase``, a fresh per-transfer identity
whose secret travels as ``identity.age`` (scrypt, age's passphrase
recipient) on every drive and in the signed index.  Per chunk, this costs one
X25519 exchange per recipient; scrypt runs once per transfer, not per chunk.

Failures become the brief's exit codes here: no identity opens the index's
sealed section → TrustError (5); a sealed section that does not decrypt or
parse although a stanza opened → IntegrityError (4).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from airgap_transfer.engine.crypt import age
from airgap_transfer.engine.crypt.keys import (
    Identity,
    ScryptIdentity,
    ScryptRecipient,
    X25519Identity,
    X25519Recipient,
    parse_identities,
)
from airgap_transfer.engine.io import sealed_chunks
from airgap_transfer.errors import FormatError, IntegrityError, TrustError, UsageError
from airgap_transfer.format import encryption
from airgap_transfer.format.encryption import Encryption, SealedSection
from airgap_transfer.format.index import Index


class _ChunkOpener:
    """An age.Opener whose failures are sealed_chunks.SealError (the io layer's vocabulary)."""

    def __init__(self, identities: Sequence[Identity], read_into: Callable[[memoryview], int], cap: int) -> None:
        try:
            self.opener = age.Opener(identities, read_into, cap)
        except age.AgeError as exc:
            raise _seal_error(exc) from None

    def readinto(self, view: memoryview) -> int:
        try:
            return self.opener.readinto(view)
        except age.AgeError as exc:
            raise _seal_error(exc) from None

    def read(self, size: int = -1) -> bytes:
        try:
            return self.opener.read(size)
        except age.AgeError as exc:
            raise _seal_error(exc) from None


def _seal_error(exc: age.AgeError) -> sealed_chunks.SealError:
    if isinstance(exc, age.NoIdentity):
        kind = "key"
    else:
        kind = "auth" if isinstance(exc, age.AuthenticationError) else "format"
    return sealed_chunks.SealError(kind, str(exc))


@dataclass
class SealingKeys:
    """Pack's side: who can read the transfer."""

    recipients: list[X25519Recipient]
    passphrase: bytes | None = None
    transfer_identity: X25519Identity | None = None
    identity_file: bytes | None = None   # identity.age

    @classmethod
    def create(cls, recipients: list[X25519Recipient], passphrase: bytes | None,
               work_factor: int | None = None) -> SealingKeys:
        unique = list(dict.fromkeys(recipients))
        keys = cls(unique, passphrase)
        if passphrase is not None:
            keys.transfer_identity = X25519Identity.generate()
            keys.identity_file = identity_file(keys.transfer_identity, passphrase, work_factor)
            keys.recipients = [*unique, keys.transfer_identity.recipient]
        if not keys.recipients:
            raise UsageError("encryption needs a recipient (--encrypt-to) or --passphrase")
        if len(keys.recipients) > encryption.MAX_RECIPIENTS:
            raise UsageError(f"at most {encryption.MAX_RECIPIENTS} recipients")
        return keys

    @classmethod
    def resume(cls, recipients: list[X25519Recipient], passphrase: bytes | None,
               identity_bytes: bytes | None) -> SealingKeys:
        """The keys of a transfer an earlier run began: its identity.age reopened with the passphrase."""
        unique = list(dict.fromkeys(recipients))
        keys = cls(unique, passphrase)
        if identity_bytes is not None:
            if passphrase is None:
                raise UsageError("the unfinished transfer is encrypted with a passphrase", hint="add --passphrase")
            keys.transfer_identity = open_identity_file(identity_bytes, passphrase)
            keys.identity_file = identity_bytes
            keys.recipients = [*unique, keys.transfer_identity.recipient]
        return keys

    def start_sealer(self, emit: Callable[[memoryview], None]) -> age.Sealer:
        return age.Sealer(self.recipients, emit)

    @property
    def header_size(self) -> int:
        return age.header_size(self.recipients)

    def plain_limit(self, cap: int) -> int:
        return age.plain_limit(cap, self.recipients)

    def stored_size(self, plain: int) -> int:
        return age.stored_size(plain, self.recipients)

    def public_index(self, index: Index) -> Index:
        """The index as signed and written: the secrets in its sealed section."""
        field_ = Encryption(recipients=len(self.recipients), passphrase=self.identity_file is not None,
                            sealed=b"", identity=self.identity_file)
        return encryption.public_index(index, field_, lambda data: age.encrypt(data, self.recipients))


def identity_file(identity: X25519Identity, passphrase: bytes, work_factor: int | None = None) -> bytes:
    text = f"# airgap-transfer per-transfer identity\n# public key: {identity.recipient}\n{identity}\n"
    recipient = ScryptRecipient(passphrase) if work_factor is None else ScryptRecipient(passphrase, work_factor)
    return age.encrypt(text.encode(), [recipient])


def open_identity_file(data: bytes, passphrase: bytes) -> X25519Identity:
    try:
        text = age.decrypt(data, [ScryptIdentity(passphrase)], encryption.MAX_IDENTITY_FILE_BYTES)
        return parse_identities(text.decode("utf-8"))[0]
    except age.NoIdentity:
        raise TrustError("the passphrase does not open this transfer's identity.age",
                         hint="check the passphrase (or AIRGAP_TRANSFER_PASSPHRASE_FILE) and try again") from None
    except (age.AgeError, UnicodeDecodeError, ValueError) as exc:
        raise IntegrityError(f"identity.age is damaged ({exc})",
                             hint="it is signed in the index: copy the drive's transfer folder again") from None


@dataclass
class OpeningKeys:
    """Unpack's side: the identities given (and the passphrase, for identity.age)."""

    identities: list[Identity] = field(default_factory=list)
    passphrase: bytes | None = None
    opened_identity_files: set[bytes] = field(default_factory=set)

    def open_index(self, index: Index, ask_passphrase: Callable[[], bytes | None] | None = None) -> Index:
        """The full index from a verified public one; TrustError when no key given opens it.

        The identities given are tried first; the passphrase (given, or asked
        for only now) unlocks the transfer's identity.age when they do not.
        """
        enc = index.encryption
        assert enc is not None, "only an encrypted index is opened"
        data = self._open_sealed(index, enc) if self.identities else None
        if data is None and enc.passphrase and enc.identity is not None:
            if enc.identity not in self.opened_identity_files:
                if self.passphrase is None and ask_passphrase is not None:
                    self.passphrase = ask_passphrase()
                if self.passphrase is not None:  # scrypt runs once per identity.age, not per index copy
                    self.identities.append(open_identity_file(enc.identity, self.passphrase))
                    self.opened_identity_files.add(enc.identity)
            data = self._open_sealed(index, enc) if self.identities else None
        if data is None:
            if self.identities:
                raise TrustError(f"none of the {len(self.identities)} identity(ies) given is a recipient of "
                                 f"transfer {index.transfer_id} (encrypted to {enc.recipients} recipient(s))",
                                 hint="use the age identity whose public key the sender encrypted to"
                                 + (", or its passphrase" if enc.passphrase else ""))
            needs = "an age identity (--identity FILE)" + (" or the passphrase" if enc.passphrase else "")
            raise TrustError(f"transfer {index.transfer_id} is encrypted to {enc.recipients} recipient(s); "
                             f"unpacking it needs {needs}",
                             hint="pass --identity KEY.txt" + (" or set AIRGAP_TRANSFER_PASSPHRASE_FILE"
                                                                if enc.passphrase else ""))
        try:
            section = SealedSection.from_bytes(data, len(enc.sealed))
        except FormatError as exc:
            raise IntegrityError(f"the index's sealed section is malformed ({exc.detail})") from None
        return encryption.apply_sealed(index, section)

    def _open_sealed(self, index: Index, enc: Encryption) -> bytes | None:
        """The sealed section's plaintext, or None when no identity held opens it."""
        try:
            return age.decrypt(enc.sealed, self.identities, len(enc.sealed))
        except age.NoIdentity:
            return None
        except age.AgeError as exc:
            raise IntegrityError(f"the index's sealed section of transfer {index.transfer_id} does not "
                                 f"decrypt ({exc})",
                                 hint="the signer wrote a damaged index; ask the sender to pack again") from None

    def open_chunk(self, read_into: Callable[[memoryview], int], cap: int) -> _ChunkOpener:
        return _ChunkOpener(self.identities, read_into, cap)
