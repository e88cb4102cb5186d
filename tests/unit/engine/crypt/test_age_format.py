"""engine/crypt: age v1 written natively, checked against stock `age` both ways and by breaking it.

Each protective check (header MAC, payload MAC, STREAM's last-chunk flag and
counter, the recipient stanzas' rules, the bounded header parser) has a test
here that fails when that check is removed.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from airgap_transfer.engine.crypt import age, bech32, header, stream
from airgap_transfer.engine.crypt.keys import (
    KeyError_,
    ScryptIdentity,
    ScryptRecipient,
    X25519Identity,
    X25519Recipient,
    identity_file_text,
    parse_identities,
    parse_recipients,
)

SIZES = [0, 1, stream.CHUNK - 1, stream.CHUNK, stream.CHUNK + 1, 3 * stream.CHUNK, 3 * stream.CHUNK + 5]
needs_age = pytest.mark.skipif(not (shutil.which("age") and shutil.which("age-keygen")),
                               reason="needs stock age and age-keygen (apt: age)")


@pytest.fixture
def identity():
    return X25519Identity.generate()


def split(data: bytes) -> tuple[bytes, bytes]:
    """(header through the MAC line, the rest)."""
    end = data.index(b"\n---") + 1
    cut = data.index(b"\n", end) + 1
    return data[:cut], data[cut:]


# --- interop with stock age -------------------------------------------------------------

@needs_age
@pytest.mark.parametrize("size", SIZES)
def test_stock_age_decrypts_ours_and_we_decrypt_stock_age(tmp_path, identity, size):
    key = tmp_path / "key.txt"
    key.write_text(identity_file_text(identity, "2026-01-01T00:00:00Z"))
    plain = os.urandom(size)
    ours = tmp_path / "ours.age"
    ours.write_bytes(age.encrypt(plain, [identity.recipient]))
    assert len(ours.read_bytes()) == age.stored_size(size, [identity.recipient])
    out = subprocess.run(["age", "-d", "-i", str(key), str(ours)], capture_output=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout == plain
    theirs = subprocess.run(["age", "-e", "-r", str(identity.recipient)], input=plain, capture_output=True,
                            check=True).stdout
    assert age.decrypt(theirs, [identity], size) == plain


@needs_age
def test_keys_from_age_keygen_and_ours_agree(tmp_path):
    key = tmp_path / "key.txt"
    subprocess.run(["age-keygen", "-o", str(key)], capture_output=True, check=True)
    public = subprocess.run(["age-keygen", "-y", str(key)], capture_output=True, text=True, check=True).stdout.strip()
    [parsed] = parse_identities(key.read_text())
    assert str(parsed.recipient) == public
    assert str(X25519Recipient.parse(public)) == public
    ours = tmp_path / "ours.txt"
    ours.write_text(identity_file_text(X25519Identity.generate(), "now"))
    again = subprocess.run(["age-keygen", "-y", str(ours)], capture_output=True, text=True, check=True).stdout.strip()
    assert again == str(parse_identities(ours.read_text())[0].recipient)


@needs_age
def test_stock_age_decrypts_our_passphrase_file(tmp_path):
    pty = pytest.importorskip("pty")
    encrypted = tmp_path / "secret.age"
    encrypted.write_bytes(age.encrypt(b"the payload\n", [ScryptRecipient(b"correct horse", 10)]))
    out = _age_with_passphrase(pty, ["age", "-d", "-o", str(tmp_path / "plain"), str(encrypted)], b"correct horse")
    assert (tmp_path / "plain").read_bytes() == b"the payload\n", out


def _age_with_passphrase(pty, argv: list[str], passphrase: bytes) -> bytes:
    """age reads a passphrase only from a terminal: give it one."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(argv[0], argv)
    seen = b""
    try:
        while b"passphrase" not in seen.lower():
            seen += os.read(fd, 1024)
        os.write(fd, passphrase + b"\n")
        while True:
            try:
                chunk = os.read(fd, 1024)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.waitpid(pid, 0)
    return seen


# --- bech32 and key files ------------------------------------------------------------------

