"""The one msgpack wrapper for everything read from or written to a drive.

Drive content is hostile input: the bytes are capped before parsing, strings
must be valid UTF-8 (``raw=False``), buffers are bounded, and a map with a
repeated key is refused, so two readers can never disagree about what a signed
document says.
"""

from __future__ import annotations

import os
import stat
from typing import Any

import msgpack

from airgap_transfer import limits
from airgap_transfer.errors import FormatError


def _pairs_to_dict(pairs: list[tuple[Any, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if not isinstance(key, str):
            raise FormatError(f"map key {key!r} is not a string")
        if key in result:
            raise FormatError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _check_depth(root: Any) -> None:
    # Iterative so that a hostile 1000-level document cannot hit Python's recursion limit.
    stack = [(root, 0)]
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


def loads(data: bytes, *, what: str = "document", limit: int = limits.MAX_DOCUMENT_BYTES) -> dict[str, Any]:
    """Parse one msgpack map of at most ``limit`` bytes; FormatError otherwise."""
    if len(data) > limit:
        raise FormatError(f"{what} is {len(data)} bytes, over the {limit}-byte limit")
    if not data:
        raise FormatError(f"{what} is empty")
    unpacker = msgpack.Unpacker(
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
        unpacker.feed(data)
        document = unpacker.unpack()
        leftover = unpacker.tell() != len(data)
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
    _check_depth(document)
    return document


def read_bounded(path: str | os.PathLike[str], limit: int = limits.MAX_DOCUMENT_BYTES, *, what: str = "file") -> bytes:
    """Read a regular file of at most ``limit`` bytes, never following a symlink."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise FormatError(f"cannot open {what} {path}: {exc.strerror}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise FormatError(f"{what} {path} is not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(limit + 1)
    except OSError as exc:  # a failing drive: this copy is unusable, another may not be
        raise FormatError(f"cannot read {what} {path}: {exc.strerror}") from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise FormatError(f"{what} {path} is over the {limit}-byte limit")
    return data
