"""Pack: stream a bundle once into verified chunk files across destinations.

One pass over the source with one reused buffer.  Each chunk is written under
a temporary name, fsynced, renamed, its folder fsynced, then read back from the
medium with the page cache dropped.  The index (partial when a drive is sealed
early, final at the end) is signed over its exact bytes.
"""

from __future__ import annotations

import errno
import os
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import blake3

from . import __version__, chunk_io, compression, fsio, keys, layout, pipeline
from .errors import AirgapError, Interrupted, NoSpaceError, UsageError
from .events import Callback, Reporter
from .index import Chunk, Drive, Index
from .source import Source, open_source

MIN_CHUNK = 1 * 2**20
RESERVE_BASE = 2 * 2**20      # index, signature, checksum files, custody log
RESERVE_PER_CHUNK = 512       # index entry and checksum line per chunk


@dataclass
class PackConfig:
    source: str
    destinations: list[Path]
    chunk_size: int | None = None      # None: as large as each drive allows
    key_path: Path | None = None
    no_prompt: bool = False
    readback: bool = True
    name: str | None = None
    compress: str = "auto"          # auto | zstd | none (see compression.decide)


@dataclass
class PackResult:
    transfer_id: str
    bundle_name: str
    bundle_size: int
    bundle_blake3: str
    key_id: str
    chunks: list[Chunk]
    drives: list[str]
    compression: str = "none"

    @property
    def stored_size(self) -> int:
        return sum(chunk.stored_length for chunk in self.chunks)

    def to_dict(self) -> dict:
        return {"transfer_id": self.transfer_id, "bundle": self.bundle_name,
                "size": self.bundle_size, "blake3": self.bundle_blake3, "key_id": self.key_id,
                "chunks": len(self.chunks), "drives": self.drives,
                "compression": self.compression, "stored_size": self.stored_size}


@dataclass
class _DriveSlot:
    """A destination being filled, and what has been written to it."""

    ordinal: int
    root: Path
    folder: Path
    files: list[tuple[str, str]] = field(default_factory=list)  # (name, blake3)

    def room(self, chunks_so_far: int) -> int:
        reserve = RESERVE_BASE + RESERVE_PER_CHUNK * (chunks_so_far + 1)
        return max(0, fsio.free_space(self.folder) - reserve)


def _check_destinations(destinations: list[Path]) -> None:
    if not destinations:
        raise UsageError("no destination given", hint="name at least one mounted drive or folder")
    for dest in destinations:
        if not dest.is_dir():
            raise UsageError(f"destination {dest} is not a folder", hint="mount the drive or create the folder")
        if not os.access(dest, os.W_OK):
            raise UsageError(f"destination {dest} is not writable", hint="check the mount options and permissions")


def _preflight_space(source: Source, destinations: list[Path]) -> None:
    """Refuse up front, writing nothing, when the bundle cannot fit at all."""
    if source.size is None:
        return
    room = sum(max(0, fsio.free_space(d) - RESERVE_BASE) for d in destinations)
    if room < source.size:
        raise NoSpaceError(
            f"the bundle is {source.size} bytes but the destinations have {room} bytes usable",
            hint="add another destination or free space, then run pack again")


