"""Unpack's output: where it goes, the partial file it is assembled in, and that file's journal.

The partial output sits hidden beside the final name; its journal lists the
chunks proven and synced in it, so an interrupted unpack continues where it
stopped.  Nothing appears under the final name until the whole is proven.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from airgap_transfer.engine.unpack import assemble, dirrestore, tarcheck
from airgap_transfer.errors import NoSpaceError, UsageError
from airgap_transfer.events import Reporter
from airgap_transfer.format.index import Chunk, Index
from airgap_transfer.format.names import sanitize_bundle_name
from airgap_transfer.media import fsio
from airgap_transfer.state import guard, journal

if TYPE_CHECKING:
    from airgap_transfer.engine.unpack.unpacker import UnpackConfig


@dataclass(frozen=True)
class OutputPaths:
    final: Path          # the name the proven bundle gets
    partial: Path        # where it is assembled meanwhile
    journal_path: Path   # which chunks the partial output holds, proven and synced

    @classmethod
    def of(cls, config: UnpackConfig, index: Index) -> OutputPaths:
        final = output_path(config, index)
        return cls(final, final.with_name(f".{final.name}.agt-partial-{index.transfer_id[:12]}"),
                   journal.unpack_journal_path(index.transfer_id, final))

    @property
    def rebuild_work(self) -> Path:
        """Where chunks rebuilt from parity wait to be placed: beside the partial output."""
        return self.partial.with_name(self.partial.name + ".rebuild")

    def discard(self) -> None:
        self.partial.unlink(missing_ok=True)
        journal.remove(self.journal_path)


class _Output:
    """The partial output open for writing, and the Assembler that fills it."""

    def __init__(self, paths: OutputPaths, fd: int, assembler: assemble.Assembler) -> None:
        self.paths, self.fd, self.assembler = paths, fd, assembler

    def record(self, chunk: Chunk) -> None:
        """The placed chunk is durable in the partial output before the journal says so."""
        os.fdatasync(self.fd)
        try:
            journal.append(self.paths.journal_path, [{"placed": {"seq": chunk.seq, "offset": chunk.offset,
                                                                 "length": chunk.length, "blake3": chunk.blake3}}])
        except OSError as exc:  # the state folder, not the output: say which
            raise guard.state_folder_error(exc, "unpack") from None


def output_path(config: UnpackConfig, index: Index) -> Path:
    if config.output_file is not None:
        return config.output_file
    return config.output_dir / sanitize_bundle_name(index.bundle_name)


def check_output(final: Path, size: int, force: bool, kind: str = "file") -> None:
    if kind == "directory":
        size *= 2  # the verified tar and the folder extracted from it, side by side
    elif final.is_dir():
        raise UsageError(f"output {final} is a folder", hint="remove it or choose another path with -o")
    if final.exists() and not force:
        raise UsageError(f"output {final} already exists; left untouched",
                         hint="pass --force to replace it, or -o for another path")
    if final.parent.exists() and not final.parent.is_dir():
        raise UsageError(f"output folder {final.parent} is a file", hint="give a folder as OUTPUT_DIR, or -o FILE")
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create output folder {final.parent}: {exc.strerror}",
                         hint="choose another OUTPUT_DIR") from None
    if not os.access(final.parent, os.W_OK):  # a read-only mount, or no permission: before any chunk is read
        raise UsageError(f"output folder {final.parent} is not writable", hint="choose another OUTPUT_DIR")
    free = fsio.free_space(final.parent)
    if free < size:
        raise NoSpaceError(f"{final.parent} has {free} bytes free, the bundle needs {size}",
                           hint="free space or choose another output folder")


def earlier_run(paths: OutputPaths, restart: bool) -> journal.UnpackJournal | None:
    """The journal of an earlier run into this partial output, trimmed to what the file holds."""
    if restart:
        journal.remove(paths.journal_path)
        paths.partial.unlink(missing_ok=True)
        return None
    saved = journal.load(paths.journal_path, journal.UnpackJournal)
    if saved is None or saved.partial != str(paths.partial) or not paths.partial.is_file():
        journal.remove(paths.journal_path)  # claims about a partial output that is gone: drop them
        return None
    size = paths.partial.stat().st_size
    saved.placed = [r for r in saved.placed
                    if isinstance(r.get("offset"), int) and isinstance(r.get("length"), int)
                    and r["offset"] + r["length"] <= size]
    return saved


def open_partial(paths: OutputPaths, earlier: journal.UnpackJournal | None) -> int:
    """A fresh partial output, or the earlier run's to continue."""
    if earlier is None:
        paths.partial.unlink(missing_ok=True)
        return os.open(paths.partial, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
    return os.open(paths.partial, os.O_RDWR | os.O_NOFOLLOW)


def publish(index: Index, paths: OutputPaths, force: bool, report: Reporter,
            placing: Callable[[], None]) -> list[tarcheck.Refused]:
    """The proven partial output takes its final name (a folder bundle is extracted there).

    ``placing`` is called just before the final name is given.  Returns the
    members of a folder bundle that were refused, not extracted.
    """
    refused: list[tarcheck.Refused] = []
    if index.kind == "directory":
        refused = dirrestore.restore_directory(paths.partial, paths.final, index.bundle_name, force, report,
                                               placing).refused
        paths.partial.unlink()
    else:
        if paths.final.exists() and not force:
            raise UsageError(f"output {paths.final} appeared while unpacking; left untouched",
                             hint="pass --force to replace it, or -o for another path")
        placing()
        os.replace(paths.partial, paths.final)
        fsio.fsync_dir(paths.final.parent)
    shutil.rmtree(paths.rebuild_work, ignore_errors=True)  # left by a run killed while rebuilding
    journal.remove(paths.journal_path)
    return refused
