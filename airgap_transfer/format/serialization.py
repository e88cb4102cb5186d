"""The one msgpack wrapper for everything read from or written to a drive.

Drive content is hostile input: the bytes are capped before parsing, strings
must be valid UTF-8 (``raw=False``), buffers are bounded, and a map with a
repeated key is refused, so two readers can never disagree about what a signed
document says.
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

import msgpack

from airgap_transfer import limits
from airgap_transfer.errors import FormatError

_TOO_BIG = "airgap-transfer never writes one this large: it is damaged or not ours; use another copy (another drive's)"
_UNREADABLE = "the drive may be failing; use another copy (another drive's)"

def _pairs_to_dict(pairs: list[tuple[Any, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if not isinstance(key, str):
            raise FormatError(f"map key {key!r} is not a string")
        if key in result:
            raise FormatError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _check_depth(root: Any, start: int = 0) -> None:
    # Iterative so that a hostile 1000-level document cannot hit Python's recursion limit.
    stack = [(root, start)]
    while stack:
        value, depth = stack.pop()
        if depth > limits.MAX_DEPTH:
            raise FormatError(f"nesting deeper than {limits.MAX_DEPTH} levels")
        if isinstance(value, dict):
            stack.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)


def dumps(document: dict[str, Any]) -> bytes:
    """Serialize deterministically (insertion order of the dicts we build)."""
    return msgpack.packb(document, use_bin_type=True, strict_types=False)


def dump_pieces_with_list(document: dict[str, Any], key: str, items: Iterable[Any], count: int) -> Iterator[bytes]:
    """``dumps(document)`` with ``document[key]`` being the ``count`` items, as a stream of pieces.

    The same bytes as packing the whole document at once, without holding
    every item's map (an index of 10^5 chunks) or the bytes themselves.
    """
    packer = msgpack.Packer(use_bin_type=True, strict_types=False)
    yield packer.pack_map_header(len(document))
    for name, value in document.items():
        yield packer.pack(name)
        if name != key:
            yield packer.pack(value)
            continue
        yield packer.pack_array_header(count)
        packed = 0
        for item in items:
            yield packer.pack(item)
            packed += 1
        if packed != count:
            raise ValueError(f"{key}: {packed} items packed, {count} announced")


_MAP_TYPES = frozenset([*range(0x80, 0x90), 0xDE, 0xDF])
_ARRAY_TYPES = frozenset([*range(0x90, 0xA0), 0xDC, 0xDD])

# (key, convert, most): the list under ``key`` in the top-level map is parsed an
# item at a time and each item replaced by ``convert(item, fields parsed so
# far)``; a list of more than ``most`` items is left unconverted, for the
# caller's own check to refuse with its own message.
Stream = tuple[str, Callable[[Any, dict[str, Any]], Any], int]


def loads(data: bytes | IO[bytes], *, what: str = "document", limit: int = limits.MAX_DOCUMENT_BYTES,
          stream: Stream | None = None) -> dict[str, Any]:
    """Parse one msgpack map of at most ``limit`` bytes; FormatError otherwise.

    ``data`` is the bytes, or a seekable file of them (an index of 10^5 chunks
    is parsed from a private copy rather than held in memory beside what it
    becomes).  With ``stream``, one list of the map is converted item by item
    as it is parsed (an index's 10^5 chunk maps never all exist at once);
    every other rule is the same.
    """
    source = _Source(data)
    if source.size > limit:
        raise FormatError(f"{what} is {source.size} bytes, over the {limit}-byte limit",
                          hint=_TOO_BIG)
    if not source.size:
        raise FormatError(f"{what} is empty")
    unpacker = msgpack.Unpacker(
        source.reader,   # read in pieces: feeding the whole would copy it (26 MB at 10^5 chunks)
        raw=False,
        max_buffer_size=limit,
        object_pairs_hook=_pairs_to_dict,
        strict_map_key=True,
        use_list=True,
        max_bin_len=limit,
        max_str_len=limit,
        max_array_len=limits.MAX_ARRAY_LEN,
        max_map_len=limits.MAX_MAP_LEN,
        max_ext_len=0,
    )
    try:
        document = unpacker.unpack() if stream is None else _unpack_streamed(unpacker, source, stream)
        leftover = unpacker.tell() != source.size
    except FormatError as exc:
        raise FormatError(f"{what}: {exc.detail}") from None
    except msgpack.OutOfData:
        raise FormatError(f"{what} is truncated") from None
    except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError,
            msgpack.StackError, UnicodeDecodeError, RecursionError) as exc:
        raise FormatError(f"{what} is not valid msgpack ({type(exc).__name__})") from None
    if leftover:
        raise FormatError(f"{what} has trailing bytes after its end")
    if not isinstance(document, dict):
        raise FormatError(f"{what} is not a map")
    if stream is None:
        _check_depth(document)
    return document


class _Source:
    """What ``loads`` reads: bytes, or a seekable file of them (both as a reader for the Unpacker)."""

    def __init__(self, data: bytes | IO[bytes]) -> None:
        if isinstance(data, bytes | bytearray):
            self.data: bytes | None = bytes(data)
            self.reader: IO[bytes] = io.BytesIO(self.data)
            self.size = len(self.data)
        else:
            self.data, self.reader = None, data
            self.size = data.seek(0, os.SEEK_END)
            data.seek(0)

    def byte_at(self, position: int) -> int:
        """The byte at ``position`` without moving the Unpacker's reader (a file is read there and back)."""
        if position >= self.size:
            raise msgpack.OutOfData()
        if self.data is not None:
            return self.data[position]
        resume = self.reader.tell()
        try:
            self.reader.seek(position)
            byte = self.reader.read(1)
        finally:
            self.reader.seek(resume)
        if not byte:
            raise msgpack.OutOfData()
        return byte[0]


def _next_type(unpacker: msgpack.Unpacker, source: _Source) -> int:
    return source.byte_at(unpacker.tell())


def _unpack_streamed(unpacker: msgpack.Unpacker, data: _Source, stream: Stream) -> Any:
    list_key, convert, most = stream
    if _next_type(unpacker, data) not in _MAP_TYPES:
        return unpacker.unpack()   # not a map: refused by the caller
    document: dict[str, Any] = {}
    for _ in range(unpacker.read_map_header()):
        key = unpacker.unpack()
        if not isinstance(key, str):
            raise FormatError(f"map key {key!r} is not a string")
        if key in document:
            raise FormatError(f"duplicate key {key!r}")
        if key == list_key and _next_type(unpacker, data) in _ARRAY_TYPES:
            count = unpacker.read_array_header()
            if count > limits.MAX_ARRAY_LEN:
                raise FormatError(f"{key} holds {count} items, over {limits.MAX_ARRAY_LEN}")
            items = []
            for _ in range(count):
                item = unpacker.unpack()
                _check_depth(item, 2)
                items.append(convert(item, document) if count <= most else item)
            document[key] = items
        else:
            value = unpacker.unpack()
            _check_depth(value, 1)
            document[key] = value
    return document


def read_bounded(path: str | os.PathLike[str], limit: int = limits.MAX_DOCUMENT_BYTES, *, what: str = "file") -> bytes:
    """Read a regular file of at most ``limit`` bytes, never following a symlink."""
    fd = _open_regular(path, what)
    try:
        size = os.fstat(fd).st_size
        with os.fdopen(fd, "rb", closefd=False) as handle:
            # Ask for what the file holds, not the limit: read(n) allocates n bytes first.
            data = handle.read(min(size, limit) + 1)
            if size < len(data) <= limit:   # it grew since fstat
                data += handle.read(limit + 1 - len(data))
    except OSError as exc:  # a failing drive: this copy is unusable, another may not be
        raise FormatError(f"cannot read {what} {path}: {exc.strerror}", hint=_UNREADABLE) from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise FormatError(f"{what} {path} is over the {limit}-byte limit",
                          hint=_TOO_BIG)
    return data


def read_pieces(path: str | os.PathLike[str], limit: int, *, what: str = "file",
                piece: int = 2**20) -> Iterator[bytes]:
    """``read_bounded`` a piece at a time, for hashing or copying a large file without holding it."""
    fd = _open_regular(path, what)
    try:
        total = 0
        while True:
            try:
                data = os.read(fd, piece)
            except OSError as exc:  # a failing drive: this copy is unusable, another may not be
                raise FormatError(f"cannot read {what} {path}: {exc.strerror}", hint=_UNREADABLE) from None
            if not data:
                return
            total += len(data)
            if total > limit:
                raise FormatError(f"{what} {path} is over the {limit}-byte limit",
                          hint=_TOO_BIG)
            yield data
    finally:
        os.close(fd)


def _open_regular(path: str | os.PathLike[str], what: str) -> int:
    """A read-only descriptor of a regular file: never a symlink, and a FIFO does not block the open."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise FormatError(f"cannot open {what} {path}: {exc.strerror}") from None
    try:
        regular = stat.S_ISREG(os.fstat(fd).st_mode)
    except OSError as exc:
        os.close(fd)
        raise FormatError(f"cannot read {what} {path}: {exc.strerror}", hint=_UNREADABLE) from None
    if not regular:
        os.close(fd)
        raise FormatError(f"{what} {path} is not a regular file")
    return fd
