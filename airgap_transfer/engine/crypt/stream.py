"""age's STREAM payload: ChaCha20-Poly1305 over 64 KiB chunks, counter nonces, a last-chunk flag.

    payload = nonce (16 random bytes) || chunk_0 || ... || chunk_n
    key     = HKDF-SHA256(ikm=file key, salt=nonce, info="payload")
    chunk_i = ChaCha20-Poly1305(key, nonce=i as 11 bytes big-endian || last flag, plaintext_i)

Every chunk but the last holds exactly 64 KiB of plaintext; the last holds
1 to 64 KiB (0 only when the whole plaintext is empty) and has flag 0x01.
Truncation, reordering, an empty last chunk after others, and trailing bytes
all fail authentication or are refused.  Both directions work in place over
reused buffers (``encrypt_into``/``decrypt_into``): no allocation per chunk.
"""

from __future__ import annotations

from collections.abc import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

CHUNK = 64 * 2**10
TAG = 16
SEALED_CHUNK = CHUNK + TAG
NONCE_SIZE = 16
BATCH = 32  # chunks encrypted or decrypted per write/read: 2 MiB, the pipeline's buffer size
MAX_COUNTER = 2**88 - 1


class PayloadError(ValueError):
    """The payload is truncated, malformed, or fails authentication; the message says which."""


def payload_key(file_key: bytes, nonce: bytes) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt=nonce, info=b"payload").derive(file_key)


def _nonce(counter: int, last: bool) -> bytes:
    if counter > MAX_COUNTER:
        raise PayloadError("payload longer than STREAM's counter allows")
    return counter.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


def sealed_size(plain: int) -> int:
    """Payload bytes after the nonce for ``plain`` bytes of plaintext."""
    chunks = max(1, -(-plain // CHUNK))
    return plain + TAG * chunks


class StreamWriter:
    """Encrypts what ``write`` is given; ``emit`` receives ciphertext views (valid during the call)."""

    def __init__(self, key: bytes, emit: Callable[[memoryview], None]) -> None:
        self.aead = ChaCha20Poly1305(key)
        self.emit = emit
        self.pending = memoryview(bytearray(CHUNK))
        self.pending_len = 0
        self.out = memoryview(bytearray(BATCH * SEALED_CHUNK))
        self.out_len = 0
        self.counter = 0

    def write(self, data: memoryview | bytes) -> None:
        view = memoryview(data).cast("B")
        while view:
            if self.pending_len == CHUNK:  # more follows, so the held chunk is not the last
                self._seal(self.pending, last=False)
                self.pending_len = 0
            if self.pending_len == 0 and len(view) > CHUNK:  # straight from the caller's buffer
                self._seal(view[:CHUNK], last=False)
                view = view[CHUNK:]
                continue
            take = min(CHUNK - self.pending_len, len(view))
            self.pending[self.pending_len:self.pending_len + take] = view[:take]
            self.pending_len += take
            view = view[take:]

    def finish(self) -> None:
        self._seal(self.pending[:self.pending_len], last=True)
        self._flush()

    def _seal(self, plain: memoryview, last: bool) -> None:
        size = len(plain) + TAG
        if self.out_len + size > len(self.out):
            self._flush()
        self.aead.encrypt_into(_nonce(self.counter, last), plain, None, self.out[self.out_len:self.out_len + size])
        self.out_len += size
        self.counter += 1

    def _flush(self) -> None:
        if self.out_len:
            self.emit(self.out[:self.out_len])
            self.out_len = 0


class StreamReader:
    """Decrypts a payload read through ``read_into(view) -> count``; serves plaintext by ``readinto``."""

    def __init__(self, key: bytes, read_into: Callable[[memoryview], int], initial: bytes = b"") -> None:
        self.aead = ChaCha20Poly1305(key)
        self.read_into = read_into
        self.buffer = memoryview(bytearray(BATCH * SEALED_CHUNK + SEALED_CHUNK))
        self.buffer[:len(initial)] = initial
        self.start, self.end = 0, len(initial)
        self.eof = False
        self.plain = memoryview(bytearray(CHUNK))
        self.plain_start = self.plain_end = 0
        self.counter = 0
        self.done = False

    def readinto(self, view: memoryview) -> int:
        """Fill ``view`` with plaintext; 0 only at the authenticated end."""
        produced = 0
        if self.plain_start < self.plain_end:
            take = min(len(view), self.plain_end - self.plain_start)
            view[:take] = self.plain[self.plain_start:self.plain_start + take]
            self.plain_start += take
            produced = take
        while (not self.done or produced == 0) and (len(view) - produced >= CHUNK or produced == 0):
            room = view[produced:produced + CHUNK] if len(view) - produced >= CHUNK else None
            got = self._open_next(room)
            if room is None:
                take = min(len(view) - produced, got)
                view[produced:produced + take] = self.plain[:take]
                self.plain_start, self.plain_end = take, got
                produced += take
                break
            produced += got
            if got == 0:
                break
        return produced

    def _open_next(self, room: memoryview | None) -> int:
        """Decrypt the next chunk into ``room`` (or the own plaintext buffer); its plaintext length.

        As age's reference reader does: a full-size chunk is tried as a middle
        chunk first and then as the last; a chunk opened as the last must be
        followed by nothing (checked on the next call, after its plaintext was
        released, so the released bytes are exactly the authenticated ones).
        """
        self._fill()
        available = self.end - self.start
        if self.done:
            if available:
                raise PayloadError("trailing data after the final chunk")
            return 0
        if available == 0:
            raise PayloadError("payload is empty" if self.counter == 0 else "payload ends without its final chunk")
        if available < TAG:
            raise PayloadError("payload truncated inside a chunk")
        size = min(available, SEALED_CHUNK)
        if size == TAG and self.counter > 0:
            raise PayloadError("final chunk is empty")
        target = (room if room is not None else self.plain)[:size - TAG]
        sealed = self.buffer[self.start:self.start + size]
        last = size < SEALED_CHUNK
        try:
            self.aead.decrypt_into(_nonce(self.counter, last), sealed, None, target)
        except InvalidTag:
            if last:
                raise PayloadError(f"payload chunk {self.counter} fails authentication") from None
            try:  # a full-size chunk may be the last one
                self.aead.decrypt_into(_nonce(self.counter, True), sealed, None, target)
            except InvalidTag:
                raise PayloadError(f"payload chunk {self.counter} fails authentication") from None
            last = True
        self.start += size
        self.counter += 1
        self.done = last
        return size - TAG

    def _fill(self) -> None:
        """Buffer more than one sealed chunk, or everything up to the end of the file."""
        if self.end - self.start > SEALED_CHUNK or self.eof:
            return
        if self.start:
            left = self.end - self.start
            self.buffer[:left] = self.buffer[self.start:self.end]
            self.start, self.end = 0, left
        while self.end < len(self.buffer):
            got = self.read_into(self.buffer[self.end:])
            if not got:
                self.eof = True
                return
            self.end += got
