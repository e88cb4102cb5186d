"""Pack's parity phase: once every chunk is proven, write each stripe's parity files.

Runs after the data, before the final index, over the stripes of
``engine.parity.stripes``.  A chunk's stored bytes come from the source where
they are a plain slice of a seekable file (a local disk is faster than a
stick, and a drive of the one-port workflow may be gone by now), else from
the chunk file on its drive.  Either way they are hashed as they are read and
must match the digest the chunk was proven with.  Each parity file is written
like a chunk: temporary name, fsync, rename, folder fsync, then read back from
the medium while the next stripe is encoded.  The phase keeps no state of its
own: a run killed here is resumed by writing all parity again.
"""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import blake3

from airgap_transfer.engine.io import chunk_io, readback, samples
from airgap_transfer.engine.pack.drives import DriveSlot
from airgap_transfer.engine.pack.source import Source
from airgap_transfer.engine.parity import codec, stripes
from airgap_transfer.errors import DriveIOError, IncompleteError, IntegrityError, NoSpaceError
from airgap_transfer.events import Kind, Reporter
from airgap_transfer.format import layout
from airgap_transfer.format.index import Chunk
from airgap_transfer.format.parity import SCHEME, Parity, ParityFile, Stripe
from airgap_transfer.media import fsio


@dataclass
class ParityInputs:
    """Where the phase reads the data from, and where it writes."""

    chunks: list[Chunk]
    data_slots: dict[int, DriveSlot]   # by ordinal
    parity_slots: list[DriveSlot]
    source: Source
    readback: bool


