"""Rebuilding chunks that are missing or corrupt from the parity files (pack --parity).

For each stripe with a chunk still to place, k good shards are chosen (chunks
already proven first: from the partial output for plain chunks, else from a
drive; then parity files) and the missing chunks' stored bytes are computed
into files in a work folder beside the output.  Every input is hashed as it is
read: one that does not match the signed index is set aside and the stripe
tried again with another.  A rebuilt file is then placed by the assembler
like any chunk found on a drive, so it is proven against the signed digests
before a byte of it is used.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from airgap_transfer.engine.parity import codec
from airgap_transfer.engine.unpack import assemble, catalog
from airgap_transfer.errors import IntegrityError
from airgap_transfer.events import Kind, Reporter
from airgap_transfer.format.index import Chunk, Index
from airgap_transfer.format.layout import TransferFolder
from airgap_transfer.format.parity import Parity, Stripe
from airgap_transfer.media import fsio


@dataclass
class _Candidate:
    shard: int            # 0..k-1 data, k.. parity
    length: int           # bytes of its own (the rest of the stripe is zero padding)
    blake3: str
    path: Path | None     # a file on a drive, or None for the partial output at ``offset``
    offset: int = 0
    what: str = ""


class Rebuilder:
    def __init__(self, report: Reporter, assembler: assemble.Assembler, work: Path) -> None:
        self.report, self.assembler, self.work = report, assembler, work
        self.bad: set[Path] = set(assembler.bad_paths)

    def rebuild(self, transfer: catalog.Transfer, index: Index) -> list[int]:
        """Rebuild and place every chunk still missing that parity covers; returns their seqs."""
        parity = index.parity
        assert parity is not None
        by_seq = {c.seq: c for c in index.chunks}
        rebuilt: list[int] = []
        for stripe in parity.stripes:
            wanted = [seq for seq in stripe.chunks if seq not in self.assembler.placed]
            if not wanted:
                continue
            folder = self._rebuild_stripe(transfer, index.transfer_id, parity, stripe, by_seq, wanted)
            if folder is None:
                continue
            try:
                placed = self._place(folder, index, stripe, wanted)
            finally:
                shutil.rmtree(folder.path, ignore_errors=True)
            rebuilt += placed
        if self.work.exists():
            shutil.rmtree(self.work, ignore_errors=True)
        return rebuilt

    def _place(self, folder: TransferFolder, index: Index, stripe: Stripe, wanted: list[int]) -> list[int]:
        self.assembler.place_available(catalog.Transfer(index.transfer_id, [folder]), index)
        placed = [seq for seq in wanted if seq in self.assembler.placed]
        for seq in placed:
            self.report.info(Kind.CHUNK_REBUILT, f"chunk {seq} rebuilt from parity (stripe {stripe.seq}) and verified",
                             chunk=seq, stripe=stripe.seq,
                             blake3=(self.assembler.placed[seq].stored_blake3 if self.assembler.open_sealed
                                     else self.assembler.placed[seq].blake3),  # encrypted: no plaintext digest
                             drive=str(folder.drive_root))
        return placed

    def _candidates(self, transfer: catalog.Transfer, stripe: Stripe, by_seq: dict[int, Chunk]) -> list[_Candidate]:
        found = []
        for i, seq in enumerate(stripe.chunks):
            chunk = by_seq[seq]
            if seq in self.assembler.placed and _plain_slice(chunk):  # the partial output holds its stored bytes
                found.append(_Candidate(i, chunk.length, chunk.blake3, None, chunk.offset, f"chunk {seq} (output)"))
            elif seq in self.assembler.placed or seq in self.assembler.bad_seqs:
                found += [_Candidate(i, chunk.stored_length, chunk.stored_blake3, path, 0, f"chunk {seq} on {drive}")
                          for path, drive in transfer.copies(chunk.file) if path not in self.bad]
        k = len(stripe.chunks)
        for j, item in enumerate(stripe.parity):
            found += [_Candidate(k + j, stripe.length, item.blake3, path, 0, f"{item.file} on {drive}")
                      for path, drive in transfer.parity_copies(item.file) if path not in self.bad]
        return found

    def _rebuild_stripe(self, transfer: catalog.Transfer, transfer_id: str, parity: Parity, stripe: Stripe,
                        by_seq: dict[int, Chunk], wanted: list[int]) -> TransferFolder | None:
        k = len(stripe.chunks)
        while True:
            chosen: dict[int, _Candidate] = {}
            for candidate in self._candidates(transfer, stripe, by_seq):
                if candidate.shard not in chosen and len(chosen) < k:
                    chosen[candidate.shard] = candidate
            if len(chosen) < k:
                return None
            inputs = sorted(chosen.values(), key=lambda c: c.shard)
            folder = self._run(transfer_id, parity, stripe, by_seq, wanted, inputs)
            if folder is not None:
                return folder

    def _run(self, transfer_id: str, parity: Parity, stripe: Stripe, by_seq: dict[int, Chunk], wanted: list[int],
             inputs: list[_Candidate]) -> TransferFolder | None:
        """One attempt; None when an input proved bad (it is then set aside)."""
        folder_path = self.work / f"stripe-{stripe.seq:06d}"
        folder_path.mkdir(parents=True, exist_ok=True)
        targets = [by_seq[seq] for seq in wanted]
        outputs = [_Trimmed(folder_path / c.file, c.stored_length) for c in targets]
        fds: list[int] = []
        try:
            shards = []
            for candidate in inputs:
                if candidate.path is None:
                    shards.append(codec.ShardIn(_pread(self.assembler.out_fd, candidate.offset), candidate.length))
                    continue
                try:
                    fd = fsio.open_regular(candidate.path)
                except OSError as exc:
                    self._set_aside(candidate, f"cannot open ({exc.strerror})")
                    return None
                fds.append(fd)
                shards.append(codec.ShardIn(_reader(fd), candidate.length))
            wanted_shards = [stripe.chunks.index(seq) for seq in wanted]
            try:
                digests = codec.rebuild(len(stripe.chunks), parity.m, [c.shard for c in inputs], shards,
                                        wanted_shards, stripe.length, [o.write for o in outputs])
            except codec.ShortShard as exc:
                self._set_aside(inputs[exc.position], f"ended after {exc.got} of {exc.length} bytes")
                return None
            for candidate, digest in zip(inputs, digests, strict=False):
                if digest != candidate.blake3:
                    self._set_aside(candidate, "does not match the signed index")
                    return None
        finally:
            for fd in fds:
                os.close(fd)
            for output in outputs:
                output.close()
        rebuilt = TransferFolder(path=folder_path, transfer_id=transfer_id, drive_root=folder_path)
        for chunk in targets:
            rebuilt.chunks.add(chunk.file)
        return rebuilt

    def _set_aside(self, candidate: _Candidate, why: str) -> None:
        self.report.warning(Kind.PARITY_INPUT_BAD, f"not used for rebuilding: {candidate.what} {why}",
                            path=str(candidate.path) if candidate.path else None, problem=why)
        if candidate.path is None:
            raise IntegrityError("the partial output no longer holds the bytes of a chunk proven into it",
                                 hint="run the same unpack command again with --restart")
        self.bad.add(candidate.path)


def _plain_slice(chunk: Chunk) -> bool:
    """The chunk file holds the bundle's bytes themselves (not zstd, not encrypted)."""
    return (chunk.encoding == "none" and chunk.file.endswith(".chunk") and chunk.stored_length == chunk.length
            and chunk.stored_blake3 == chunk.blake3)


class _Trimmed:
    """A rebuilt chunk file: the stripe's bytes up to the chunk's own length (the rest is padding)."""

    def __init__(self, path: Path, length: int) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        self.left = length

    def write(self, view: memoryview) -> None:
        view = view[:self.left]
        self.left -= len(view)
        while view:
            n = os.write(self.fd, view)
            view = view[n:]

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _reader(fd: int) -> Callable[[memoryview], int]:
    def fill(view: memoryview) -> int:
        try:
            return os.readv(fd, [view])
        except OSError:  # a failing drive: the shard ends here and is set aside (ShortShard)
            return 0
    return fill


def _pread(fd: int, offset: int) -> Callable[[memoryview], int]:
    position = [offset]

    def fill(view: memoryview) -> int:
        got = os.preadv(fd, [view], position[0])
        position[0] += got
        return got
    return fill
