"""Writing one chunk file from the source, and reading one back into the output.

Both run on ``pipeline.pump`` so reading, hashing and writing overlap.  These
are the inner loops of pack (the writers in engine/pack/in_turn.py and
parallel.py) and of unpack (``Assembler._copy`` in engine/unpack/assemble.py);
the callers keep the durability and retry logic.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import blake3
import zstandard

from airgap_transfer.engine.io import compression, direct, pipeline, sealed_chunks
from airgap_transfer.engine.io.digests import Digests, Hasher
from airgap_transfer.format.index import Chunk
from airgap_transfer.media import fsio

DROP_BEHIND = 16 * 2**20   # written pages older than this are let go


@dataclass
class Stored:
    """What a chunk file holds: the plain slice, and the file's own bytes."""

    length: int
    blake3: str
    encoding: str
    stored_length: int
    stored_blake3: str
    sha256: str | None = None  # of the plain slice, with pack --sha256


def write_chunk(fill: pipeline.Fill, fd: int, limit: int, whole: Hasher, ring: pipeline.Ring,
                encoding: str, stored_cap: int, progress: Callable[[int], None],
                compressor: zstandard.ZstdCompressor | None = None, sha256: bool = False,
                seal: sealed_chunks.StartSealer | None = None) -> Stored:
    """Copy up to ``limit`` plain bytes from ``fill`` into ``fd`` (plain, one zstd frame, either in age).

    Hashes the plain bytes into a fresh per-chunk hasher and into ``whole``.
    Does not fsync; the caller does, then renames.  ``seal`` starts the age
    sealer for the encodings ``age`` and ``zstd+age``.
    """
    plain = Digests(sha256=sha256)

    def tap(view: memoryview) -> None:
        plain.update(view)
        whole.update(view)

    if encoding in ("age", "zstd+age"):
        if seal is None:
            raise ValueError(f"encoding {encoding} needs a sealer")
        sealed = sealed_chunks.SealedWriter(_PlainWriter(fd).write, stored_cap, seal)
        if encoding == "zstd+age":
            frame = compression.FrameWriter(fd, stored_cap, compressor, out=sealed.write)
            length = pipeline.pump(fill, frame.write, tap, limit, ring, progress)
            if length:
                frame.finish()
        else:
            length = pipeline.pump(fill, sealed.write, tap, limit, ring, progress)
        sealed.finish()
        return Stored(length, plain.hexdigest(), encoding, sealed.stored_length, sealed.stored.hexdigest(),
                      plain.sha256_hexdigest())
    if encoding == "zstd":
        frame = compression.FrameWriter(fd, stored_cap, compressor)
        length = pipeline.pump(fill, frame.write, tap, limit, ring, progress)
        if length:
            frame.finish()
        digest = plain.hexdigest()
        return Stored(length, digest, "zstd", frame.stored_length, frame.stored.hexdigest(), plain.sha256_hexdigest())
    writer = _PlainWriter(fd)
    length = pipeline.pump(fill, writer.write, tap, limit, ring, progress)
    digest = plain.hexdigest()
    return Stored(length, digest, "none", length, digest, plain.sha256_hexdigest())


def write_chunk_file(final: Path, fill: pipeline.Fill, limit: int, whole: Hasher, ring: pipeline.Ring,
                     encoding: str, stored_cap: int, progress: Callable[[int], None],
                     compressor: zstandard.ZstdCompressor | None = None, sha256: bool = False,
                     seal: sealed_chunks.StartSealer | None = None) -> Stored:
    """``write_chunk`` into a new file at ``final``, durably: temp name, fsync, rename, folder fsync.

    The written pages are dropped from the cache so a read-back comes from
    the medium.  If this raises, nothing is left under either name; a chunk
    of no bytes (the source was at its end) is not kept either.
    """
    tmp = fsio.temp_name(final)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        try:
            stored = write_chunk(fill, fd, limit, whole, ring, encoding, stored_cap, progress, compressor, sha256,
                                 seal)
            os.fsync(fd)
            fsio.drop_cache(fd)
        finally:
            os.close(fd)
        if stored.length == 0:
            os.unlink(tmp)
            return stored
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsio.fsync_dir(final.parent)
    return stored


class _PlainWriter:
    def __init__(self, fd: int) -> None:
        self.fd, self.written, self.dropped = fd, 0, 0

    def write(self, view: memoryview) -> None:
        while view:
            n = os.write(self.fd, view)
            if n <= 0:  # a full medium may report no progress rather than ENOSPC
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            view = view[n:]
            self.written += n
        # Clean pages far behind the write head are useless to us; dirty ones stay until written back.
        if self.written - self.dropped > 2 * DROP_BEHIND:
            _advise(self.fd, self.dropped, self.written - DROP_BEHIND - self.dropped)
            self.dropped = self.written - DROP_BEHIND


