"""zstd for chunks: the auto decision, the stored-size bound, and a bounded decoder.

A compressed chunk is ONE self-contained zstd frame (with zstd's own content
checksum) of one plain slice of the bundle, so stock ``zstd -d`` restores it.
The signed index keeps both digests: ``blake3``/``length`` of the plain slice
and ``stored_blake3``/``stored_length`` of the file's bytes (what B3SUMS lists).

Decoding reads hostile bytes: the window a frame may ask for is capped, output
is pulled in buffer-sized pieces (never "decompress it all"), and the caller
stops at the length the signed index declares plus one byte, so a zstd bomb or
an overlong frame costs one buffer, not the disk.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Protocol, cast

import blake3
import zstandard

from airgap_transfer import limits

MODES = ("auto", "zstd", "none")
LEVEL = 3
SAMPLE_SIZE = 4 * 2**20
MIN_SAVING = 0.05              # auto: compress only if the sample shrinks by at least 5 %
# Per-thread job: the default (8× window) costs ~40 MiB RSS; 1 MiB keeps pack
# under 60 MiB with the same ratio.
JOB_SIZE = 2**20
FRAME_SLACK = 4096              # frame header, checksum, per-job block headers, and then some

# Data that zstd cannot shrink: skip the sampling cost and store it plain.
PRECOMPRESSED_SUFFIXES = (
    ".gz", ".tgz", ".zst", ".tzst", ".xz", ".txz", ".bz2", ".tbz2", ".lz4", ".lz", ".lzma",
    ".7z", ".zip", ".rar", ".jar", ".whl", ".apk", ".deb", ".rpm", ".br",
    ".safetensors", ".gguf", ".ggml", ".pt", ".pth", ".onnx", ".bin.gz",
    ".jpg", ".jpeg", ".png", ".webp", ".mp4", ".mkv", ".mp3", ".iso.gz", ".squashfs",
)


@dataclass
class Decision:
    """What pack will store, and the reason recorded in the index's ``compression``."""

    encoding: str       # "zstd" or "none": the chunks' encoding
    recorded: str       # e.g. "zstd", "none", "auto:zstd", "auto:none:incompressible"

    @property
    def words(self) -> str:
        return describe(self.recorded)


_WHY = {"precompressed": "its name says it is compressed already", "stream-not-sampled": "stdin cannot be sampled",
        "empty": "it is empty", "incompressible": "a sample did not shrink"}


def describe(recorded: str) -> str:
    """The index's ``compression`` value in an operator's words."""
    parts = recorded.split(":")
    how = "as zstd frames" if "zstd" in parts else "plain (not compressed)"
    if parts[0] != "auto":
        return f"stored {how}"
    reason = _WHY.get(parts[-1]) if len(parts) > 2 else "a sample shrank" if "zstd" in parts else None
    return f"stored {how}" + (f": --compress auto chose it, {reason}" if reason else ": chosen by --compress auto")


def decide(mode: str, name: str, sample: bytes | None) -> Decision:
    """Resolve ``--compress``; ``sample`` is the start of a seekable source, or None (a stream)."""
    if mode == "zstd":
        return Decision("zstd", "zstd")
    if mode == "none":
        return Decision("none", "none")
    if name.lower().endswith(PRECOMPRESSED_SUFFIXES):
        return Decision("none", "auto:none:precompressed")
    if sample is None:
        return Decision("none", "auto:none:stream-not-sampled")
    if not sample:
        return Decision("none", "auto:none:empty")
    packed = zstandard.ZstdCompressor(level=LEVEL).compress(sample)
    if len(packed) > len(sample) * (1 - MIN_SAVING):
        return Decision("none", "auto:none:incompressible")
    return Decision("zstd", "auto:zstd")


def compress_bound(size: int) -> int:
    """ZSTD_compressBound: the largest frame zstd may make of ``size`` bytes."""
    small = (128 * 2**10 - size) >> 11 if size < 128 * 2**10 else 0
    return size + (size >> 8) + small


