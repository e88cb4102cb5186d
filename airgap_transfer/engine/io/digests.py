"""BLAKE3 always, SHA-256 when asked, over the same bytes in one pass.

BLAKE3 is the working digest; SHA-256 is for auditors who require a
FIPS-approved hash (``pack --sha256``, and unpack for the custody report's
in-toto subject).  ``Digests`` has the update/copy/hexdigest surface of a
blake3 hasher, so hot loops keep calling ``update(view)`` unchanged; hashlib
releases the GIL on large buffers.
"""

from __future__ import annotations

import hashlib
from typing import Protocol

import blake3


class Hasher(Protocol):
    """What a whole-bundle digest must do: Digests, or a discard where no whole is hashed."""

    def update(self, data: bytes | bytearray | memoryview, /) -> object: ...


class Digests:
    __slots__ = ("blake3", "sha256")

    def __init__(self, sha256: bool = False) -> None:
        self.blake3 = blake3.blake3(max_threads=blake3.blake3.AUTO)
        self.sha256 = hashlib.sha256() if sha256 else None

    def update(self, data: bytes | bytearray | memoryview) -> None:
        self.blake3.update(data)
        if self.sha256 is not None:
            self.sha256.update(data)

    def copy(self) -> Digests:
        twin = Digests.__new__(Digests)
        twin.blake3 = self.blake3.copy()
        twin.sha256 = self.sha256.copy() if self.sha256 is not None else None
        return twin

    def hexdigest(self) -> str:
        """The BLAKE3 digest, as the plain blake3 hasher this stands in for."""
        return self.blake3.hexdigest()

    def sha256_hexdigest(self) -> str | None:
        return self.sha256.hexdigest() if self.sha256 is not None else None
