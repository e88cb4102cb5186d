"""Continuing a pack that stopped: what the journal claims, proven against the drives.

A chunk recorded in the journal is kept only if its file on a drive that is
mounted now still hashes to its digest (a drive that is not mounted was read
back when written, so its chunks are taken from the journal).  Drives written
at once leave kept chunks with gaps between them (each drive stopped part way
through its share); a gap is refilled with exactly as many chunks as it
lacks, so the kept ones keep their sequence numbers.  From a source that can
only be re-read in order (a folder), everything after the first missing or
failing chunk is redone instead.  Our own leftovers on the drives (temp
files, chunks not kept) are removed; files of other transfers are never
touched.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import blake3

from airgap_transfer import limits
from airgap_transfer.engine.io.digests import Digests, Hasher
from airgap_transfer.engine.pack.parallel import Planned
from airgap_transfer.errors import AirgapError, UsageError
from airgap_transfer.events import Kind, Reporter
from airgap_transfer.format import layout
from airgap_transfer.format.index import Chunk
from airgap_transfer.format.names import count_of
from airgap_transfer.media import fsio
from airgap_transfer.media import probe as media
from airgap_transfer.state import journal
from airgap_transfer.state.journal import PackJournal, SourceIdentity


class Rereadable(Protocol):
    """A source that can be read again from the start: a file, or a folder's tar stream."""

    def seek(self, position: int, /) -> object: ...
    def readinto(self, view: memoryview, /) -> int | None: ...


@dataclass
class ResumePoint:
    journal: PackJournal
    chunks: list[Chunk]      # kept, in sequence order, perhaps with gaps between them
    offset: int              # where the last kept chunk ends
    gaps: list[Planned]      # the chunks missing before that point


def find(source_spec: str, key_id: str, *, resume: bool, restart: bool, sha256: bool = False,
         readback: bool = True) -> PackJournal | None:
    """The unfinished journal for this source, checked; None to start a new transfer."""
    if source_spec == "-":
        if resume:
            raise UsageError("a pack from stdin cannot be resumed: its bytes cannot be read again",
                             hint="pack from a file to be able to resume")
        return None
    source = Path(source_spec)
    path = journal.pack_journal_path(source)
    if restart:
        journal.remove(path)
        return None
    found = journal.load(path, PackJournal)
    if found is None or found.complete:
        if resume:
            raise UsageError(f"there is no unfinished pack of {source} to resume",
                             hint="run pack without --resume to start a new transfer")
        return None
    changed = found.source.differences(SourceIdentity.of(source))
    if changed:
        raise UsageError(f"{source} changed since transfer {found.transfer_id} started "
                         f"({', '.join(changed)} differ); resume refused",
                         hint="run pack with --restart to pack it as a new transfer")
    if found.readback != readback:  # the index says for every chunk whether it was read back
        raise UsageError(f"transfer {found.transfer_id} was started {'without' if not found.readback else 'with'} "
                         "read-back", hint="run the same pack command as before (--no-readback or not), or --restart")
    if found.sha256 != sha256:
        raise UsageError(f"transfer {found.transfer_id} was started {'with' if found.sha256 else 'without'} --sha256",
                         hint="run the same pack command as before, or --restart")
    if found.key_id != key_id:
        raise UsageError(f"transfer {found.transfer_id} was being signed with key {found.key_id}, not {key_id}",
                         hint="give the same --key, or run with --restart")
    return found


def packed_before(source_spec: str, destinations: list[Path]) -> tuple[str, list[Path]] | None:
    """(transfer id, destinations holding it) when this unchanged source was packed completely onto one of them.

    Running the same pack again then makes a second transfer beside the
    first; that is allowed (another set of drives, a fresh copy), but said.
    """
    if source_spec == "-":
        return None
    source = Path(source_spec)
    try:
        found = journal.load(journal.pack_journal_path(source), PackJournal)
        if found is None or not found.complete or found.source.differences(SourceIdentity.of(source)):
            return None
    except (AirgapError, OSError):  # a damaged journal or an unreadable source is for others to report
        return None
    holding = [d for d in destinations if (d / layout.folder_name(found.transfer_id)).is_dir()]
    return (found.transfer_id, holding) if holding else None


def present_drives(found: PackJournal, destinations: list[Path]) -> set[int]:
    """Ordinals of the journal's drives that are mounted now, at the same path with the same file system.

    Automounters reuse paths (/media/usb) for different sticks, so the path
    alone does not say it is the same drive; the file-system UUID does.
    """
    given = {str(d.resolve()) for d in destinations}
    present = set()
    for saved in found.drives:
        if saved["root"] in given and media.describe(Path(saved["root"])).fs_uuid == saved["fs_uuid"]:
            present.add(saved["ordinal"])
    return present


