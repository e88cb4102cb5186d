"""BLAKE3 always, SHA-256 when asked, over the same bytes in one pass.

BLAKE3 is the working digest; SHA-256 is for auditors who require a
FIPS-approved hash (``pack --sha256``, and unpack for the custody report's
in-toto subject).  ``Digests`` has the update/copy/hexdigest surface of a
blake3 hasher, so hot loops keep calling ``update(view)`` unchanged; hashlib
releases the GIL on large buffers.

Every BLAKE3 hasher here is single-threaded on purpose.  blake3's
multi-threaded mode (a Rayon pool) spun on this project's 2-core test machine:
``strace -f -c`` of one 1 GB unpack counted 26,000 ``sched_yield`` and 11,000
``futex`` calls, the pool competing with the reader and writer threads for the
cores it should leave them.  One core hashes at about 4 GB/s, faster than any
medium; the other threads keep the disk busy.  Hashing a 2 MiB view still
releases the GIL.
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
        self.blake3 = blake3.blake3()
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