def plain_limit(stored_cap: int) -> int:
    """The most plain bytes whose worst-case frame still fits in ``stored_cap`` bytes."""
    limit = max(0, (stored_cap - FRAME_SLACK) * 256 // 257)
    while limit and compress_bound(limit) + FRAME_SLACK > stored_cap:
        limit -= 4096
    return max(0, limit)


def threads() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


def new_compressor() -> zstandard.ZstdCompressor:
    """One per pack, reused for every chunk: a fresh multi-threaded context per
    chunk lets the allocator's footprint creep up chunk after chunk."""
    params = zstandard.ZstdCompressionParameters.from_level(
        LEVEL, threads=threads(), job_size=JOB_SIZE, write_checksum=True)
    return zstandard.ZstdCompressor(compression_params=params)


class FrameWriter:
    """Compresses one chunk into one frame, writing and hashing the stored bytes."""

    def __init__(self, fd: int, stored_cap: int, compressor: zstandard.ZstdCompressor | None = None,
                 out: Callable[[memoryview], None] | None = None) -> None:
        # out: where the frame goes instead of fd (an encrypter, for zstd+age chunks)
        self.fd, self.stored_cap, self.out = fd, stored_cap, out
        self.frame = (compressor or new_compressor()).compressobj()
        self.stored = blake3.blake3()
        self.stored_length = 0

    def write(self, plain: memoryview) -> None:
        self._emit(self.frame.compress(plain))

    def finish(self) -> None:
        self._emit(self.frame.flush(zstandard.COMPRESSOBJ_FLUSH_FINISH))

    def _emit(self, data: bytes) -> None:
        if not data:
            return
        self.stored_length += len(data)
        if self.stored_length > self.stored_cap:
            # plain_limit makes this impossible; never write past the room we were given
            raise RuntimeError(f"zstd frame grew past {self.stored_cap} bytes")
        self.stored.update(data)
        view = memoryview(data)
        if self.out is not None:
            self.out(view)
            return
        while view:
            written = os.write(self.fd, view)
            if written <= 0:  # a full medium may report no progress rather than ENOSPC
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            view = view[written:]


class FrameSource(Protocol):
    """What the zstd decoder reads a frame from."""

    def read(self, size: int = -1) -> bytes: ...


class _HashingFile:
    """File-like view of a chunk file for the zstd decoder: hashes and counts what it reads."""

    def __init__(self, fd: int, cap: int) -> None:
        self.fd, self.cap = fd, cap
        self.hasher = blake3.blake3()
        self.seen = 0

    def read(self, size: int = -1) -> bytes:
        room = self.cap - self.seen
        if room <= 0:
            return b""
        data = os.read(self.fd, room if size is None or size < 0 else min(size, room))
        self.hasher.update(data)
        self.seen += len(data)
        return data


class FrameReader:
    """Bounded decoder of one chunk file; ``fill`` feeds the pipeline plain bytes."""

    def __init__(self, fd: int, stored_length: int, raw: FrameSource | None = None) -> None:
        # raw: a source of the frame instead of fd (a decrypter, which bounds and hashes the file itself)
        self.hashing = _HashingFile(fd, stored_length + 1) if raw is None else None
        self.raw: FrameSource = raw if raw is not None else cast(FrameSource, self.hashing)
        decoder = zstandard.ZstdDecompressor(max_window_size=limits.MAX_ZSTD_WINDOW)
        # The decoder only calls read(); the stub asks for a whole IO[bytes].
        self.stream = decoder.stream_reader(cast(IO[bytes], self.raw), read_size=2**20, read_across_frames=False,
                                            closefd=False)

    def fill(self, view: memoryview) -> int:
        return self.stream.readinto(view)

    def stored_digest(self) -> tuple[str, int]:
        """Hash whatever follows the frame too, so trailing bytes cannot hide."""
        assert self.hashing is not None, "a decrypter hashes the stored bytes of an encrypted chunk"
        while self.hashing.read(2**20):
            pass
        return self.hashing.hasher.hexdigest(), self.hashing.seen