def test_bech32_round_trip_and_rejections(identity):
    text = str(identity.recipient)
    assert bech32.decode(text) == ("age", identity.recipient.public)
    flipped = text[:-1] + ("q" if text[-1] != "q" else "p")
    with pytest.raises(bech32.Bech32Error, match="checksum"):
        bech32.decode(flipped)
    with pytest.raises(bech32.Bech32Error, match="mixed case"):
        bech32.decode(text[:10] + text[10:].upper())
    with pytest.raises(bech32.Bech32Error, match="too long"):
        bech32.decode("age1" + "q" * 2000)


@pytest.mark.parametrize("line, message", [
    ("ssh-ed25519 AAAAC3Nza", "SSH key"),
    ("AGE-PLUGIN-YUBIKEY-1QQQ", "plugin"),
    ("AGE-SECRET-KEY-1QQQQ", "identity"),
    ("hello", "not an age"),
])
def test_identity_file_rejects_what_it_cannot_use(line, message):
    with pytest.raises(KeyError_, match=message):
        parse_identities(f"# comment\n\n{line}\n")


@pytest.mark.parametrize("line, message", [
    ("ssh-ed25519 AAAAC3Nza", "line 3: an SSH key"),
    ("AGE-PLUGIN-YUBIKEY-1QQQ", "line 3: an age plugin identity"),
    ("hello", "line 3: not an age X25519 key"),
    ("age1qqqq", "line 3: not an age recipient \\("),
])
def test_recipients_file_names_what_it_cannot_use(identity, line, message):
    with pytest.raises(KeyError_, match=message):
        parse_recipients(f"# team\n{identity.recipient}\n{line}\n")


def test_key_strings_are_one_case_and_of_their_own_kind(identity):
    recipient = str(identity.recipient)
    for text, parse, message in [
        (recipient.upper(), X25519Recipient.parse, r"not an age X25519 recipient \(age1…\)"),
        (str(identity).lower(), X25519Identity.parse, r"not an age X25519 identity \(AGE-SECRET-KEY-1…\)"),
        (str(identity), X25519Recipient.parse, "not an age X25519 recipient"),
        (recipient, X25519Identity.parse, "not an age X25519 identity"),
        (recipient[:-1] + ("q" if recipient[-1] != "q" else "p"), X25519Recipient.parse, "not an age recipient \\("),
    ]:
        with pytest.raises(KeyError_, match=message):
            parse(text)
    with pytest.raises(KeyError_, match="line 1: not an age X25519 key"):
        parse_recipients(f"{identity}\n")


def test_recipients_file_reads_comments_and_refuses_junk(identity):
    other = X25519Identity.generate().recipient
    assert parse_recipients(f"# team\n{identity.recipient}\n\n{other}\n") == [identity.recipient, other]
    with pytest.raises(KeyError_, match="line 2"):
        parse_recipients(f"{identity.recipient}\nage1notakey\n")
    with pytest.raises(KeyError_, match="no age1"):
        parse_recipients("# nothing\n")


# --- header: bounded parser, MAC -------------------------------------------------------------

def valid_header(identity) -> bytes:
    return split(age.encrypt(b"x", [identity.recipient]))[0]


@pytest.mark.parametrize("mutate, message", [
    (lambda h: h.replace(b"age-encryption.org/v1", b"age-encryption.org/v2"), "not an age v1"),
    (lambda h: h.replace(b"-> X25519 ", b"->  X25519 "), "empty"),
    (lambda h: h.replace(b"-> X25519 ", b"-> X25519\x01 "), "printable"),
    (lambda h: h.replace(b"\n---", b"\n-- "), "stanza"),
    (lambda h: h[:h.index(b"--- ") + 4] + b"AAAA\n", "32 bytes"),
    (lambda h: h[:h.index(b"--- ") + 4] + b"!!!!\n", "base64"),
    (lambda h: h.replace(b"\n---", b"\nA\n---", 1), "expected a stanza"),
    (lambda h: h.replace(b"-> X25519", b"-> X25519 " + b"a" * 10), None),  # still well-formed: caught later
])
def test_header_parser_refuses_malformed_headers(identity, mutate, message):
    data = mutate(valid_header(identity))
    if message is None:
        header.parse(data)
        return
    with pytest.raises(header.HeaderError, match=message):
        header.parse(data)


