"""Where things live on a drive, and how to find them again without trusting it.

Per destination, one folder per transfer:

    DEST/airgap-<transfer id>/
        <id12>-000001.chunk     plain byte slices of the bundle, in name order
                                (.chunk.zst compressed, .chunk.age / .chunk.zst.age encrypted)
        identity.age            an encrypted transfer's identity under a passphrase (--passphrase)
        <id12>-s000001-p01.parity   parity of stripe 1 (pack --parity), see format/parity.py
        index.agt               signed msgpack index (final, or partial on early drives)
        index.agt.minisig       minisign signature of index.agt
        B3SUMS                  `b3sum -c B3SUMS` checks this drive's files
        SHA256SUMS              `sha256sum -c SHA256SUMS` (pack --sha256): the files whose SHA-256 the index holds
        signer.pub              the signer's public key, for --allow-untrusted only

Discovery walks a few levels below each SOURCE, never follows symlinks, and
only recognises names that match these patterns exactly.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from airgap_transfer import limits
from airgap_transfer.errors import UsageError

FOLDER_PREFIX = "airgap-"
INDEX_NAME = "index.agt"
SIGNATURE_NAME = "index.agt.minisig"
B3SUMS_NAME = "B3SUMS"
SHA256SUMS_NAME = "SHA256SUMS"  # pack --sha256: the same line format, which `sha256sum -c` reads
IDENTITY_NAME = "identity.age"  # pack --passphrase: the per-transfer age identity, scrypt-encrypted
SIGNER_KEY_NAME = "signer.pub"  # lets --allow-untrusted still detect corruption
SEARCH_DEPTH = 3

FOLDER_RE = re.compile(r"airgap-([0-9a-f]{32})")
CHUNK_RE = re.compile(r"([0-9a-f]{12})-(\d{6})\.chunk(\.zst)?(\.age)?", re.ASCII)
PARITY_RE = re.compile(r"([0-9a-f]{12})-s(\d{6})-p(\d{2})\.parity", re.ASCII)


def folder_name(transfer_id: str) -> str:
    return f"{FOLDER_PREFIX}{transfer_id}"


def chunk_file_name(transfer_id: str, seq: int, encoding: str = "none") -> str:
    suffix = {"none": "", "zstd": ".zst", "age": ".age", "zstd+age": ".zst.age"}[encoding]
    return f"{transfer_id[:12]}-{seq:06d}.chunk{suffix}"


class ChunkFiles(Mapping[str, Path]):
    """Chunk file name -> path in one folder; the paths are made when asked.

    A folder may hold 200,000 chunks: a set of names costs a quarter of a
    dict of ``Path`` objects.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.names: set[str] = set()

    def add(self, name: str) -> None:
        self.names.add(name)

    def __getitem__(self, name: str) -> Path:
        if name not in self.names:
            raise KeyError(name)
        return self.folder / name

    def __contains__(self, name: object) -> bool:
        return name in self.names

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)


def parity_file_name(transfer_id: str, stripe: int, shard: int) -> str:
    """Parity shard ``shard`` (1-based) of stripe ``stripe``."""
    return f"{transfer_id[:12]}-s{stripe:06d}-p{shard:02d}.parity"


@dataclass
class TransferFolder:
    """One transfer's folder as found on one drive.  Nothing here is trusted yet."""

    path: Path
    transfer_id: str
    drive_root: Path
    has_index: bool = False
    chunks: ChunkFiles = field(init=False)
    parity: dict[str, Path] = field(default_factory=dict)
    ignored: list[tuple[Path, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.chunks = ChunkFiles(self.path)

    @property
    def index_path(self) -> Path:
        return self.path / INDEX_NAME

    @property
    def signature_path(self) -> Path:
        return self.path / SIGNATURE_NAME


class _Budget:
    """How many directory entries one discovery may still look at."""

    def __init__(self, total: int) -> None:
        self.total = self.left = total

    def spend(self, count: int, where: Path) -> None:
        self.left -= count
        if self.left < 0:
            raise UsageError(f"more than {self.total} entries found (last in {where}); stopped looking",
                             hint="give each drive's mount point (or its airgap-* folder) as SOURCE")


def _entries(path: Path, budget: _Budget | None = None) -> Iterator[os.DirEntry[str]]:
    """A folder's entries, at most MAX_ENTRIES_PER_DIR, each counted against ``budget``.

    Yielded one at a time: a folder of 10^5 chunks is not held as a list.
    """
    try:
        with os.scandir(path) as iterator:
            for number, entry in enumerate(iterator, start=1):
                if budget is not None:
                    budget.spend(1, path)
                yield entry
                if number >= limits.MAX_ENTRIES_PER_DIR:
                    break
    except OSError:
        return


def _read_folder(path: Path, transfer_id: str, drive_root: Path, budget: _Budget) -> TransferFolder:
    found = TransferFolder(path=path, transfer_id=transfer_id, drive_root=drive_root)
    prefix = transfer_id[:12]
    for entry in _entries(path, budget):
        name = entry.name
        match = CHUNK_RE.fullmatch(name) or PARITY_RE.fullmatch(name)
        if name == INDEX_NAME or match:
            try:
                regular = entry.is_file(follow_symlinks=False)
            except OSError:
                continue
            if not regular:
                found.ignored.append((Path(entry.path), "not a regular file (symlink or special)"))
                continue
            if name == INDEX_NAME:
                found.has_index = True
            elif match is not None and match.group(1) != prefix:
                found.ignored.append((Path(entry.path), "chunk of another transfer"))
            elif name.endswith(".parity"):
                found.parity[name] = Path(entry.path)
            else:
                found.chunks.add(name)
    return found


def discover(sources: list[Path], max_entries: int = limits.MAX_ENTRIES_TOTAL) -> list[TransferFolder]:
    """Every transfer folder at most SEARCH_DEPTH levels below each source."""
    budget = _Budget(max_entries)
    results: list[TransferFolder] = []
    seen: set[tuple[int, int]] = set()
    for source in sources:
        queue: list[tuple[Path, int, Path]] = [(source, 0, source)]
        while queue:
            path, depth, drive_root = queue.pop(0)
            try:
                info = path.stat() if depth == 0 else path.lstat()
            except OSError:
                continue
            if not stat.S_ISDIR(info.st_mode) or (info.st_dev, info.st_ino) in seen:
                continue
            seen.add((info.st_dev, info.st_ino))
            match = FOLDER_RE.fullmatch(path.name)
            if match:  # a transfer folder, possibly given itself as SOURCE: its drive is the parent
                root = drive_root if depth > 0 else path.parent
                results.append(_read_folder(path, match.group(1), root, budget))
                continue
            if depth >= SEARCH_DEPTH:
                continue
            for entry in sorted(_entries(path, budget), key=lambda e: e.name):
                if entry.is_dir(follow_symlinks=False):
                    # A folder directly below a parent SOURCE is a drive of its own.
                    root = Path(entry.path) if depth == 0 and not FOLDER_RE.fullmatch(entry.name) else drive_root
                    queue.append((Path(entry.path), depth + 1, root))
    return results


def b3sums_lines(entries: list[tuple[str, str]]) -> Iterator[bytes]:
    """Lines `b3sum -c` (and `sha256sum -c`) read: digest, two spaces, file name; sorted by name, a line at a time."""
    for name, digest in sorted(entries):
        yield f"{digest}  {name}\n".encode()
