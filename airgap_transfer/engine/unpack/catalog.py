"""Find transfers on the given sources and load their index, verified first.

Several copies of the index may exist (one per drive, partial on early drives,
final on the last).  Each copy is checked against the trusted keys over its
exact bytes before it is parsed; a bad copy is reported, not fatal, as long as
one good copy remains.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import blake3

from airgap_transfer import limits
from airgap_transfer.errors import (
    AirgapError,
    DriveIOError,
    FormatError,
    IncompleteError,
    KeyFileError,
    TrustError,
    UsageError,
)
from airgap_transfer.events import Kind, Reporter
from airgap_transfer.format import layout
from airgap_transfer.format.index import Index
from airgap_transfer.format.layout import TransferFolder
from airgap_transfer.format.names import printable
from airgap_transfer.format.serialization import read_bounded, read_pieces
from airgap_transfer.state import journal, paths
from airgap_transfer.trust import keys, minisign


@dataclass
class Transfer:
    transfer_id: str
    folders: list[TransferFolder]

    def copies(self, file_name: str) -> list[tuple[Path, Path]]:
        """Every (chunk path, drive root) for a chunk file name, in discovery order."""
        return [(f.chunks[file_name], f.drive_root) for f in self.folders if file_name in f.chunks]

    def parity_copies(self, file_name: str) -> list[tuple[Path, Path]]:
        """Every (parity file path, drive root) for a parity file name, in discovery order."""
        return [(f.parity[file_name], f.drive_root) for f in self.folders if file_name in f.parity]


@dataclass
class LoadedIndex:
    index: Index
    signer: minisign.PublicKey
    trusted: bool
    folder: TransferFolder


def find_transfers(sources: list[Path], transfer_id: str | None, report: Reporter) -> list[Transfer]:
    """Every transfer on the sources, or the one ``transfer_id`` (a prefix) names."""
    for source in sources:
        if not is_folder(source):
            raise UsageError(f"source {source} is not a folder",
                             hint="give a drive's mount point or a folder of drives")
    folders = layout.discover(sources)
    for folder in folders:
        for path, why in folder.ignored:
            report.warning(Kind.FILE_IGNORED, f"ignored {path}: {why}", path=str(path), reason=why)
    by_id: dict[str, list[TransferFolder]] = {}
    for folder in folders:
        by_id.setdefault(folder.transfer_id, []).append(folder)
    if transfer_id is not None:
        matches = [tid for tid in by_id if tid.startswith(transfer_id.lower())]
        if len(matches) != 1:
            raise UsageError(f"transfer {transfer_id} is {'ambiguous' if matches else 'not on these sources'}",
                             hint=f"transfers found: {', '.join(sorted(by_id)) or 'none'}")
        return [Transfer(matches[0], by_id[matches[0]])]
    if not by_id:
        raise IncompleteError(f"no airgap-transfer folder found on {', '.join(map(str, sources))}",
                              hint="mount the drives and give their mount points or the folder holding them")
    return [Transfer(tid, by_id[tid]) for tid in sorted(by_id)]


def _no_index(transfer: Transfer) -> IncompleteError:
    """No index on any drive given: say the two ways that happens, and which one this machine knows of."""
    where = ", ".join(sorted({str(f.drive_root) for f in transfer.folders}))
    packing = journal.local_progress(transfer.transfer_id).get("pack")
    if packing and not packing["complete"]:
        return IncompleteError(f"no index for transfer {transfer.transfer_id} on {where}: its pack on this machine "
                               f"({packing['source']}) stopped before a drive was finished",
                               hint="run the same pack command again to resume it")
    return IncompleteError(f"no index for transfer {transfer.transfer_id} on {where}",
                           hint="insert the drive written last (it has the index) and run the command again; if "
                                "its pack stopped before any drive was finished, resume it on the sending machine, "
                                f"or delete {layout.folder_name(transfer.transfer_id)} if it was a pack from stdin")


def is_folder(source: Path) -> bool:
    """Whether ``source`` is a folder; a drive that cannot be read is exit 3 naming it, not a traceback.

    A FUSE stick whose driver died (ENOTCONN) may still stat from the kernel's
    cache, and discovery skips folders it cannot list: so the listing is tried here.
    """
    try:
        if not source.is_dir():
            return False
        with os.scandir(source) as entries:
            next(entries, None)
        return True
    except OSError as exc:  # ENOTCONN, EIO, EACCES
        raise DriveIOError(f"drive {source} cannot be read ({exc.strerror or exc})",
                           hint="reconnect or remount the drive (or check its permissions), then run the same "
                                "command again") from None


def find_transfer(sources: list[Path], transfer_id: str | None, report: Reporter) -> Transfer:
    found = find_transfers(sources, transfer_id, report)
    if len(found) > 1:
        listing = "; ".join(describe(t) for t in found)
        raise UsageError(f"these sources hold {len(found)} transfers: {listing}",
                         hint="choose one with --transfer ID (a prefix is enough); `status` shows each")
    return found[0]


def describe(transfer: Transfer) -> str:
    """``ID (bundle name, size, date)`` from the transfer's best index, checked against its own signer key.

    Only for telling transfers apart: nothing here is trusted.
    """
    try:
        index = load_index(transfer, [], True, Reporter(None), warn_untrusted=False).index
    except (AirgapError, OSError):
        return f"{transfer.transfer_id} (no readable index)"
    size = f"{index.bundle_size} bytes" if index.final else f"at least {sum(c.length for c in index.chunks)} bytes"
    return f"{transfer.transfer_id} ({printable(index.bundle_name)}, {size}, {index.created})"


# An index up to this size is read into memory; a larger one (10^5 chunks make 26 MB) is copied to a
# private file in the state folder and parsed from there, so its bytes and its Chunks never coexist.
INDEX_IN_MEMORY = 4 * 2**20


class IndexCopy:
    """One drive's index bytes, hashed as they were read: in memory, or in a private spooled file.

    The signature is checked against ``prehash`` before anything is parsed,
    and the bytes parsed are this copy, which the drive can no longer change.
    """

    def __init__(self, path: Path) -> None:
        self.prehash = minisign.prehash()
        fingerprint = blake3.blake3()
        self.file: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=INDEX_IN_MEMORY, dir=_scratch())  # noqa: SIM115 (closed by close())
        self.size = 0
        try:
            for piece in read_pieces(path, limits.MAX_INDEX_BYTES, what="index"):
                self.size += len(piece)
                self.prehash.update(piece)
                fingerprint.update(piece)
                self.file.write(piece)
        except BaseException:
            self.file.close()
            raise
        self.fingerprint = fingerprint

    def whole(self) -> bytes:
        """All of it (a legacy, not prehashed, signature needs the message itself)."""
        self.file.seek(0)
        return self.file.read()

    def close(self) -> None:
        self.file.close()


def _scratch() -> str | None:
    """The state folder for a spilled copy (a disk, unlike a tmpfs /tmp that would hold it in RAM)."""
    folder = paths.state_dir()
    return str(folder) if folder.is_dir() else None


def _read_copy(folder: TransferFolder) -> tuple[IndexCopy, str]:
    """The index copy and signature text of one folder, both bounded."""
    data = IndexCopy(folder.index_path)
    try:
        signature_text = read_bounded(folder.signature_path, limits.MAX_SIGNATURE_BYTES, what="signature").decode()
    except FormatError as exc:
        data.close()
        raise TrustError(f"{folder.path}: index signature missing or unreadable ({exc.detail})",
                         hint="copy index.agt.minisig from another drive of this transfer") from None
    except UnicodeDecodeError:
        data.close()
        raise TrustError(f"{folder.path}: index signature is not text",
                         hint="copy index.agt.minisig from another drive of this transfer") from None
    return data, signature_text


def _load_one(folder: TransferFolder, data: IndexCopy, signature_text: str,
              trusted: list[minisign.PublicKey], allow_untrusted: bool) -> LoadedIndex:
    where = str(folder.path)
    candidates = list(trusted)
    is_trusted = True
    digest = data.prehash.digest()
    try:
        signer = keys.verify_index_prehashed(digest, data.whole, signature_text, candidates, where=where)
    except TrustError:
        if not allow_untrusted:
            raise
        try:
            on_drive = minisign.PublicKey.from_text(
                read_bounded(folder.path / layout.SIGNER_KEY_NAME, limits.MAX_KEY_FILE_BYTES,
                             what="signer key").decode())
        except (FormatError, KeyFileError, UnicodeDecodeError):
            raise TrustError(f"{where}: no usable {layout.SIGNER_KEY_NAME} to check the signature with",
                             hint="get the sender's public key and pass it with --trust") from None
        signer = keys.verify_index_prehashed(digest, data.whole, signature_text, [on_drive], where=where)
        is_trusted = False
    try:
        index = Index.from_bytes(data.file)
    except FormatError as exc:  # signed, so its signer made it: say where, and who to ask
        raise FormatError(f"{where}: the index signed by {signer.key_id_hex} is malformed: {exc.detail}",
                          hint=exc.hint or "ask the sender to pack again; do not trust a drive from that signer "
                                           "until it is explained") from None
    if index.transfer_id != folder.transfer_id:
        raise TrustError(f"{where}: index belongs to transfer {index.transfer_id}, not to this folder's",
                         hint="chunks and index of different transfers were mixed; use the index of this transfer")
    if index.signer != signer.key_id_hex:
        raise TrustError(f"{where}: index names signer {index.signer} but was signed by {signer.key_id_hex}",
                         hint="the index and its signature do not belong together; use another drive's copy, "
                              "or ask the sender")
    return LoadedIndex(index, signer, is_trusted, folder)


def _better(candidate: LoadedIndex, best: LoadedIndex) -> bool:
    """A final index beats a partial one; among partial ones, the one with more chunks."""
    if candidate.index.final != best.index.final:
        return candidate.index.final
    return not candidate.index.final and len(candidate.index.chunks) > len(best.index.chunks)


def load_index(transfer: Transfer, trusted: list[minisign.PublicKey], allow_untrusted: bool,
               report: Reporter, warn_untrusted: bool = True) -> LoadedIndex:
    """The final index if any drive has a good copy, else the newest partial one."""
    # Only the best copy so far stays parsed (an index can hold ~250 000 chunks),
    # and a byte-identical copy (the final index is the same on every drive) is
    # neither verified nor parsed twice.
    best: LoadedIndex | None = None
    seen: set[str] = set()
    rejected: list[tuple[TransferFolder, AirgapError]] = []
    for folder in transfer.folders:
        if not folder.has_index:
            continue
        try:
            data, signature_text = _read_copy(folder)
        except (TrustError, FormatError) as exc:
            rejected.append((folder, exc))
            continue
        try:
            hasher = data.fingerprint
            hasher.update(signature_text.encode())
            fingerprint = hasher.hexdigest()
            if fingerprint in seen:
                continue
            loaded = _load_one(folder, data, signature_text, trusted, allow_untrusted)
            seen.add(fingerprint)
            if best is None or _better(loaded, best):
                best = loaded
        except (TrustError, FormatError) as exc:
            rejected.append((folder, exc))
        finally:
            data.close()
    if best is None:
        if rejected:
            raise rejected[0][1]
        raise _no_index(transfer)
    for folder, error in rejected:  # one good copy is enough; say which copies were bad
        report.warning(Kind.INDEX_REJECTED, f"index copy rejected: {error.one_line()}", folder=str(folder.path))
    chosen = best
    if not chosen.trusted and warn_untrusted:
        report.warning(Kind.UNTRUSTED_KEY, f"index signed by UNTRUSTED key {chosen.signer.key_id_hex}; "
                       "compare this key id with the sender out of band", key_id=chosen.signer.key_id_hex)
    return chosen
