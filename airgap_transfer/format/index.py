"""The signed chunk index: a plain data model with strict to_dict/from_dict.

The index is the one document a receiver trusts, and only after its signature
has been checked over the exact bytes (``engine/unpack/catalog.load_index``).  ``from_dict`` still
treats its content as hostile: every field is type-checked and the chunk list
must tile the bundle exactly, so a malformed index can never steer a write.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from airgap_transfer import limits
from airgap_transfer.errors import FormatError, UsageError
from airgap_transfer.format import layout, serialization
from airgap_transfer.format.encryption import Encryption, is_encrypted
from airgap_transfer.format.fields import Fields as _Fields
from airgap_transfer.format.names import sanitize_bundle_name
from airgap_transfer.format.parity import Parity

MAGIC = "airgap-transfer/index"
FORMAT_MAJOR = 1
# 1.1: the optional "parity" (section 12) and "encryption" (section 13) fields, and bundle.original_name (section 3)
FORMAT_MINOR = 1
ENCODINGS = ("none", "zstd", "age", "zstd+age")
_ENCODING_NAMES = {name: name for name in ENCODINGS}  # parsed names become these shared strings


@dataclass(slots=True)
class Chunk:
    """One chunk file: a byte range of the bundle, stored as ``file`` on drive ``drive``.

    Slotted: an index of 10^5 chunks holds 10^5 of these in every command.
    """

    seq: int
    offset: int
    length: int
    blake3: str
    file: str
    drive: int
    encoding: str = "none"
    stored_length: int = -1
    stored_blake3: str = ""
    sha256: str | None = None

    def __post_init__(self) -> None:
        if self.stored_length < 0:
            self.stored_length = self.length
        if not self.stored_blake3 or self.stored_blake3 == self.blake3:
            self.stored_blake3 = self.blake3  # one string, not two equal ones (plain chunks)
        if self.stored_length == self.length:
            self.stored_length = self.length
        self.encoding = _ENCODING_NAMES.get(self.encoding, self.encoding)

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq, "offset": self.offset, "length": self.length,
            "blake3": self.blake3, "file": self.file, "drive": self.drive,
            "encoding": self.encoding, "stored_length": self.stored_length,
            "stored_blake3": self.stored_blake3, "sha256": self.sha256,
        }

    @classmethod
    def from_dict(cls, data: Any, strict: bool = True) -> Chunk:
        d = _Fields(data, "chunk", strict)
        chunk = cls(
            seq=d.integer("seq", 1, limits.MAX_CHUNKS),
            offset=d.integer("offset", 0, limits.MAX_BUNDLE_SIZE),
            length=d.integer("length", 1, limits.MAX_BUNDLE_SIZE),
            blake3=d.hex256("blake3"),
            file=d.text("file", limits.MAX_NAME_CHARS),
            drive=d.integer("drive", 1, limits.MAX_DRIVES),
            encoding=d.choice("encoding", ENCODINGS),
            stored_length=d.integer("stored_length", 1, limits.MAX_BUNDLE_SIZE),
            stored_blake3=d.hex256("stored_blake3"),
            sha256=d.optional_hex256("sha256"),
        )
        d.done()
        return chunk


@dataclass
class Drive:
    """What pack knew about a destination, so unpack can ask for it by name."""

    ordinal: int
    label: str | None = None
    fs_type: str | None = None
    fs_uuid: str | None = None
    serial: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"ordinal": self.ordinal, "label": self.label, "fs_type": self.fs_type,
                "fs_uuid": self.fs_uuid, "serial": self.serial}

    @classmethod
    def from_dict(cls, data: Any, strict: bool = True) -> Drive:
        d = _Fields(data, "drive", strict)
        drive = cls(
            ordinal=d.integer("ordinal", 1, limits.MAX_DRIVES),
            label=d.optional_text("label", limits.MAX_TEXT_CHARS),
            fs_type=d.optional_text("fs_type", limits.MAX_TEXT_CHARS),
            fs_uuid=d.optional_text("fs_uuid", limits.MAX_TEXT_CHARS),
            serial=d.optional_text("serial", limits.MAX_TEXT_CHARS),
        )
        d.done()
        return drive


@dataclass
class Index:
    """Everything the signature binds: which bytes make which bundle."""

    transfer_id: str
    bundle_name: str
    bundle_size: int
    bundle_blake3: str | None
    created: str
    tool: str
    signer: str
    final: bool
    kind: str = "file"
    readback: bool = True
    compression: str = "none"
    bundle_sha256: str | None = None
    bundle_original_name: str | None = None  # the sender's name, when sanitising changed it (format 1.1)
    chunks: list[Chunk] = field(default_factory=list)
    drives: list[Drive] = field(default_factory=list)
    parity: Parity | None = None  # pack --parity: which parity files protect which chunks
    encryption: Encryption | None = None  # pack --encrypt-to/--passphrase (section 13)

    def to_dict(self, with_chunks: bool = True) -> dict[str, Any]:
        data = {
            "magic": MAGIC, "version": [FORMAT_MAJOR, FORMAT_MINOR],
            "transfer_id": self.transfer_id, "final": self.final,
            "bundle": {"name": self.bundle_name, "size": self.bundle_size, "kind": self.kind,
                       "blake3": self.bundle_blake3, "sha256": self.bundle_sha256,
                       **({"original_name": self.bundle_original_name} if self.bundle_original_name else {})},
            "created": self.created, "tool": self.tool, "signer": self.signer,
            "readback": self.readback, "compression": self.compression,
            "drives": [drive.to_dict() for drive in self.drives],
            "chunks": [chunk.to_dict() for chunk in self.chunks] if with_chunks else None,
        }
        if self.parity is not None:  # absent, not null, without parity: a 1.0 reader refuses no field it knows
            data["parity"] = self.parity.to_dict()
        if self.encryption is not None:
            data["encryption"] = self.encryption.to_dict()
        return data

    def to_bytes(self) -> bytes:
        """The exact bytes that are signed: ``dumps(to_dict())``, packed a chunk at a time.

        Packing entry by entry never holds 10^5 chunk dicts at once; the bytes
        are the same (tests/unit/engine/test_reference_equivalence.py).
        """
        out = io.BytesIO()   # getvalue() hands over its buffer: no second copy of a 26 MB index
        for piece in self.to_pieces():
            out.write(piece)
        return out.getvalue()

    def to_pieces(self) -> Iterator[bytes]:
        """``to_bytes()`` in pieces, for writing to a drive while hashing (a 26 MB index never whole)."""
        document = self.to_dict(with_chunks=False)
        size = 0
        for piece in serialization.dump_pieces_with_list(document, "chunks", (c.to_dict() for c in self.chunks),
                                                         len(self.chunks)):
            size += len(piece)
            self.check_size(size)
            yield piece

    def check_size(self, size: int) -> None:
        if size > limits.MAX_INDEX_BYTES:
            raise UsageError(f"the index of {len(self.chunks)} chunks would be over the "
                             f"{limits.MAX_INDEX_BYTES}-byte limit receivers accept",
                             hint="use a larger --chunk-size")

    @classmethod
    def from_bytes(cls, data: bytes | IO[bytes]) -> Index:
        """Parse and check; each chunk map becomes a Chunk as soon as it is parsed (10^5 chunks).

        ``data`` may be a seekable file of the bytes: a large index is parsed
        from a private copy, not held in memory beside its 10^5 Chunks.
        """
        return cls.from_dict(serialization.loads(data, what="index", limit=limits.MAX_INDEX_BYTES,
                                                 stream=("chunks", _chunk_early, limits.MAX_CHUNKS)))

    @classmethod
    def from_dict(cls, data: Any) -> Index:
        d = _Fields(data, "index")
        if d.raw.get("magic") != MAGIC:
            raise FormatError("not an airgap-transfer index (wrong magic)")
        d.seen.add("magic")
        version = d.raw.get("version")
        d.seen.add("version")
        if (not isinstance(version, list) or len(version) != 2
                or not all(type(v) is int for v in version)):
            raise FormatError("index version is malformed")
        if version[0] != FORMAT_MAJOR:
            raise FormatError(
                f"index format {version[0]}.{version[1]} is not supported (this tool reads {FORMAT_MAJOR}.x)",
                hint="use an airgap-transfer release that reads this format",
            )
        # A newer minor version may add fields; only then are unknown ones ignored.
        strict = version[1] <= FORMAT_MINOR
        d.strict = strict
        bundle = _Fields(d.take("bundle"), "bundle", strict)
        chunks_raw = d.take("chunks")
        drives_raw = d.take("drives")
        encryption_raw = d.raw.get("encryption") if version[1] >= 1 else None  # 1.0 has no such field
        if encryption_raw is not None:
            d.seen.add("encryption")
        if not isinstance(chunks_raw, list) or len(chunks_raw) > limits.MAX_CHUNKS:
            raise FormatError(f"index chunk list is not a list of at most {limits.MAX_CHUNKS}")
        if not isinstance(drives_raw, list) or len(drives_raw) > limits.MAX_DRIVES:
            raise FormatError("index drive list is malformed")
        index = cls(
            transfer_id=d.match("transfer_id", limits.TRANSFER_ID_RE),
            final=d.boolean("final"),
            bundle_name=bundle.text("name", limits.MAX_NAME_CHARS),
            bundle_size=bundle.integer("size", 0, limits.MAX_BUNDLE_SIZE),
            kind=bundle.choice("kind", ("file", "directory", "stream")),
            bundle_blake3=bundle.optional_hex256("blake3"),
            bundle_sha256=bundle.optional_hex256("sha256"),
            bundle_original_name=bundle.optional_text("original_name", limits.MAX_ORIGINAL_NAME_CHARS),
            created=d.created("created"),
            tool=d.text("tool", limits.MAX_TEXT_CHARS),
            signer=d.text("signer", 64),
            readback=d.boolean("readback"),
            compression=d.text("compression", 64),
            chunks=_chunks_in_place(chunks_raw, strict),
            drives=[Drive.from_dict(item, strict) for item in drives_raw],
            encryption=(Encryption.from_dict(encryption_raw, limits.MAX_INDEX_BYTES)
                        if encryption_raw is not None else None),
            parity=Parity.from_dict(d.take("parity"), strict) if "parity" in d.raw else None,
        )
        bundle.done()
        d.done()
        index._check_name()
        index._check_tiling()
        if index.parity is not None:
            if not index.final:
                raise FormatError("a partial index carries parity (only the final one may)")
            index.parity.check(index.transfer_id, index.chunks)
        return index

    def _check_name(self) -> None:
        """The name becomes a path on the receiver: it must already be one safe component.

        Pack only ever writes sanitised names, so anything else was crafted.
        """
        try:
            safe = sanitize_bundle_name(self.bundle_name)
        except UsageError:
            safe = None
        if safe != self.bundle_name:
            raise FormatError("the bundle name in the index is not a safe file name (separators, '..', "
                              "control characters or a leading dot)")

    def _check_tiling(self) -> None:
        """Chunks must cover [0, size) in order, without gap, overlap or repeat."""
        expected_offset = 0
        names: set[str] = set()
        for position, chunk in enumerate(self.chunks, start=1):
            if chunk.seq != position:
                raise FormatError(f"chunk {chunk.seq} is out of sequence (expected {position})")
            if chunk.offset != expected_offset:
                kind = "a gap" if chunk.offset > expected_offset else "an overlap"
                raise FormatError(f"chunk {chunk.seq} leaves {kind} at byte {expected_offset}")
            if chunk.file != layout.chunk_file_name(self.transfer_id, chunk.seq, chunk.encoding):
                raise FormatError(f"chunk {chunk.seq} has a malformed file name")
            if chunk.file in names:
                raise FormatError(f"chunk file name {chunk.file!r} appears twice")
            names.add(chunk.file)
            if chunk.encoding == "none" and chunk.stored_length != chunk.length:
                raise FormatError(f"chunk {chunk.seq}: stored length differs from length")
            if is_encrypted(chunk.encoding) != (self.encryption is not None):
                # One transfer is encrypted throughout or not at all: a plain chunk slipped
                # into an encrypted transfer (or the reverse) is refused, never mixed in.
                raise FormatError(f"chunk {chunk.seq} is {'' if is_encrypted(chunk.encoding) else 'not '}"
                                  f"encrypted but the transfer is {'' if self.encryption else 'not '}"
                                  "(mixed encrypted and plain chunks)")
            if is_encrypted(chunk.encoding) and chunk.blake3 != chunk.stored_blake3:
                raise FormatError(f"chunk {chunk.seq}: an encrypted chunk's public digest must be its stored digest")
            expected_offset += chunk.length
        if self.encryption is not None and (self.bundle_blake3 is not None or self.bundle_sha256 is not None):
            raise FormatError("an encrypted index carries its whole-bundle digests in the sealed section only")
        if self.final:
            if expected_offset != self.bundle_size:
                raise FormatError(
                    f"chunk lengths add up to {expected_offset}, not the bundle size {self.bundle_size}")
            if self.bundle_blake3 is None and self.encryption is None:
                raise FormatError("final index carries no whole-bundle digest")


def _chunks_in_place(items: list[Any], strict: bool) -> list[Chunk]:
    """Each parsed map replaced by its Chunk as it is checked, so the two never all coexist."""
    for position, item in enumerate(items):
        if not isinstance(item, Chunk):   # from_bytes may have made it already
            items[position] = Chunk.from_dict(item, strict)
    return items


def _chunk_early(item: Any, head: dict[str, Any]) -> Any:
    """A chunk map as it is parsed: its Chunk when the magic and version read so far say how.

    Otherwise (fields in an unusual order) it stays a map that ``from_dict`` checks.
    """
    version = head.get("version")
    if (head.get("magic") == MAGIC and isinstance(version, list) and len(version) == 2
            and all(type(v) is int for v in version) and version[0] == FORMAT_MAJOR):
        return Chunk.from_dict(item, version[1] <= FORMAT_MINOR)
    return item