def test_header_parser_refuses_non_canonical_base64_and_long_lines(identity):
    data = valid_header(identity)
    lines = data.split(b"\n")
    body = lines[2]
    assert len(body) == 43
    last = header.b64encode(header.b64decode(body, "body"))[-1:]
    # 43 chars of base64 carry 2 spare bits: a different last character with the same bytes is non-canonical
    alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    twin = alphabet[alphabet.index(last) + 1:alphabet.index(last) + 2]
    lines[2] = body[:-1] + twin
    with pytest.raises(header.HeaderError, match="canonical"):
        header.parse(b"\n".join(lines))
    lines[2] = b"A" * 65
    with pytest.raises(header.HeaderError, match="longer than 64"):
        header.parse(b"\n".join(lines))


def test_header_reading_is_bounded():
    endless = b"age-encryption.org/v1\n" + b"-> x\n" * 100_000
    position = 0

    def read_some(n: int) -> bytes:
        nonlocal position
        piece = endless[position:position + n]
        position += len(piece)
        return piece

    with pytest.raises(header.HeaderError, match="longer than|within"):
        header.read(read_some, len(endless))
    assert position <= header.MAX_HEADER_BYTES + 8192


def test_stanza_bodies_wrap_at_64_columns_with_a_short_last_line():
    for size in (0, 47, 48, 49, 96):
        text = header.Stanza("t", ["a"], bytes(size)).to_bytes()
        body_lines = text.split(b"\n")[1:-1]
        assert all(len(line) == 64 for line in body_lines[:-1]) and len(body_lines[-1]) < 64
        parsed = header.parse(header.VERSION_LINE + b"\n" + text + b"--- " + header.b64encode(bytes(32)) + b"\n")
        assert parsed.stanzas[0].body == bytes(size)


def test_header_mac_protects_every_header_byte(identity):
    data = age.encrypt(b"payload", [identity.recipient])
    head, rest = split(data)
    grease = head.replace(b"\n---", b"\n-> grease extra\nAAAA\n---")  # a well-formed extra stanza
    with pytest.raises(age.AuthenticationError, match="MAC"):
        age.decrypt(grease + rest, [identity], 100)
    mac_at = head.index(b"--- ") + 4
    other = bytearray(head)
    other[mac_at] = ord("B") if other[mac_at] != ord("B") else ord("C")
    with pytest.raises(age.AuthenticationError, match="MAC"):
        age.decrypt(bytes(other) + rest, [identity], 100)


# --- recipient stanzas --------------------------------------------------------------------

def _with_stanza(identity, replace) -> bytes:
    data = age.encrypt(b"x", [identity.recipient])
    head, rest = split(data)
    lines = head.split(b"\n")
    lines[1], lines[2] = replace(lines[1], lines[2])
    return b"\n".join(lines) + rest


@pytest.mark.parametrize("replace, message", [
    (lambda arg, body: (arg + b" extra", body), "exactly one argument"),
    (lambda arg, body: (b"-> X25519 " + header.b64encode(bytes(31)), body), "not 32 bytes"),
    (lambda arg, body: (arg, header.b64encode(bytes(31))), "body is not 32 bytes"),
    (lambda arg, body: (b"-> X25519 " + header.b64encode(bytes(32)), body), "low-order"),
])
def test_x25519_stanza_rules(identity, replace, message):
    with pytest.raises(age.AgeFormatError, match=message):
        age.decrypt(_with_stanza(identity, replace), [identity], 10)


def test_a_stanza_for_someone_else_is_not_ours(identity):
    data = age.encrypt(b"x", [X25519Identity.generate().recipient])
    with pytest.raises(age.NoIdentity):
        age.decrypt(data, [identity], 10)


def test_x25519_wrapped_key_is_authenticated(identity):
    def flip(arg, body):
        raw = bytearray(header.b64decode(body, "b"))
        raw[0] ^= 1
        return arg, header.b64encode(bytes(raw))
    with pytest.raises(age.NoIdentity):
        age.decrypt(_with_stanza(identity, flip), [identity], 10)


def scrypt_file(work_factor: int = 10) -> bytes:
    return age.encrypt(b"secret", [ScryptRecipient(b"pw", work_factor)])


def test_scrypt_round_trip_and_wrong_passphrase():
    assert age.decrypt(scrypt_file(), [ScryptIdentity(b"pw")], 10) == b"secret"
    with pytest.raises(age.NoIdentity):
        age.decrypt(scrypt_file(), [ScryptIdentity(b"other")], 10)


