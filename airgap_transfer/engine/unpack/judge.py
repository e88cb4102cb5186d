"""One copy on a drive judged against the signed index: a chunk (stored, or decoded from zstd), identity.age.

Used by verify and status (inspect.py): a chunk's judge returns its problem in
a few words, or None when the copy is what the index says; identity_problems
returns one line per drive whose identity.age is not the signed one.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from airgap_transfer import limits
from airgap_transfer.engine.io import chunk_io, pipeline
from airgap_transfer.engine.io.digests import Digests
from airgap_transfer.engine.unpack import catalog
from airgap_transfer.events import Kind, Reporter
from airgap_transfer.format import layout
from airgap_transfer.format.index import Chunk, Index
from airgap_transfer.media import fsio

SHA256_MISMATCH = "SHA-256 does not match the signed index"


def zstd_copy(path: Path, chunk: Chunk, ring: pipeline.Ring) -> str | None:
    """A compressed chunk is proven by decoding it: stored and plain digests both (and the plain SHA-256
    when the index has one, hashed in the same pass)."""
    whole = Digests(sha256=True) if chunk.sha256 is not None else None
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        problem = chunk_io.read_chunk(fd, chunk, whole, None, ring, lambda n: None)
    finally:
        os.close(fd)
    if problem is None and whole is not None and whole.sha256_hexdigest() != chunk.sha256:
        return SHA256_MISMATCH
    return problem


def plain_copy(path: Path, length: int, digest: str, buffer: bytearray, hash_chunks: bool,
               sha256: str | None = None) -> str | None:
    """A file's size (status), or its BLAKE3 and, when ``sha256`` is given, its SHA-256 in the same read."""
    if not hash_chunks:
        size = os.lstat(path).st_size
        return None if size == length else f"size {size}, expected {length}"
    second = hashlib.sha256() if sha256 is not None else None
    actual, seen = fsio.hash_file_bounded(path, length, buffer, second.update if second is not None else None)
    if seen != length:
        return f"{seen} bytes, expected {length}" if seen < length else "longer than declared"
    if actual != digest:
        return "digest does not match the signed index"
    return SHA256_MISMATCH if second is not None and second.hexdigest() != sha256 else None


def identity_problems(index: Index, transfer: catalog.Transfer, report: Reporter) -> list[str]:
    """pack --passphrase: each drive's identity.age against the signed index's copy (``encryption.identity``).

    Unpack uses the signed copy; a person with stock ``age`` uses the drive's
    file (RESTORE.txt), so a damaged one must not pass verify.  Pack writes it
    beside every index: a folder with an index and no identity.age lost it.
    """
    signed = index.encryption.identity if index.encryption is not None else None
    if signed is None:
        return []
    problems = []
    for folder in transfer.folders:
        if not folder.has_index:
            continue
        try:
            found = _read_identity(folder.path / layout.IDENTITY_NAME)
            problem = None if found == signed else (
                "longer than allowed" if len(found) > limits.MAX_IDENTITY_AGE_BYTES
                else "differs from the signed index's copy")
        except FileNotFoundError:
            problem = "missing (the signed index says the transfer has one)"
        except OSError as exc:
            problem = f"read error ({exc.strerror})"
        if problem:
            problems.append(f"{folder.drive_root}: {layout.IDENTITY_NAME} {problem}")
            report.warning(Kind.IDENTITY_BAD_COPY, f"{layout.IDENTITY_NAME} on {folder.drive_root}: {problem}",
                           drive=str(folder.drive_root), problem=problem)
    return problems


def _read_identity(path: Path) -> bytes:
    """At most MAX_IDENTITY_AGE_BYTES + 1 bytes of a regular file: enough to tell an overlong one."""
    fd = fsio.open_regular(path)
    try:
        data = bytearray()
        while len(data) <= limits.MAX_IDENTITY_AGE_BYTES:
            piece = os.read(fd, limits.MAX_IDENTITY_AGE_BYTES + 1 - len(data))
            if not piece:
                break
            data += piece
        return bytes(data)
    finally:
        os.close(fd)
