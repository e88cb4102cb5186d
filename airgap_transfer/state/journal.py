"""Journals in the local state folder, so a re-run continues where it stopped.

A journal only ever claims what is durable: pack records a chunk after its
file is fsynced, renamed and read back; unpack records a placed chunk after
the partial output is fdatasynced.

The file is JSON lines: a header line written atomically (temp name, fsync,
rename), then one appended and fsynced line per drive or chunk, so recording a
chunk costs one short write however many came before.  A crash in the middle
of an append leaves a torn last line, which loading ignores: that chunk is
simply redone.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from airgap_transfer import limits
from airgap_transfer.errors import UsageError
from airgap_transfer.media import fsio
from airgap_transfer.state import paths

JOURNAL_VERSION = 2


@dataclass
class SourceIdentity:
    """What must not change between a pack and its resume."""

    path: str
    size: int
    mtime_ns: int
    inode: int
    device: int

    @classmethod
    def of(cls, path: Path) -> SourceIdentity:
        info = path.stat()
        return cls(str(path.resolve()), info.st_size, info.st_mtime_ns, info.st_ino, info.st_dev)

    def differences(self, other: SourceIdentity) -> list[str]:
        return [name for name in ("size", "mtime_ns", "inode", "device")
                if getattr(self, name) != getattr(other, name)]


@dataclass
class PackJournal:
    transfer_id: str
    source: SourceIdentity
    bundle_name: str
    key_id: str
    readback: bool
    chunks: list[dict[str, Any]] = field(default_factory=list)   # Chunk.to_dict() plus "root"
    drives: list[dict[str, Any]] = field(default_factory=list)   # Drive.to_dict() plus "root"
    complete: bool = False
    sha256: bool = False       # every chunk of a transfer carries SHA-256, or none does
    # pack --encrypt-to/--passphrase: {"recipients": [age1...], "identity": base64 of identity.age or None}
    encryption: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"journal": "pack", "version": JOURNAL_VERSION, **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PackJournal:
        fields = {k: v for k, v in data.items() if k not in ("journal", "version")}
        fields["source"] = SourceIdentity(**fields["source"])
        return cls(**fields)


@dataclass
class UnpackJournal:
    transfer_id: str
    output: str
    partial: str
    # seq, offset, length, blake3 of each chunk proven and synced in the partial
    # output; reused only where the signed index says exactly the same
    placed: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"journal": "unpack", "version": JOURNAL_VERSION, **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UnpackJournal:
        return cls(**{k: v for k, v in data.items() if k not in ("journal", "version")})


_J = TypeVar("_J", PackJournal, UnpackJournal)


def pack_journal_path(source: Path) -> Path:
    key = hashlib.sha256(str(source.resolve()).encode()).hexdigest()[:24]
    return paths.state_dir() / "pack" / f"{key}.json"


def unpack_journal_path(transfer_id: str, output: Path) -> Path:
    key = hashlib.sha256(f"{transfer_id}:{output.resolve()}".encode()).hexdigest()[:24]
    return paths.state_dir() / "unpack" / f"{key}.json"


_LISTS = {"chunk": "chunks", "drive": "drives", "placed": "placed"}


def save(path: Path, journal: PackJournal | UnpackJournal) -> None:
    """Write the whole journal afresh: the header, then a line per record."""
    document = journal.to_dict()
    lines = [{k: v for k, v in document.items() if k not in _LISTS.values()}]
    for kind, key in _LISTS.items():
        lines.extend({kind: record} for record in document.get(key, ()))
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fsio.atomic_write_bytes(path, "".join(json.dumps(line) + "\n" for line in lines).encode())


def append(path: Path, records: list[dict[str, Any]]) -> None:
    """Add lines such as {"chunk": {...}} or {"complete": true}; durable when this returns."""
    if not records:
        return
    data = "".join(json.dumps(record) + "\n" for record in records).encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


def _fold(lines: list[bytes]) -> dict[str, Any]:
    """Header plus records into one dict; a torn last line (crash mid-append) is dropped."""
    parsed = []
    for number, line in enumerate(lines):
        try:
            parsed.append(json.loads(line))
        except ValueError:
            if number == len(lines) - 1:
                break
            raise
    if not parsed or not isinstance(parsed[0], dict):
        raise ValueError("no header line")
    document = dict(parsed[0])
    keyed: dict[str, dict[str, Any]] = {key: {} for key in _LISTS.values()}
    for record in parsed[1:]:
        if not isinstance(record, dict):
            raise ValueError("a record is not an object")
        if record.get("complete") is True:
            document["complete"] = True
        for kind, key in _LISTS.items():
            if isinstance(record.get(kind), dict):
                item = record[kind]
                keyed[key][item.get("ordinal", item.get("seq"))] = item  # a later line replaces an earlier
    for key, items in keyed.items():
        document[key] = [items[k] for k in sorted(items, key=lambda k: (k is None, k))]
    return document


def load(path: Path, kind: type[_J]) -> _J | None:
    """The journal at ``path``, or None; an unreadable one is an error, not silently ignored."""
    if not path.exists():
        return None
    try:
        with open(path, "rb") as handle:
            data = handle.read(limits.MAX_JOURNAL_BYTES + 1)
        if len(data) > limits.MAX_JOURNAL_BYTES:
            raise ValueError("over the size limit")
        document = _fold(data.splitlines())
        if document.get("version") != JOURNAL_VERSION:
            raise ValueError(f"journal version {document.get('version')}")
        known = {f.name for f in fields(kind)} | {"journal", "version"}
        return kind.from_dict({k: v for k, v in document.items() if k in known})
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise UsageError(f"the journal {path} is unreadable ({exc})",
                         hint="run again with --restart to start over, or delete that file") from None


def remove(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def local_progress(transfer_id: str) -> dict[str, Any]:
    """What this machine's journals say about a transfer: pack and unpack progress.

    Each journal is read a line at a time and only counted: a journal of 10^5
    chunks is never held as 10^5 parsed records, and one of another transfer
    is left after its header line.
    """
    found: dict[str, Any] = {}
    for kind in ("pack", "unpack"):
        folder = paths.state_dir() / kind
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.json"))[:limits.MAX_JOURNALS_SCANNED]:
            try:
                progress = _progress(path, kind, transfer_id)
            except (OSError, ValueError, TypeError, KeyError, AttributeError):
                continue  # an unreadable journal says nothing reliable about progress
            if progress is not None:
                found[kind] = progress
    return found


def _progress(path: Path, kind: str, transfer_id: str) -> dict[str, Any] | None:
    record_key = "chunk" if kind == "pack" else "placed"
    lengths: dict[int, int] = {}   # seq -> length; a later line replaces an earlier
    complete = False
    with open(path, "rb") as handle:
        header = json.loads(handle.readline(limits.MAX_JOURNAL_BYTES))
        if (not isinstance(header, dict) or header.get("version") != JOURNAL_VERSION
                or header.get("journal") != kind or header.get("transfer_id") != transfer_id):
            return None
        total, torn = 0, False
        for line in handle:
            total += len(line)
            if total > limits.MAX_JOURNAL_BYTES or torn:
                raise ValueError("over the size limit" if not torn else "a damaged line before the last")
            try:
                record = json.loads(line)
            except ValueError:
                torn = True   # only the last line may be torn: that record was never durable
                continue
            if not isinstance(record, dict):
                raise ValueError("a record is not an object")
            complete = complete or record.get("complete") is True
            item = record.get(record_key)
            if isinstance(item, dict) and type(item.get("seq")) is int and type(item.get("length")) is int:
                lengths[item["seq"]] = item["length"]
    if kind == "pack":
        source = header["source"]
        return {"source": source["path"], "size": source["size"], "chunks": len(lengths),
                "bytes": sum(lengths.values()), "complete": complete or header.get("complete") is True}
    return {"output": header["output"], "partial": header["partial"], "chunks": len(lengths),
            "bytes": sum(lengths.values())}