@pytest.mark.parametrize("mutate, message", [
    (lambda a: a.replace(b" 10\n", b" 23\n"), "over the 2\\^22"),
    (lambda a: a.replace(b" 10\n", b" 010\n"), "decimal"),
    (lambda a: a.replace(b" 10\n", b" 1x\n"), "decimal"),
    (lambda a: a.replace(b" 10\n", b"\n"), "salt and a work factor"),
])
def test_scrypt_stanza_rules(mutate, message):
    with pytest.raises(age.AgeFormatError, match=message):
        age.decrypt(mutate(scrypt_file()), [ScryptIdentity(b"pw")], 10)


def test_scrypt_stanza_must_stand_alone(identity):
    data = age.encrypt(b"x", [ScryptRecipient(b"pw", 10), identity.recipient])
    with pytest.raises(age.AgeFormatError, match="only stanza"):
        age.decrypt(data, [ScryptIdentity(b"pw")], 10)


# --- STREAM payload -------------------------------------------------------------------------

def payload_cases(identity):
    plain = os.urandom(3 * stream.CHUNK + 100)
    head, rest = split(age.encrypt(plain, [identity.recipient]))
    nonce, body = rest[:16], rest[16:]
    sealed = stream.SEALED_CHUNK
    chunks = [body[i:i + sealed] for i in range(0, len(body), sealed)]
    return head, nonce, chunks


@pytest.mark.parametrize("case", ["flip", "truncate_at_boundary", "truncate_inside", "trailing", "swap",
                                  "drop_last", "empty_last", "no_payload"])
def test_stream_refuses_tampering(identity, case):
    head, nonce, chunks = payload_cases(identity)
    if case == "flip":
        middle = bytearray(chunks[1])
        middle[100] ^= 1
        chunks[1] = bytes(middle)
    elif case == "truncate_at_boundary":
        chunks = chunks[:2]        # the second full chunk was not flagged last
    elif case == "truncate_inside":
        chunks[-1] = chunks[-1][:-1]
    elif case == "trailing":
        chunks.append(b"\x00")
    elif case == "swap":
        chunks[0], chunks[1] = chunks[1], chunks[0]
    elif case == "drop_last":
        chunks = chunks[:-1]
    elif case == "empty_last":
        chunks.append(b"\x00" * stream.TAG)
    elif case == "no_payload":
        chunks = []
    with pytest.raises(age.AuthenticationError):
        age.decrypt(head + nonce + b"".join(chunks), [identity], 10**7)


def test_stream_last_flag_is_checked(identity):
    """A payload whose last chunk is sealed without the last flag fails: truncation is detectable."""
    file_key = os.urandom(16)
    nonce = os.urandom(16)
    head = header.emit(identity.recipient.wrap(file_key), file_key)
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
    key = stream.payload_key(file_key, nonce)
    unflagged = ChaCha20Poly1305(key).encrypt(bytes(12), b"short", None)  # counter 0, last flag 0
    with pytest.raises(age.AuthenticationError):
        age.decrypt(head + nonce + unflagged, [identity], 100)
    flagged = ChaCha20Poly1305(key).encrypt(bytes(11) + b"\x01", b"short", None)
    assert age.decrypt(head + nonce + flagged, [identity], 100) == b"short"


@pytest.mark.parametrize("cap", [1, 200, 300, stream.SEALED_CHUNK + 300, 10 * stream.SEALED_CHUNK + 999])
def test_plain_limit_is_the_largest_that_fits(identity, cap):
    recipients = [identity.recipient]
    limit = age.plain_limit(cap, recipients)
    if limit:
        assert age.stored_size(limit, recipients) <= cap
    assert age.stored_size(limit + 1, recipients) > cap


def test_writer_reuses_buffers_for_any_write_pattern(identity):
    plain = os.urandom(5 * stream.CHUNK + 7)
    for piece in (1, 1000, stream.CHUNK, stream.CHUNK + 1, 2**20):
        parts: list[bytes] = []

        def collect(view: memoryview, out: list[bytes] = parts) -> None:
            out.append(bytes(view))

        sealer = age.Sealer([identity.recipient], collect)
        for start in range(0, len(plain), piece):
            sealer.write(memoryview(plain)[start:start + piece])
        sealer.finish()
        assert age.decrypt(b"".join(parts), [identity], len(plain)) == plain
