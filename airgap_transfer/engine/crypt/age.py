"""Whole age files: small documents in memory, and the per-file sealer and opener.

``Sealer`` writes one age file through an ``emit`` callback (the chunk
writer hashes and writes what it emits).  ``Opener`` reads one through a
bounded ``read_into`` (the chunk reader caps and hashes what it reads) and
serves plaintext.  ``encrypt``/``decrypt`` are for small documents (the
index's sealed section, identity.age), bounded by the caller.

Errors: ``NoIdentity`` (no identity given opens any stanza: the wrong key),
``AgeFormatError`` (malformed header or stanza), ``AuthenticationError``
(header MAC or payload fails: the file was changed).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from airgap_transfer.engine.crypt import header, stream
from airgap_transfer.engine.crypt.keys import FILE_KEY_SIZE, Identity, Recipient, X25519Recipient

NONCE_SIZE = stream.NONCE_SIZE
X25519_STANZA_BYTES = len("-> X25519 ") + 43 + 1 + 43 + 1
FIXED_HEADER_BYTES = len(header.VERSION_LINE) + 1 + len("--- ") + 43 + 1


class AgeError(ValueError):
    """Root of what goes wrong reading an age file."""


class NoIdentity(AgeError):
    """None of the identities opens any recipient stanza of the file."""


class AgeFormatError(AgeError):
    """Not a well-formed age v1 file."""


class AuthenticationError(AgeError):
    """The header MAC or a payload chunk fails: the file is not what was encrypted."""


def header_size(recipients: Sequence[X25519Recipient]) -> int:
    """Bytes of header plus payload nonce for X25519 recipients (their stanzas have a fixed size)."""
    return FIXED_HEADER_BYTES + X25519_STANZA_BYTES * len(recipients) + NONCE_SIZE


def stored_size(plain: int, recipients: Sequence[X25519Recipient]) -> int:
    return header_size(recipients) + stream.sealed_size(plain)


def plain_limit(cap: int, recipients: Sequence[X25519Recipient]) -> int:
    """The most plaintext bytes whose age file still fits in ``cap`` bytes."""
    room = cap - header_size(recipients)
    if room <= stream.TAG:
        return 0
    full, rest = divmod(room, stream.SEALED_CHUNK)
    return full * stream.CHUNK + max(0, rest - stream.TAG)


class Sealer:
    """One age file to ``recipients``: header and nonce at once, then the payload as written."""

    def __init__(self, recipients: Sequence[Recipient], emit: Callable[[memoryview], None]) -> None:
        if not recipients:
            raise ValueError("an age file needs at least one recipient")
        file_key = os.urandom(FILE_KEY_SIZE)
        stanzas = [stanza for recipient in recipients for stanza in recipient.wrap(file_key)]
        nonce = os.urandom(NONCE_SIZE)
        emit(memoryview(header.emit(stanzas, file_key) + nonce))
        self.stream = stream.StreamWriter(stream.payload_key(file_key, nonce), emit)
        self.write = self.stream.write

    def finish(self) -> None:
        self.stream.finish()


def _open_header(found: header.Header, identities: Sequence[Identity]) -> bytes:
    try:
        for identity in identities:
            file_key = identity.unwrap(found.stanzas)
            if file_key is not None:
                break
        else:
            types = sorted({s.type for s in found.stanzas})
            raise NoIdentity(f"no identity given opens it ({len(found.stanzas)} stanza(s): {', '.join(types)})")
    except header.HeaderError as exc:
        raise AgeFormatError(str(exc)) from None
    if not header.verify_mac(found, file_key):
        raise AuthenticationError("its header MAC does not match (the header was changed)")
    return file_key


class Opener:
    """Reads one age file through ``read_into``; ``readinto`` gives plaintext, authenticated."""

    def __init__(self, identities: Sequence[Identity], read_into: Callable[[memoryview], int], cap: int) -> None:
        scratch = memoryview(bytearray(4096))

        def read_some(size: int) -> bytes:
            got = read_into(scratch[:size])
            return bytes(scratch[:got])

        try:
            found, rest = header.read(read_some, cap)
        except header.HeaderError as exc:
            raise AgeFormatError(str(exc)) from None
        file_key = _open_header(found, identities)
        while len(rest) < NONCE_SIZE:
            more = read_some(NONCE_SIZE - len(rest))
            if not more:
                raise AgeFormatError("file ends before the payload nonce")
            rest += more
        nonce, rest = rest[:NONCE_SIZE], rest[NONCE_SIZE:]
        self.stream = stream.StreamReader(stream.payload_key(file_key, nonce), read_into, rest)

    def readinto(self, view: memoryview) -> int:
        try:
            return self.stream.readinto(view)
        except stream.PayloadError as exc:
            raise AuthenticationError(str(exc)) from None

    def read(self, size: int = -1) -> bytes:
        """File-like ``read`` for the zstd decoder (which pulls pieces of at most ``size``)."""
        buffer = bytearray(size if size and size > 0 else stream.CHUNK)
        got = self.readinto(memoryview(buffer))
        del buffer[got:]
        return bytes(buffer)


def encrypt(data: bytes, recipients: Sequence[Recipient]) -> bytes:
    parts: list[bytes] = []
    sealer = Sealer(recipients, lambda view: parts.append(bytes(view)))
    sealer.write(data)
    sealer.finish()
    return b"".join(parts)


def decrypt(data: bytes, identities: Sequence[Identity], limit: int) -> bytes:
    """The plaintext of a small age file, at most ``limit`` bytes."""
    view = memoryview(data)
    position = 0

    def read_into(target: memoryview) -> int:
        nonlocal position
        take = min(len(target), len(view) - position)
        target[:take] = view[position:position + take]
        position += take
        return take

    opener = Opener(identities, read_into, len(data))
    out = bytearray()
    piece = memoryview(bytearray(stream.CHUNK))
    while True:
        got = opener.readinto(piece)
        if not got:
            return bytes(out)
        out += piece[:got]
        if len(out) > limit:
            raise AgeFormatError(f"decrypts to more than {limit} bytes")