def prove(found: PackJournal, destinations: list[Path], buffer: bytearray | memoryview, report: Reporter,
          gaps_allowed: bool = True) -> ResumePoint:
    present = present_drives(found, destinations)
    kept: list[Chunk] = []
    for entry in found.chunks:  # in sequence order
        chunk = Chunk.from_dict({k: v for k, v in entry.items() if k != "root"})
        follows = (kept[-1].seq + 1, kept[-1].offset + kept[-1].length) if kept else (1, 0)
        if not gaps_allowed and (chunk.seq, chunk.offset) != follows:
            break
        root = entry["root"]
        if chunk.drive in present:
            problem = _check(Path(root) / layout.folder_name(found.transfer_id) / chunk.file, chunk, buffer)
            if problem:
                report.warning(Kind.RESUME_CHUNK_REDO, f"chunk {chunk.seq} on {root} {problem}; it is written again",
                               chunk=chunk.seq, drive=root)
                if gaps_allowed:
                    continue
                break
        kept.append(chunk)
    gaps = _gaps(kept)
    too_long = next((gap for gap in gaps if gap.length > limits.FAT32_MAX_FILE), None)
    if too_long is not None:  # no drive of every kind could take it: redo all from there, cut to fit
        kept = [c for c in kept if c.seq < too_long.seq]
        gaps = [gap for gap in gaps if gap.seq < too_long.seq]
    offset = kept[-1].offset + kept[-1].length if kept else 0
    report.info(Kind.RESUME, f"resuming transfer {found.transfer_id}: {count_of(len(kept), 'chunk')} "
                f"({sum(c.length for c in kept)} bytes) already on the drives and proven"
                + (f", {len(gaps)} missing between them" if gaps else ""),
                transfer_id=found.transfer_id, chunks=len(kept), offset=offset, gaps=len(gaps))
    return ResumePoint(found, kept, offset, gaps)


def _gaps(kept: list[Chunk]) -> list[Planned]:
    """The chunks missing between kept ones, each gap cut into as many even chunks as it lacks."""
    gaps: list[Planned] = []
    seq, position = 1, 0
    for chunk in kept:
        count, span = chunk.seq - seq, chunk.offset - position
        if count < 0 or span < count or (count == 0) != (span == 0):
            raise UsageError(f"the journal of this transfer is inconsistent at chunk {chunk.seq}; resume refused",
                             hint="run pack with --restart to pack it as a new transfer")
        for n in range(count):
            length = span // count + (1 if n < span % count else 0)
            gaps.append(Planned(seq + n, position, length))
            position += length
        seq, position = chunk.seq + 1, chunk.offset + chunk.length
    return gaps


def _check(path: Path, chunk: Chunk, buffer: bytearray | memoryview) -> str | None:
    try:
        digest, seen = fsio.hash_file_bounded(path, chunk.stored_length, buffer)
    except FileNotFoundError:
        return "is missing"
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if seen != chunk.stored_length or digest != chunk.stored_blake3:
        return "does not match its digest"
    return None


def remove_leftovers(transfer_id: str, destinations: list[Path], keep: set[str], report: Reporter) -> None:
    """Our temp files and chunks past the resume point; nothing of other transfers."""
    for dest in destinations:
        folder = dest / layout.folder_name(transfer_id)
        if not folder.is_dir():
            continue
        with os.scandir(folder) as entries:
            names = [(e.name, e.path, e.is_file(follow_symlinks=False)) for e in entries]
        for name, path, regular in names:
            ours_tmp = name.startswith(".") and ".tmp-" in name
            stale_chunk = layout.CHUNK_RE.fullmatch(name) and name not in keep
            if (ours_tmp or stale_chunk) and regular:
                os.unlink(path)
                report.info(Kind.STALE_REMOVED, f"removed leftover {path}", path=path)


def rehash_prefix(stream: Rereadable, chunks: list[Chunk], buffer: bytearray | memoryview, report: Reporter,
                  whole: Digests | None = None) -> Digests:
    """BLAKE3 of the source up to the end of the last kept chunk, each kept chunk re-proven on the way.

    Hasher state cannot be saved in a journal, so the whole digest is rebuilt
    from the source (gaps included: their chunks are written again from the
    same bytes); comparing every kept chunk's digest on the way catches a
    source that changed in a way its size and times do not show (a file
    edited in place, a folder whose contents changed).
    """
    whole = whole or Digests()
    view = memoryview(buffer)
    stream.seek(0)
    position = 0
    total = chunks[-1].offset + chunks[-1].length if chunks else 0

    def hash_span(length: int, *hashers: Hasher) -> None:
        nonlocal position
        while length:
            got = stream.readinto(view[:min(len(view), length)])
            if not got:
                raise UsageError("the source is shorter than the part already packed; resume refused",
                                 hint="run pack with --restart to pack it as a new transfer")
            for hasher in hashers:
                hasher.update(view[:got])
            length -= got
            position += got
            report.progress(done=position, total=total, phase="rehash")

    for chunk in chunks:
        hash_span(chunk.offset - position, whole)
        piece_hash = blake3.blake3()
        hash_span(chunk.length, piece_hash, whole)
        if piece_hash.hexdigest() != chunk.blake3:
            raise UsageError(f"the source changed since chunk {chunk.seq} was packed; resume refused",
                             hint="run pack with --restart to pack it as a new transfer")
    return whole