class _ParityWriter:
    """One parity file being written: temp name, hashed as written."""

    def __init__(self, final: Path) -> None:
        self.final, self.tmp = final, fsio.temp_name(final)
        self.fd = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        self.hasher = blake3.blake3()

    def write(self, view: memoryview) -> None:
        self.hasher.update(view)
        while view:
            n = os.write(self.fd, view)
            if n <= 0:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            view = view[n:]

    def commit(self) -> str:
        os.fsync(self.fd)
        fsio.drop_cache(self.fd)
        os.close(self.fd)
        self.fd = -1
        os.replace(self.tmp, self.final)
        fsio.fsync_dir(self.final.parent)
        return self.hasher.hexdigest()

    def discard(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        self.tmp.unlink(missing_ok=True)


class ParityPhase:
    """Encodes every stripe of ``chunks`` into the parity drives' files.

    ``verify``: compare each chunk's bytes, as read, with its proven digest
    (off when the chunks are only planned: see ``parity_early``, which
    compares ``digests`` afterwards).  ``stop``: set to end the phase at the
    next block (``chunk_io.Stopped``).
    """

    def __init__(self, m: int, transfer_id: str, report: Reporter, verify: bool = True,
                 stop: threading.Event | None = None) -> None:
        self.m, self.transfer_id, self.report = m, transfer_id, report
        self.verify, self.stop = verify, stop
        self.digests: dict[int, str] = {}  # chunk seq -> BLAKE3 of the bytes encoded
        # parity file -> its sample blocks as read back, for its drive's last check (``last_check``)
        self.samples: dict[str, samples.SampleTap] = {}

    def run(self, given: ParityInputs) -> Parity:
        layout_ = stripes.plan(given.chunks)
        total = sum(max(c.stored_length for c in stripe) for stripe in layout_)
        for slot in given.parity_slots:  # an earlier run's parity (killed, or laid out otherwise) goes first
            for stale in slot.folder.glob(f"{self.transfer_id[:12]}-s*-p*.parity"):
                stale.unlink()
            slot.files.clear()
        self._check_room(given.parity_slots, total, len(layout_))
        width = max(len(stripe) for stripe in layout_)
        combiner = codec.Combiner(width, self.m)
        queues = [readback.ReadBackQueue() if given.readback else None for _ in given.parity_slots]
        done = 0
        result = Parity(SCHEME, width, self.m)
        try:
            for number, members in enumerate(layout_, start=1):
                stripe = self._stripe(number, members, given, combiner, queues, self._progress(done, total))
                result.stripes.append(stripe)
                done += stripe.length
            for queue in queues:
                if queue is not None:
                    queue.wait()
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise NoSpaceError(f"{exc.filename or 'a parity drive'}: no space left for parity",
                                   hint="give parity drives as large as the fullest data drive, then run the "
                                        "same pack command to resume") from None
            raise
        return result

    def _check_room(self, slots: list[DriveSlot], total: int, count: int) -> None:
        for slot in slots:
            need = total + count * fsio.block_size(slot.folder)
            room = slot.room(count)
            if room < need:
                raise NoSpaceError(f"parity drive {slot.root} has {room} bytes of room; the parity needs {need}",
                                   hint="give parity drives as large as the fullest data drive, then run the "
                                        "same pack command to resume")

    def _progress(self, before: int, total: int) -> Callable[[int], None]:
        """Progress within one stripe, after ``before`` bytes of parity."""
        return lambda n: self.report.progress(done=before + n, total=total, drive="parity")

    def _stripe(self, number: int, members: list[Chunk], given: ParityInputs, combiner: codec.Combiner,
                queues: list[readback.ReadBackQueue | None], progress: Callable[[int], None]) -> Stripe:
        length = max(c.stored_length for c in members)
        writers: list[_ParityWriter] = []
        opened: list[int] = []
        try:
            for p, slot in enumerate(given.parity_slots, start=1):
                writers.append(_ParityWriter(slot.folder / layout.parity_file_name(self.transfer_id, number, p)))
            shards = []
            for chunk in members:
                shard, fd = self._input(chunk, given)
                shards.append(shard)
                if fd is not None:
                    opened.append(fd)
            try:
                digests = codec.encode([self._stoppable(shard) for shard in shards], self.m, length,
                                       [w.write for w in writers], progress, combiner)
            except codec.ShortShard as exc:
                chunk = members[exc.position]
                raise IntegrityError(f"chunk {chunk.seq} gave {exc.got} of {exc.length} bytes while its "
                                     "parity was computed", hint="check the drive and source, then run the "
                                     "same pack command to resume") from None
            self.digests.update((chunk.seq, digest) for chunk, digest in zip(members, digests, strict=True))
            for chunk, digest in zip(members, digests, strict=True):
                if self.verify and digest != chunk.stored_blake3:
                    raise IntegrityError(f"chunk {chunk.seq} read for parity differs from the chunk written "
                                         "(the source or the drive changed)",
                                         hint="pack a source that is not being written to, with --restart")
            files = []
            for writer, slot, queue in zip(writers, given.parity_slots, queues, strict=False):
                digest = writer.commit()
                if queue is not None:
                    tap = self.samples[writer.final.name] = samples.SampleTap(length)
                    queue.submit(writer.final, length, digest, what=f"parity {writer.final.name} on {slot.root}",
                                 tap=tap)
                slot.files.append((writer.final.name, digest))
                files.append(ParityFile(writer.final.name, slot.ordinal, digest))
        except BaseException:
            for writer in writers:
                writer.discard()
            raise
        finally:
            for fd in opened:
                os.close(fd)
        self.report.info(Kind.PARITY_WRITTEN, f"parity of stripe {number} (chunks "
                         f"{', '.join(str(c.seq) for c in members)}) written to "
                         f"{', '.join(str(s.root) for s in given.parity_slots)}",
                         stripe=number, chunks=[c.seq for c in members], length=length,
                         files=[f.file for f in files], blake3=[f.blake3 for f in files],
                         drives=[str(s.root) for s in given.parity_slots])
        return Stripe(number, length, [c.seq for c in members], files)

    def _stoppable(self, shard: codec.ShardIn) -> codec.ShardIn:
        if self.stop is None:
            return shard
        stop, fill = self.stop, shard.fill

        def checked(view: memoryview) -> int:
            if stop.is_set():
                raise chunk_io.Stopped()
            return fill(view)
        return codec.ShardIn(checked, shard.length)

    @staticmethod
    def check_readable(chunks: list[Chunk], data_slots: dict[int, DriveSlot], source: Source) -> None:
        """Before asking for a parity drive: every chunk's stored bytes must still be at hand."""
        gone = [c for c in chunks if not _from_source(c, source)
                and (c.drive not in data_slots or not data_slots[c.drive].present)]
        if gone:
            drives = sorted({c.drive for c in gone})
            raise IncompleteError(
                f"parity needs chunks {', '.join(str(c.seq) for c in gone[:10])}{'...' if len(gone) > 10 else ''} "
                f"again, on drive(s) {', '.join(map(str, drives))}, which are no longer mounted (compressed chunks, "
                "or a folder or stdin source, are read back from the drives)",
                hint="mount all data drives and the parity drive(s) at once and run the same pack command to resume")

    def _input(self, chunk: Chunk, given: ParityInputs) -> tuple[codec.ShardIn, int | None]:
        """The chunk's stored bytes: from the source when they are a slice of it, else from its drive."""
        source = given.source
        if _from_source(chunk, source):
            fd, position = source.fileno(), [chunk.offset]

            def from_source(view: memoryview) -> int:
                got = os.preadv(fd, [view], position[0])
                position[0] += got
                return got
            return codec.ShardIn(from_source, chunk.stored_length), None
        slot = given.data_slots.get(chunk.drive)
        if slot is None or not slot.present:
            where = f"drive {chunk.drive}" + (f" ({slot.root})" if slot else "")
            raise IncompleteError(f"parity needs chunk {chunk.seq}, on {where}, which is no longer mounted "
                                  "(compressed chunks, or a folder or stdin source, are read back from the drives)",
                                  hint="mount the data drives and run the same pack command to resume")
        try:
            fd = fsio.open_regular(slot.folder / chunk.file)
        except OSError as exc:
            raise DriveIOError(f"chunk {chunk.seq} on {slot.root} cannot be read for parity: {exc.strerror}",
                               hint="check the drive, then run the same pack command to resume") from None
        return codec.ShardIn(lambda view: os.readv(fd, [view]), chunk.stored_length), fd


def _from_source(chunk: Chunk, source: Source) -> bool:
    """A plain chunk of a seekable file is the source's bytes at its offset.

    Plain means the file holds the slice itself: encoding none, a ``.chunk``
    name and stored digests equal to the plain ones.  Any other chunk file
    (zstd, encrypted) is read back from its drive: parity covers stored bytes.
    """
    return plain_slice(chunk) and source.kind == "file" and source.seekable


def plain_slice(chunk: Chunk) -> bool:
    return (chunk.encoding == "none" and chunk.file.endswith(".chunk") and chunk.stored_length == chunk.length
            and chunk.stored_blake3 == chunk.blake3)
