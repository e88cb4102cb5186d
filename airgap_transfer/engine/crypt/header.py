"""The age v1 text header: a bounded parser, an emitter, and its HMAC.

    age-encryption.org/v1
    -> X25519 <32-byte share, base64>
    <wrapped file key, base64, 64 columns a line, last line shorter (may be empty)>
    --- <HMAC-SHA256 of everything up to and including "---", base64>

Base64 is the standard alphabet without padding, and only the canonical
encoding is accepted (unused bits zero), so one header has exactly one byte
form and the MAC covers the bytes as read.  A header is read at most
``MAX_HEADER_BYTES``; a drive cannot make us read or keep more.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from airgap_transfer import limits

VERSION_LINE = b"age-encryption.org/v1"
END_PREFIX = b"---"
COLUMNS = 64
MAX_HEADER_BYTES = limits.MAX_AGE_HEADER_BYTES
MAX_STANZAS = limits.MAX_AGE_STANZAS
MAC_SIZE = 32
_B64 = re.compile(rb"^[A-Za-z0-9+/]*$")


class HeaderError(ValueError):
    """The bytes are not a well-formed age v1 header; the message says where."""


@dataclass
class Stanza:
    type: str
    args: list[str]
    body: bytes

    def to_bytes(self) -> bytes:
        line = b"-> " + " ".join([self.type, *self.args]).encode("ascii") + b"\n"
        text = b64encode(self.body)
        lines = [text[i:i + COLUMNS] for i in range(0, len(text), COLUMNS)]
        if not lines or len(lines[-1]) == COLUMNS:
            lines.append(b"")  # the last body line is always shorter than a full one
        return line + b"".join(part + b"\n" for part in lines)


@dataclass
class Header:
    stanzas: list[Stanza]
    mac: bytes
    signed_part: bytes  # the header up to and including "---": what the MAC covers

    @property
    def size(self) -> int:
        """Bytes the header takes in the file (through the MAC line's newline)."""
        return len(self.signed_part) + 1 + len(b64encode(self.mac)) + 1


def b64encode(data: bytes) -> bytes:
    return base64.b64encode(data).rstrip(b"=")


def b64decode(text: bytes, what: str) -> bytes:
    """Canonical unpadded standard base64, or HeaderError."""
    if not _B64.match(text) or len(text) % 4 == 1:
        raise HeaderError(f"{what} is not unpadded base64")
    try:
        data = base64.b64decode(text + b"=" * (-len(text) % 4), validate=True)
    except binascii.Error:
        raise HeaderError(f"{what} is not valid base64") from None
    if b64encode(data) != text:
        raise HeaderError(f"{what} is not canonical base64")
    return data


def mac_key(file_key: bytes) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt=None, info=b"header").derive(file_key)


def compute_mac(file_key: bytes, signed_part: bytes) -> bytes:
    return hmac.new(mac_key(file_key), signed_part, "sha256").digest()


def emit(stanzas: list[Stanza], file_key: bytes) -> bytes:
    signed = VERSION_LINE + b"\n" + b"".join(s.to_bytes() for s in stanzas) + END_PREFIX
    return signed + b" " + b64encode(compute_mac(file_key, signed)) + b"\n"


def verify_mac(header: Header, file_key: bytes) -> bool:
    return hmac.compare_digest(compute_mac(file_key, header.signed_part), header.mac)


def _argument(text: bytes, where: str) -> str:
    if not text or any(not 0x21 <= byte <= 0x7E for byte in text):
        raise HeaderError(f"{where}: an argument is empty or not printable ASCII")
    return text.decode("ascii")


def parse(data: bytes) -> Header:
    """Parse a complete header (``data`` ends right after the MAC line's newline)."""
    lines = data.split(b"\n")
    if lines[-1] != b"" or len(lines) < 4:
        raise HeaderError("header is truncated")
    lines.pop()
    if lines[0] != VERSION_LINE:
        raise HeaderError("not an age v1 file (first line is not age-encryption.org/v1)")
    stanzas: list[Stanza] = []
    position = 1
    while True:
        if position >= len(lines):
            raise HeaderError("header has no end line")
        line = lines[position]
        if line.startswith(b"---"):
            break
        if not line.startswith(b"-> "):
            raise HeaderError(f"line {position + 1}: expected a stanza ('-> ') or the end line")
        if len(stanzas) >= MAX_STANZAS:
            raise HeaderError(f"more than {MAX_STANZAS} stanzas")
        args = [_argument(part, f"line {position + 1}") for part in line[3:].split(b" ")]
        body = bytearray()
        while True:
            position += 1
            if position >= len(lines):
                raise HeaderError("stanza body is not terminated")
            body_line = lines[position]
            if len(body_line) > COLUMNS:
                raise HeaderError(f"line {position + 1}: body line longer than {COLUMNS} columns")
            body += b64decode(body_line, f"line {position + 1}")
            if len(body_line) < COLUMNS:
                break
        stanzas.append(Stanza(args[0], args[1:], bytes(body)))
        position += 1
    if not stanzas:
        raise HeaderError("header has no recipient stanza")
    end = lines[position]
    if position != len(lines) - 1 or not end.startswith(b"--- "):
        raise HeaderError("malformed end line")
    mac = b64decode(end[4:], "header MAC")
    if len(mac) != MAC_SIZE:
        raise HeaderError("header MAC is not 32 bytes")
    signed_part = data[:len(data) - len(end) - 1 + len(END_PREFIX)]
    return Header(stanzas, mac, signed_part)


def read(read_some: Callable[[int], bytes], cap: int) -> tuple[Header, bytes]:
    """Read the header through ``read_some(n) -> bytes`` (at most ``cap`` bytes in all).

    Returns (header, payload bytes read past it).
    """
    data = bytearray()
    limit = min(cap, MAX_HEADER_BYTES + 4096)
    search_from = 0
    while True:
        end = data.find(b"\n---", search_from)
        if end >= 0:
            newline = data.find(b"\n", end + 1)
            if newline >= 0:
                cut = newline + 1
                return parse(bytes(data[:cut])), bytes(data[cut:])
            search_from = end  # the MAC line is not complete yet
        else:
            search_from = max(0, len(data) - 3)
        if len(data) >= limit:
            raise HeaderError(f"no header end within {min(cap, MAX_HEADER_BYTES)} bytes")
        more = read_some(min(4096, limit - len(data)))
        if not more:
            raise HeaderError("file ends inside the age header")
        data += more
        if len(data) > MAX_HEADER_BYTES and data.find(b"\n---") < 0:
            raise HeaderError(f"age header longer than {MAX_HEADER_BYTES} bytes")
