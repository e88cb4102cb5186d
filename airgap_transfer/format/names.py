"""Names from a drive become paths and terminal text only after sanitising."""

from __future__ import annotations

import unicodedata

from airgap_transfer import limits
from airgap_transfer.errors import UsageError

_FORBIDDEN = set('/\\:*?"<>|')


def sanitize_bundle_name(name: str) -> str:
    """A single safe path component derived from ``name``, or UsageError.

    Separators, control characters and characters Windows/FAT refuse become
    ``_``; leading dots are stripped so the result is never ``.``, ``..`` or
    hidden; the length is capped in UTF-8 bytes.
    """
    cleaned = "".join(
        "_" if ch in _FORBIDDEN or unicodedata.category(ch)[0] == "C" else ch
        for ch in unicodedata.normalize("NFC", name)
    ).strip().lstrip(".")
    encoded = cleaned.encode("utf-8")[:limits.MAX_NAME_BYTES]
    cleaned = encoded.decode("utf-8", errors="ignore").strip()
    if not cleaned:
        raise UsageError(f"bundle name {printable(name)} gives no usable file name",
                         hint="pass an explicit name with --name or -o")
    return cleaned


def printable(text: str, limit: int = 200) -> str:
    """Untrusted text made safe for a terminal: control characters escaped, length capped."""
    escaped = "".join(
        ch if unicodedata.category(ch)[0] != "C" else repr(ch)[1:-1] for ch in text[:limit])
    if len(text) > limit:
        escaped += "…"
    return repr(escaped) if escaped != text else text


def escape_controls(text: str) -> str:
    """Every control character as a visible escape, nothing else changed (for whole lines).

    The last line of defence: paths found on a drive can reach a message
    unescaped, and a terminal must never receive their escape sequences.
    """
    if text.isprintable():
        return text
    return "".join(ch if unicodedata.category(ch)[0] != "C" else repr(ch)[1:-1] for ch in text)
