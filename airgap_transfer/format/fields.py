"""Typed, bounded access to a map read from a drive (the index and its parts).

Every field is taken by name with its type and bounds; ``done`` rejects keys
nobody asked for, unless a newer minor format version allows them.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from airgap_transfer import limits
from airgap_transfer.errors import FormatError

# UTC to the second, as pack writes it; the replay rule compares these dates.
CREATED_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
CREATED_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


class Fields:
    """Typed, bounded access to a dict from a drive; ``done`` rejects unknown keys."""

    def __init__(self, raw: Any, what: str, strict: bool = True) -> None:
        if not isinstance(raw, dict):
            raise FormatError(f"{what} is not a map")
        self.raw: dict[Any, Any] = raw
        self.what, self.strict = what, strict
        self.seen: set[str] = set()

    def take(self, key: str) -> Any:
        if key not in self.raw:
            raise FormatError(f"{self.what} lacks field {key!r}")
        self.seen.add(key)
        return self.raw[key]

    def integer(self, key: str, low: int, high: int) -> int:
        value = self.take(key)
        if type(value) is not int or not low <= value <= high:
            raise FormatError(f"{self.what} field {key!r} is not an integer in [{low}, {high}]")
        return value

    def boolean(self, key: str) -> bool:
        value = self.take(key)
        if type(value) is not bool:
            raise FormatError(f"{self.what} field {key!r} is not a boolean")
        return value

    def text(self, key: str, limit: int) -> str:
        value = self.take(key)
        if not isinstance(value, str) or not value or len(value) > limit:
            raise FormatError(f"{self.what} field {key!r} is not a string of 1 to {limit} characters")
        return value

    def optional_text(self, key: str, limit: int) -> str | None:
        return None if self.raw.get(key, None) is None and self._mark(key) else self.text(key, limit)

    def match(self, key: str, pattern: re.Pattern[str]) -> str:
        value = self.text(key, 256)
        if not pattern.match(value):
            raise FormatError(f"{self.what} field {key!r} is malformed")
        return value

    def created(self, key: str) -> str:
        value = self.match(key, CREATED_RE)
        try:
            datetime.strptime(value, CREATED_FORMAT)
        except ValueError:
            raise FormatError(f"{self.what} field {key!r} is not a real date") from None
        return value

    def hex256(self, key: str) -> str:
        return self.match(key, limits.HEX256_RE)

    def optional_hex256(self, key: str) -> str | None:
        return None if self.raw.get(key, None) is None and self._mark(key) else self.hex256(key)

    def choice(self, key: str, allowed: tuple[str, ...]) -> str:
        value = self.take(key)
        if not isinstance(value, str) or value not in allowed:
            raise FormatError(f"{self.what} field {key!r} is not one of {', '.join(allowed)}")
        return value

    def _mark(self, key: str) -> bool:
        self.seen.add(key)
        return True

    def done(self) -> None:
        unknown = set(self.raw) - self.seen
        if unknown and self.strict:
            raise FormatError(f"{self.what} has unknown field(s) {', '.join(sorted(map(str, unknown)))}")
