"""Parse and format byte sizes the way drive vendors and operators write them.

``16GB`` is 16×10^9 (vendors' units), ``16GiB`` is 16×2^30, a bare number is
bytes.  ``auto`` is handled by the caller; this module only does numbers.
"""

from __future__ import annotations

import re

from airgap_transfer import limits
from airgap_transfer.errors import UsageError

_UNITS = {
    "": 1, "b": 1,
    "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6,
    "g": 10**9, "gb": 10**9, "t": 10**12, "tb": 10**12,
    "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40,
}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_size(text: str) -> int:
    """Return the number of bytes ``text`` names; raise UsageError if it names none."""
    match = _SIZE_RE.match(text or "")
    unit = match.group(2).lower() if match else None
    if not match or unit not in _UNITS:
        raise UsageError(
            f"cannot read size {text!r}",
            hint="write e.g. 16GB (10^9 units), 16GiB (2^30 units) or a plain number of bytes",
        )
    number: str = match.group(1)
    value: int
    if "." in number:
        whole, frac = number.split(".")
        value = int(whole) * _UNITS[unit] + int(frac) * _UNITS[unit] // 10 ** len(frac)
    else:
        value = int(number) * _UNITS[unit]
    if value <= 0 or value > limits.MAX_SIZE_ARGUMENT:
        raise UsageError(f"size {text!r} is out of range", hint="give a positive size below 4 EiB")
    return value


def parse_size_or_auto(text: str) -> int | None:
    """``auto`` gives None (size chosen per drive); anything else as parse_size."""
    if text.strip().lower() == "auto":
        return None
    return parse_size(text)