def read_chunk(fd: int, chunk: Chunk, whole: Hasher | None, out_fd: int | None, ring: pipeline.Ring,
               progress: Callable[[int], None], open_sealed: sealed_chunks.OpenSealed | None = None) -> str | None:
    """Copy one candidate chunk file (already open) to its offset; a problem, or None if proven.

    With ``out_fd`` None (verify) it only decodes and checks; ``whole`` may be None too.

    Moves exactly ``length`` plain bytes into the output, never more: a copy
    that turns out longer than the signed index declares is found by reading
    one more byte into a scratch buffer (and at most ``stored_length + 1``
    stored bytes), so it is named, not followed, and the neighbouring chunk's
    bytes in the output stay untouched.
    """
    _advise_sequential(fd)
    plain = blake3.blake3()
    sealed = None
    if chunk.encoding in ("age", "zstd+age"):
        if open_sealed is None:
            return "is encrypted, and no key was given to open it"
        sealed = sealed_chunks.SealedReader(fd, chunk.stored_length)
        try:
            sealed.open(open_sealed)
        except sealed_chunks.SealError as exc:
            return _sealed_problem(sealed, chunk, exc)
        except OSError as exc:
            return f"read error ({exc.strerror})"
    compressed = chunk.encoding in ("zstd", "zstd+age")
    reader = compression.FrameReader(fd, chunk.stored_length, raw=sealed) if compressed else None
    raw_fill = reader.fill if reader else sealed.fill if sealed else (lambda view: os.readv(fd, [view]))

    def fill(view: memoryview) -> int:
        try:
            return raw_fill(view)
        except OSError as exc:  # the drive's fault, unlike an error writing the output
            raise ChunkReadError(exc.strerror or str(exc)) from None
    position = dropped = chunk.offset

    # BLAKE3 (chunk and whole) in the reader thread, the whole's SHA-256 in the pump's trailing one.
    update_whole: Callable[[memoryview], object] | None = whole.update if whole is not None else None
    trailing_tap = None
    if isinstance(whole, Digests):
        update_whole = whole.blake3.update
        trailing_tap = whole.sha256.update if whole.sha256 is not None else None

    def tap(view: memoryview) -> None:
        plain.update(view)
        if update_whole is not None:
            update_whole(view)

    def sink(view: memoryview) -> None:
        nonlocal position, dropped
        if out_fd is None:
            return
        fsio.pwrite_all(out_fd, view, position)
        position += len(view)
        if position - dropped > 2 * DROP_BEHIND:  # start write-back early, as for pack's chunks
            _advise(out_fd, dropped, position - DROP_BEHIND - dropped)
            dropped = position - DROP_BEHIND

    try:
        seen = pipeline.pump(fill, sink, tap, chunk.length, ring, progress, trailing_tap)
        extra = _one_more_byte(fill) if seen == chunk.length else 0
    except zstandard.ZstdError as exc:
        if sealed is not None:
            return _sealed_problem(sealed, chunk, exc)
        return f"not a valid zstd frame ({exc})"
    except sealed_chunks.SealError as exc:
        assert sealed is not None, "only an opener raises SealError"
        return _sealed_problem(sealed, chunk, exc)
    except ChunkReadError as exc:
        return f"read error ({exc})"
    if sealed is not None:
        stored_digest, stored_seen = sealed.stored_digest()
        if stored_seen != chunk.stored_length or stored_digest != chunk.stored_blake3:
            return "stored bytes do not match the signed index"
    if extra:
        return f"longer than the {chunk.length} bytes the index declares"
    if seen < chunk.length:
        return f"truncated: {seen} of {chunk.length} bytes"
    if reader is not None and sealed is None:
        stored_digest, stored_seen = reader.stored_digest()
        if stored_seen != chunk.stored_length or stored_digest != chunk.stored_blake3:
            return "stored bytes do not match the signed index"
    if plain.hexdigest() != chunk.blake3:
        return "digest does not match the signed index"
    return None


def _one_more_byte(fill: Callable[[memoryview], int]) -> int:
    """Whether the source has a byte beyond the declared end; read into scratch, never into the output."""
    scratch = memoryview(bytearray(1))
    while True:
        try:
            return fill(scratch)
        except InterruptedError:
            continue


def _sealed_problem(sealed: sealed_chunks.SealedReader, chunk: Chunk, exc: Exception) -> str:
    """Why an encrypted chunk failed: changed bytes (the signed stored digest says so) or else the cause."""
    try:
        stored_digest, stored_seen = sealed.stored_digest()
    except OSError as error:
        return f"read error ({error.strerror})"
    if stored_seen != chunk.stored_length or stored_digest != chunk.stored_blake3:
        return f"stored bytes do not match the signed index ({exc})"
    return f"cannot be decrypted although its stored bytes match the signed index ({exc})"


Stopped = direct.Stopped  # a copy or read-back was told to stop (another drive failed, or Ctrl-C)


class ChunkReadError(Exception):
    """Reading a chunk from its drive failed (EIO, a stick pulled)."""


def _advise(fd: int, offset: int, length: int) -> None:
    try:
        os.posix_fadvise(fd, offset, length, os.POSIX_FADV_DONTNEED)
    except OSError:
        pass  # advisory only; FUSE file systems may refuse


def _advise_sequential(fd: int) -> None:
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
    except OSError:
        pass
