"""Placing verified chunks into the partial output as they become available.

The whole-bundle hash must see the bytes in order.  A chunk that arrives in
order is hashed while it is copied; one that arrives early (its drive inserted
before an earlier one) is hashed later from the output file, when the gap
before it has been filled.  A copy that fails is reported and the next copy
tried; which failure it was decides between exit 3 (drive) and 4 (data).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from airgap_transfer.engine.io import chunk_io, pipeline, sealed_chunks
from airgap_transfer.engine.io.digests import Digests
from airgap_transfer.engine.unpack import catalog
from airgap_transfer.errors import DriveIOError, IntegrityError, TrustError
from airgap_transfer.events import Kind, Reporter
from airgap_transfer.format.index import Chunk, Index
from airgap_transfer.media import fsio

# Problems that say the drive could not be read, not that its data is wrong.
_IO_PROBLEMS = ("read error", "cannot open")


class Assembler:
    """Copies verified chunks into the temporary output as they become available.

    The whole-bundle hash must see the bytes in order.  A chunk that arrives
    in order is hashed while it is copied; one that arrives early (its drive
    inserted before an earlier one) is hashed later from the output file, when
    the gap before it has been filled.
    """

    def __init__(self, report: Reporter, out_fd: int, total: int, sha256: bool = False,
                 on_placed: Callable[[Chunk], None] | None = None,
                 earlier: Sequence[dict[str, Any]] = (),
                 open_sealed: sealed_chunks.OpenSealed | None = None) -> None:
        self.report, self.out_fd, self.total = report, out_fd, total
        self.on_placed = on_placed
        self.open_sealed = open_sealed  # opens encrypted chunks (engine/crypt), None for a plain transfer
        self.earlier = list(earlier)  # journal records of an earlier run not yet matched to an index
        self.ring = pipeline.Ring()
        self.view = memoryview(self.ring.buffers[0])  # for _catch_up, which runs while the ring is idle
        self.whole = Digests(sha256=sha256)  # SHA-256 too for the custody report's in-toto subject
        self.placed: dict[int, Chunk] = {}
        self.next_in_order = 1
        self.done = 0
        # With parity a chunk without a good copy is rebuilt, not fatal: its bad copies are noted here.
        self.tolerate_bad = False
        self.bad_paths: set[Path] = set()
        self.bad_seqs: dict[int, str] = {}

    def adopt_earlier(self, index: Index) -> None:
        """Take chunks an earlier run proved into the partial output, where the index agrees exactly."""
        by_seq = {c.seq: c for c in index.chunks}
        unmatched = []
        for record in self.earlier:
            seq = record.get("seq")
            chunk = by_seq.get(seq) if isinstance(seq, int) else None
            if chunk is not None and [chunk.offset, chunk.length, chunk.blake3] == \
                    [record.get("offset"), record.get("length"), record.get("blake3")]:
                if chunk.seq not in self.placed:
                    self.placed[chunk.seq] = chunk
                    self.done += chunk.length
            else:
                unmatched.append(record)
        if len(unmatched) < len(self.earlier):
            self.report.info(Kind.RESUME, f"{len(self.placed)} chunks already in the partial output from an "
                             "earlier run; not read from the drives again", chunks=sorted(self.placed))
        self.earlier = unmatched
        self._catch_up()

    def place_available(self, transfer: catalog.Transfer, index: Index) -> None:
        self.tolerate_bad = index.parity is not None  # parity may rebuild a chunk that has no good copy
        self.adopt_earlier(index)
        for chunk in index.chunks:
            if chunk.seq in self.placed:
                if self.placed[chunk.seq] != chunk:
                    raise TrustError(f"chunk {chunk.seq} differs between two indexes signed for this transfer",
                                     hint="the drives carry conflicting indexes; ask the sender")
                continue
            if transfer.copies(chunk.file):
                self._place(transfer, chunk)

    def finish(self, index: Index) -> str:
        if self.next_in_order != len(index.chunks) + 1:
            raise IntegrityError("internal: not every chunk was hashed into the whole")
        return self.whole.hexdigest()

    def _place(self, transfer: catalog.Transfer, chunk: Chunk) -> None:
        failures, problems, drives = [], [], []
        in_order = chunk.seq == self.next_in_order
        for path, drive in transfer.copies(chunk.file):
            before = self.whole.copy() if in_order else None
            problem = self._copy(chunk, path, self.out_fd, drive, in_order)
            if problem is None:
                # An encrypted chunk's event (and custody record) names its stored digest, not the plaintext's.
                self.report.info(Kind.CHUNK_VERIFIED, f"chunk {chunk.seq} verified from {drive}",
                                 chunk=chunk.seq, drive=str(drive),
                                 blake3=chunk.stored_blake3 if self.open_sealed else chunk.blake3)
                self.done += chunk.length
                self.placed[chunk.seq] = chunk
                if self.on_placed:
                    self.on_placed(chunk)
                if in_order:
                    self.next_in_order += 1
                    self._catch_up()
                return
            if before is not None:
                self.whole = before
            failures.append(f"{path}: {problem}")
            problems.append(problem)
            drives.append(str(drive))
            self.report.warning(Kind.CHUNK_BAD_COPY, f"chunk {chunk.seq} on {drive} is bad: {problem}",
                                chunk=chunk.seq, drive=str(drive), path=str(path), problem=problem)
        self.bad_paths.update(path for path, _ in transfer.copies(chunk.file))
        if failures:  # every copy was written before its digest failed: none of it stays in the output
            self.view[:] = bytes(len(self.view))
            fsio.scrub_range(self.out_fd, chunk.offset, chunk.length, self.view)
        if self.tolerate_bad:
            self.bad_seqs[chunk.seq] = "; ".join(failures)
            return
        if problems and all(p.startswith(_IO_PROBLEMS) for p in problems):
            raise DriveIOError(f"drive {', '.join(dict.fromkeys(drives))} stopped answering: chunk {chunk.seq} "
                               f"could not be read from it ({'; '.join(failures)})",
                               hint="check or reinsert the drive, then run the same unpack command to resume")
        raise IntegrityError(f"chunk {chunk.seq} has no good copy ({'; '.join(failures)})",
                             hint="re-copy that chunk from the sending side or another drive")

    def _catch_up(self) -> None:
        """Feed chunks placed early, now next in order, from the output file to the whole hash."""
        while self.next_in_order in self.placed:
            chunk = self.placed[self.next_in_order]
            position, end = chunk.offset, chunk.offset + chunk.length
            while position < end:
                got = os.preadv(self.out_fd, [self.view[:min(len(self.view), end - position)]], position)
                if got <= 0:
                    raise IntegrityError(f"output file shrank while chunk {chunk.seq} was re-read")
                self.whole.update(self.view[:got])
                position += got
            self.next_in_order += 1

    def _copy(self, chunk: Chunk, path: Path, out_fd: int, drive: Path, in_order: bool) -> str | None:
        """Copy one candidate file to its offset; return a problem, or None when it is proven.

        ``in_order``: this chunk is next for the whole-bundle hash, so it is fed
        to it while copying and need not be read again.  Errors writing the
        output propagate; problems with the copy on the drive are returned.
        """
        try:
            fd = fsio.open_regular(path)  # never a symlink, FIFO or device swapped in after discovery
        except OSError as exc:
            return f"cannot open ({exc.strerror})"
        try:
            return chunk_io.read_chunk(
                fd, chunk, self.whole if in_order else None, out_fd, self.ring,
                lambda seen: self.report.progress(done=self.done + seen, total=self.total,
                                                  drive=str(drive), chunk=chunk.seq),
                self.open_sealed)
        finally:
            try:
                os.close(fd)
            except OSError:
                pass  # a read-only descriptor: a dying drive's error on close changes nothing read
