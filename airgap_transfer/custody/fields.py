"""The type of every field a custody event may carry, checked when a log is parsed.

A log read from a drive is hostile input.  Beyond valid JSON, each field must
have the type the report code relies on: ``"drives": 5`` or ``"chunks": "x"``
is refused at parse time (exit 4), never met later as an internal error.  An
unknown field is refused too: version 1 events carry exactly these.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from airgap_transfer import limits
from airgap_transfer.limits import HEX256_RE, TRANSFER_ID_RE

TYPE_RE = re.compile(r"[a-z][a-z0-9-]{0,39}")
DIGEST_NAME_RE = re.compile(r"[a-z0-9-]{1,16}")

Check = Callable[[Any], bool]


def _text(value: Any) -> bool:
    return type(value) is str


def _int(value: Any) -> bool:
    return type(value) is int


def _scalar(value: Any) -> bool:
    return type(value) in (str, int, bool)


def _matches(pattern: re.Pattern[str]) -> Check:
    return lambda value: type(value) is str and pattern.fullmatch(value) is not None


def _record(allowed: set[str] | None, value_check: Check) -> Check:
    """A JSON object with (only the ``allowed``) string keys, each value passing ``value_check``."""
    def check(value: Any) -> bool:
        return (type(value) is dict and (allowed is None or set(value) <= allowed)
                and all(type(k) is str and value_check(v) for k, v in value.items()))
    return check


def _list(item: Check, cap: int) -> Check:
    return lambda value: type(value) is list and len(value) <= cap and all(item(v) for v in value)


def _json(value: Any, depth: int = 0) -> bool:
    """Any JSON value without floats, nested at most MAX_DETAILS_DEPTH deep (``details`` is free-form)."""
    if depth > limits.MAX_DETAILS_DEPTH:
        return False
    if value is None or type(value) in (str, int, bool):
        return True
    if type(value) is list:
        return all(_json(v, depth + 1) for v in value)
    if type(value) is dict:
        return all(type(k) is str and _json(v, depth + 1) for k, v in value.items())
    return False


_MEDIA = _record(None, _scalar)

REQUIRED: dict[str, Check] = {
    "v": _int, "seq": _int, "prev": _matches(HEX256_RE), "type": _matches(TYPE_RE), "time": _text,
    "transfer_id": _matches(TRANSFER_ID_RE), "result": _text,
}
OPTIONAL: dict[str, Check] = {
    "local_time": _text, "tz": _text, "host": _text, "tool": _text, "bundle": _text, "size": _int,
    "signer": _text,
    "actor": _record({"user", "operator", "title"}, _text),
    "chunks": _list(_int, limits.MAX_EVENT_CHUNKS),
    "chunk_ranges": _list(lambda r: type(r) is list and len(r) == 2 and all(type(v) is int for v in r)
                          and 1 <= r[0] <= r[1], limits.CUSTODY_MAX_RANGES),
    "digests": _record(None, _text),
    "media": _MEDIA,
    "drives": _list(_MEDIA, limits.MAX_EVENT_DRIVES),
    "handover": _record({"from", "to", "seal", "purpose", "location"}, _text),
    "details": lambda value: type(value) is dict and _json(value),
}


def problem(event: dict[str, Any]) -> str | None:
    """What is wrong with the fields of ``event`` (parsed JSON), or None."""
    for key, check in REQUIRED.items():
        if key not in event or not check(event[key]):
            return f"lacks a valid {key!r} field"
    for key, value in event.items():
        if key in REQUIRED:
            continue
        optional = OPTIONAL.get(key)
        if optional is None:
            return f"has an unknown field {key[:40]!r}"
        if not optional(value):
            return f"has a {key!r} field of the wrong type"
    if not all(DIGEST_NAME_RE.fullmatch(name) and HEX256_RE.fullmatch(v)
               for name, v in event.get("digests", {}).items()):
        return "has a malformed digest"
    return None
