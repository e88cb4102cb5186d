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
    cleaned = _cut_keeping_extension(cleaned)
    if not cleaned:
        raise UsageError(f"bundle name {printable(name)} gives no usable file name",
                         hint="pass an explicit name with --name or -o")
    return cleaned


def _cut_keeping_extension(name: str) -> str:
    """``name`` cut to MAX_NAME_BYTES of UTF-8, keeping its extension (``.bin``, ``.tar.gz``) if it has one."""
    if len(name.encode("utf-8")) <= limits.MAX_NAME_BYTES:
        return name
    suffix = ""
    stem, dot, last = name.rpartition(".")
    if dot and stem and 0 < len(last.encode("utf-8")) <= limits.MAX_EXTENSION_BYTES and " " not in last:
        suffix = "." + last
        inner, dot2, before = stem.rpartition(".")
        if dot2 and inner and before in ("tar", "cpio"):
            stem, suffix = inner, f".{before}{suffix}"
    keep = limits.MAX_NAME_BYTES - len(suffix.encode("utf-8"))
    stem_part = name[:len(name) - len(suffix)] if suffix else name
    cut = stem_part.encode("utf-8")[:keep].decode("utf-8", errors="ignore").strip()
    return (cut + suffix) if cut else suffix.lstrip(".")


def renamed_because(original: str, safe: str) -> str | None:
    """Why the bundle is recorded as ``safe`` rather than ``original``, or None when they are the same."""
    if original == safe:
        return None
    reasons = []
    if any(ch in _FORBIDDEN or unicodedata.category(ch)[0] == "C" for ch in original):
        reasons.append("characters that FAT, exFAT or Windows refuse became _")
    if original.lstrip().startswith("."):
        reasons.append("leading dots dropped (never a hidden file)")
    if len(original.encode("utf-8")) > limits.MAX_NAME_BYTES:
        reasons.append(f"cut to {limits.MAX_NAME_BYTES} bytes, extension kept")
    return "; ".join(reasons) or "normalised"


def count_of(n: int, noun: str) -> str:
    """``1 chunk``, ``3 chunks``: messages never say "1 chunks"."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


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
