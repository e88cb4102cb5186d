"""Unpack: rebuild the bundle from chunks found on any drives, in any order.

Nothing is used before it is proven: the index is verified against a trusted
key, every chunk copy is hashed as it is copied (a bad copy is reported and the
next copy tried), the whole is hashed as it is assembled, and only then does
the temporary output get its final name.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import blake3

from . import catalog, chunk_io, fsio, keys, pipeline
from .errors import IncompleteError, IntegrityError, Interrupted, NoSpaceError, UsageError
from .events import Callback, Reporter
from .index import Chunk, Index
from .names import printable, sanitize_bundle_name


@dataclass
class UnpackConfig:
    sources: list[Path]
    output_dir: Path
    output_file: Path | None = None
    force: bool = False
    trust: list[str] = field(default_factory=list)
    allow_untrusted: bool = False
    transfer_id: str | None = None
    no_prompt: bool = False


@dataclass
class UnpackResult:
    transfer_id: str
    output: Path
    size: int
    blake3: str
    key_id: str
    trusted: bool

    def to_dict(self) -> dict:
        return {"transfer_id": self.transfer_id, "output": str(self.output), "size": self.size,
                "blake3": self.blake3, "key_id": self.key_id, "trusted": self.trusted}


def output_path(config: UnpackConfig, index: Index) -> Path:
    if config.output_file is not None:
        return config.output_file
    return config.output_dir / sanitize_bundle_name(index.bundle_name)


def _check_output(final: Path, size: int, force: bool) -> None:
    if final.is_dir():
        raise UsageError(f"output {final} is a folder", hint="remove it or choose another path with -o")
    if final.exists() and not force:
        raise UsageError(f"output {final} already exists; left untouched",
                         hint="pass --force to replace it, or -o for another path")
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create output folder {final.parent}: {exc.strerror}",
                         hint="choose another OUTPUT_DIR") from None
    free = fsio.free_space(final.parent)
    if free < size:
        raise NoSpaceError(f"{final.parent} has {free} bytes free, the bundle needs {size}",
                           hint="free space or choose another output folder")


def _missing_chunks(transfer: catalog.Transfer, index: Index) -> list[Chunk]:
    return [chunk for chunk in index.chunks if not transfer.copies(chunk.file)]


def _describe_missing(missing: list[Chunk], index: Index) -> str:
    labels = {d.ordinal: d.label for d in index.drives}
    by_drive: dict[int, list[int]] = {}
    for chunk in missing:
        by_drive.setdefault(chunk.drive, []).append(chunk.seq)
    parts = [f"chunks {', '.join(map(str, seqs))} (drive {ordinal}"
             + (f" '{printable(labels[ordinal])}')" if labels.get(ordinal) else ")")
             for ordinal, seqs in sorted(by_drive.items())]
    return "; ".join(parts)


class _Assembler:
    """Copies verified chunks into the temporary output, hashing the whole in order."""

    def __init__(self, transfer: catalog.Transfer, index: Index, report: Reporter) -> None:
        self.transfer, self.index, self.report = transfer, index, report
        self.ring = pipeline.Ring()
        self.whole = blake3.blake3(max_threads=blake3.blake3.AUTO)
        self.done = 0

    def run(self, out_fd: int) -> str:
        for chunk in self.index.chunks:
            self._place(chunk, out_fd)
        return self.whole.hexdigest()

    def _place(self, chunk: Chunk, out_fd: int) -> None:
        failures = []
        for path, drive in self.transfer.copies(chunk.file):
            before = self.whole.copy()
            problem = self._copy(chunk, path, out_fd, drive)
            if problem is None:
                self.report.info("chunk-verified", f"chunk {chunk.seq} verified from {drive}",
                                 chunk=chunk.seq, drive=str(drive), blake3=chunk.blake3)
                self.done += chunk.length
                return
            self.whole = before
            failures.append(f"{path}: {problem}")
            self.report.warning("chunk-bad-copy", f"chunk {chunk.seq} on {drive} is bad: {problem}",
                                chunk=chunk.seq, drive=str(drive), path=str(path), problem=problem)
        raise IntegrityError(f"chunk {chunk.seq} has no good copy ({'; '.join(failures)})",
                             hint="re-copy that chunk from the sending side or another drive")

    def _copy(self, chunk: Chunk, path: Path, out_fd: int, drive: Path) -> str | None:
        """Copy one candidate file to its offset; return a problem, or None when it is proven."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError as exc:
            return f"cannot open ({exc.strerror})"
        try:
            return chunk_io.read_chunk(
                fd, chunk, self.whole, out_fd, self.ring,
                lambda seen: self.report.progress(done=self.done + seen, total=self.index.bundle_size,
                                                  drive=str(drive), chunk=chunk.seq))
        except OSError as exc:
            return f"read error ({exc.strerror})"
        finally:
            os.close(fd)


def unpack(config: UnpackConfig, callback: Callback | None = None) -> UnpackResult:
    report = Reporter(callback)
    transfer = catalog.find_transfer(config.sources, config.transfer_id, report)
    trusted = keys.trusted_keys(config.trust)
    loaded = catalog.load_index(transfer, trusted, config.allow_untrusted, report)
    index = loaded.index
    if not index.final:
        raise IncompleteError(
            f"only a partial index of transfer {index.transfer_id} was found",
            hint="the final index is on the last drive written; insert it and run unpack again")
    missing = _missing_chunks(transfer, index)
    if missing:
        raise IncompleteError(f"{len(missing)} of {len(index.chunks)} chunks missing: "
                              f"{_describe_missing(missing, index)}",
                              hint="insert those drives and run unpack again")
    final = output_path(config, index)
    _check_output(final, index.bundle_size, config.force)
    report.info("unpack-started", f"unpacking {printable(index.bundle_name)} "
                f"({index.bundle_size} bytes, {len(index.chunks)} chunks) to {final}",
                transfer_id=index.transfer_id, output=str(final), size=index.bundle_size,
                key_id=loaded.signer.key_id_hex, trusted=loaded.trusted)
    tmp = final.with_name(f".{final.name}.agt-partial-{index.transfer_id[:12]}")
    tmp.unlink(missing_ok=True)
    try:
        digest = _assemble(transfer, index, tmp, report)
        if digest != index.bundle_blake3:
            raise IntegrityError("the reassembled bundle does not match the signed whole-bundle digest",
                                 hint="re-run verify on each drive to find the bad chunk")
        os.replace(tmp, final)
        fsio.fsync_dir(final.parent)
    except KeyboardInterrupt:
        tmp.unlink(missing_ok=True)
        raise Interrupted("interrupted; nothing written under the final name",
                          hint="run the same unpack command again") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    report.info("unpack-finished", f"{final} written and proven (blake3 {digest})",
                output=str(final), blake3=digest)
    return UnpackResult(index.transfer_id, final, index.bundle_size, digest,
                        loaded.signer.key_id_hex, loaded.trusted)


def _assemble(transfer: catalog.Transfer, index: Index, tmp: Path, report: Reporter) -> str:
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.ftruncate(fd, index.bundle_size)
        digest = _Assembler(transfer, index, report).run(fd)
        os.fsync(fd)
    finally:
        os.close(fd)
    return digest