class _Packer:
    def __init__(self, config: PackConfig, report: Reporter) -> None:
        self.config = config
        self.report = report
        self.ring = pipeline.Ring()
        self.buffer = self.ring.buffers[0]  # metadata read-back runs only while the ring is idle
        self.readbacks = chunk_io.ReadBackQueue() if config.readback else None
        self.whole = blake3.blake3(max_threads=blake3.blake3.AUTO)
        self.transfer_id = secrets.token_hex(16)
        self.chunks: list[Chunk] = []
        self.slots: list[_DriveSlot] = []
        self.offset = 0

    def run(self) -> PackResult:
        config = self.config
        _check_destinations(config.destinations)
        key = keys.load_signing_key(config.key_path, self.report)
        self.key = key
        with open_source(config.source, config.name) as source:
            _preflight_space(source, config.destinations)
            self.source = source
            self.compression = compression.decide(
                config.compress, source.name, source.stream.fileno() if source.seekable else None)
            self.compressor = compression.new_compressor() if self.compression.encoding == "zstd" else None
            self.report.info("pack-started", f"packing {source.name} as transfer {self.transfer_id}",
                             transfer_id=self.transfer_id, bundle=source.name, size=source.size,
                             key_id=key.public_key().key_id_hex, compression=self.compression.recorded)
            self._stream(iter(config.destinations))
            self._wait_readbacks()
            if source.size is not None and self.offset != source.size:
                raise UsageError(f"{source.name} changed size while it was read",
                                 hint="pack a source that is not being written to")
        index = self._build_index(final=True)
        for slot in self.slots:
            self._write_metadata(slot, index)
        self.report.info("pack-finished", f"packed {index.bundle_size} bytes in {len(self.chunks)} "
                         f"chunks onto {len(self.slots)} drive(s)", transfer_id=self.transfer_id,
                         blake3=index.bundle_blake3)
        return PackResult(self.transfer_id, index.bundle_name, index.bundle_size,
                          index.bundle_blake3 or "", key.public_key().key_id_hex,
                          self.chunks, [str(s.root) for s in self.slots], self.compression.recorded)

    def _open_slot(self, dest: Path) -> _DriveSlot:
        folder = dest / layout.folder_name(self.transfer_id)
        folder.mkdir(exist_ok=True)
        fsio.fsync_dir(dest)
        slot = _DriveSlot(ordinal=len(self.slots) + 1, root=dest, folder=folder)
        self.slots.append(slot)
        self.report.info("drive-opened", f"writing to {dest}", drive=str(dest), ordinal=slot.ordinal)
        return slot

    def _next_slot(self, destinations) -> _DriveSlot:
        dest = next(destinations, None)
        if dest is None:
            raise NoSpaceError(
                f"all destinations are full with {self.offset} bytes of {self.source.name} written",
                hint="run pack again with more or larger destinations")
        return self._open_slot(dest)

    def _stream(self, destinations) -> None:
        slot = self._next_slot(destinations)
        while True:
            remaining = None if self.source.size is None else self.source.size - self.offset
            if remaining == 0:
                return
            want = slot.room(len(self.chunks))
            if self.config.chunk_size:
                want = min(want, self.config.chunk_size)
            if remaining is not None:
                want = min(want, remaining)
            if want < MIN_CHUNK and (remaining is None or remaining > want):
                self._seal(slot)
                slot = self._next_slot(destinations)
                continue
            chunk = self._write_chunk(slot, want)
            if chunk is None:
                if self.source.at_eof:
                    return
                self._seal(slot)  # ENOSPC: the chunk goes to the next drive
                slot = self._next_slot(destinations)
                continue
            if self.source.size is None and self.source.at_eof:
                return  # a compressed chunk may hold less than want: only EOF ends a stream

    def _write_chunk(self, slot: _DriveSlot, want: int) -> Chunk | None:
        seq = len(self.chunks) + 1
        encoding, limit, stored_cap = self._chunk_plan(slot, want)
        name = layout.chunk_file_name(self.transfer_id, seq, encoding)
        final = slot.folder / name
        tmp = fsio.temp_name(final)
        whole_before = self.whole.copy()
        start = self.source.tell()
        try:
            stored = self._copy_into(tmp, limit, slot, seq, encoding, stored_cap)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            if exc.errno != errno.ENOSPC:
                raise AirgapError(f"writing {final} failed: {exc.strerror}",
                                  hint="check the drive, then run pack again") from None
            if not self.source.seekable:
                raise NoSpaceError(f"{slot.root} filled up in the middle of chunk {seq}",
                                   hint="pack from a file rather than stdin, or give a larger drive") from None
            self.source.seek(start)
            self.whole = whole_before
            self.report.warning("drive-full", f"{slot.root} filled up during chunk {seq}; moving it to the next drive",
                                drive=str(slot.root), chunk=seq)
            return None
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        length, digest = stored.length, stored.blake3
        if length == 0:
            tmp.unlink(missing_ok=True)
            return None
        os.replace(tmp, final)
        fsio.fsync_dir(slot.folder)
        if self.readbacks is not None:  # proven while the next chunk is written; awaited before any index
            self.readbacks.submit(final, stored.stored_length, stored.stored_blake3,
                                  what=f"chunk {seq} on {slot.root}")
        chunk = Chunk(seq=seq, offset=self.offset, length=length, blake3=digest, file=name, drive=slot.ordinal,
                      encoding=stored.encoding, stored_length=stored.stored_length,
                      stored_blake3=stored.stored_blake3)
        self.chunks.append(chunk)
        slot.files.append((name, stored.stored_blake3))
        self.offset += length
        self.report.info("chunk-written", f"chunk {seq} ({length} bytes) written to {slot.root}"
                         + (", being read back" if self.config.readback else ""),
                         chunk=seq, length=length, blake3=digest, drive=str(slot.root), file=name,
                         readback=self.config.readback)
        return chunk

    def _chunk_plan(self, slot: _DriveSlot, want: int) -> tuple[str, int, int]:
        """(encoding, plain bytes to take, most bytes the file may hold) for the next chunk.

        A zstd frame of incompressible data is slightly larger than its input,
        so a compressed chunk takes only as much plain data as its worst-case
        frame lets fit in the room (or --chunk-size).  Where that leaves too
        little, the chunk is stored plain: it then never exceeds ``want``.
        """
        if self.compression.encoding != "zstd":
            return "none", want, want
        cap = slot.room(len(self.chunks))
        if self.config.chunk_size:
            cap = min(cap, self.config.chunk_size)
        limit = min(want, compression.plain_limit(cap))
        if limit < min(want, MIN_CHUNK):
            return "none", want, want
        return "zstd", limit, cap

    def _copy_into(self, tmp: Path, limit: int, slot: _DriveSlot, seq: int,
                   encoding: str = "none", stored_cap: int = 0) -> chunk_io.Stored:
        """Stream up to ``limit`` plain bytes into ``tmp``: read, hash and write overlap."""
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            stored = chunk_io.write_chunk(
                self.source.readinto, fd, limit, self.whole, self.ring, encoding, stored_cap or limit,
                lambda done: self.report.progress(done=self.offset + done, total=self.source.size,
                                                  drive=str(slot.root), chunk=seq),
                self.compressor)
            os.fsync(fd)
            fsio.drop_cache(fd)
        finally:
            os.close(fd)
        return stored

    def _build_index(self, final: bool) -> Index:
        return Index(
            transfer_id=self.transfer_id, bundle_name=self.source.name,
            bundle_size=self.offset, bundle_blake3=self.whole.hexdigest() if final else None,
            created=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            tool=f"airgap-transfer {__version__}", signer=self.key.public_key().key_id_hex,
            final=final, kind=self.source.kind, readback=self.config.readback,
            compression=self.compression.recorded,
            chunks=list(self.chunks),
            drives=[Drive(ordinal=s.ordinal, label=s.root.name or str(s.root)) for s in self.slots])

    def _seal(self, slot: _DriveSlot) -> None:
        self._write_metadata(slot, self._build_index(final=False))
        self.report.info("drive-sealed", f"{slot.root} is complete ({len(slot.files)} chunks)",
                         drive=str(slot.root), chunks=[n for n, _ in slot.files])

    def _wait_readbacks(self) -> None:
        if self.readbacks is not None:
            self.readbacks.wait()

    def _write_metadata(self, slot: _DriveSlot, index: Index) -> None:
        self._wait_readbacks()
        data = index.to_bytes()
        signature = keys.sign_index(data, self.key, self.transfer_id, index.final)
        index_path = slot.folder / layout.INDEX_NAME
        fsio.atomic_write_bytes(index_path, data)
        fsio.atomic_write_bytes(slot.folder / layout.SIGNATURE_NAME, signature.encode())
        fsio.atomic_write_bytes(slot.folder / layout.SIGNER_KEY_NAME,
                                self.key.public_key().to_file_text().encode())
        index_digest = blake3.blake3(data).hexdigest()
        if self.config.readback:
            fsio.read_back(index_path, len(data), index_digest, self.buffer, what=f"index on {slot.root}")
        sums = layout.b3sums_text(slot.files + [(layout.INDEX_NAME, index_digest)])
        fsio.atomic_write_bytes(slot.folder / layout.B3SUMS_NAME, sums.encode())


def pack(config: PackConfig, callback: Callback | None = None) -> PackResult:
    """Pack ``config.source`` onto ``config.destinations``; see PackConfig."""
    try:
        return _Packer(config, Reporter(callback)).run()
    except KeyboardInterrupt:
        raise Interrupted("interrupted; chunks written so far are kept",
                          hint="run the same pack command again") from None
