"""Writing a minisign key pair to files: never clobbering a secret key, each file durable.

A secret key file is created next to its final name, fsynced, then linked
into place (link() fails if the name appeared meanwhile; where the file system
has no hard links, a checked rename).  The public key may replace an old one.
"""

from __future__ import annotations

import os
import secrets

from airgap_transfer.errors import KeyFileError
from airgap_transfer.trust.minisign import SecretKey, StrPath


def _write_temp(final: str, text: str, mode: int) -> str:
    """Write ``text`` to a fresh file next to ``final``, fsynced; return its name."""
    directory, name = os.path.split(os.path.abspath(final))
    temp = os.path.join(directory, f".{name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        os.unlink(temp)  # a half-written key must not linger
        raise
    return temp


def _link_new(temp: str, final: str) -> None:
    """Rename that never clobbers: link() fails if ``final`` appeared meanwhile."""
    try:
        os.link(temp, final)
    except FileExistsError:
        raise
    except OSError:  # no hard links (FAT on a USB stick): check, then rename
        if os.path.lexists(final):
            raise FileExistsError(final) from None
        os.rename(temp, final)


def _install(temp: str, final: str, replace: bool) -> None:
    try:
        (os.replace if replace else _link_new)(temp, final)
    finally:
        if os.path.lexists(temp):  # after link(), or when the move failed
            os.unlink(temp)
    fd = os.open(os.path.dirname(os.path.abspath(final)), os.O_RDONLY)
    try:
        os.fsync(fd)  # make the rename itself durable
    finally:
        os.close(fd)


def write_key_pair(secret: SecretKey, secret_path: StrPath, public_path: StrPath) -> None:
    """Secret first: if it already exists nothing at all is written."""
    secret_path, public_path = os.fspath(secret_path), os.fspath(public_path)
    exists = KeyFileError(f"secret key file {secret_path} already exists",
                          hint="move it away or choose another path; it is never overwritten")
    if os.path.lexists(secret_path):
        raise exists
    try:
        _install(_write_temp(secret_path, secret.to_file_text(), 0o600), secret_path, False)
    except FileExistsError:
        raise exists from None
    except OSError as exc:
        raise KeyFileError(f"cannot write secret key file {secret_path}: {exc.strerror}",
                           hint="check that the directory exists and is writable") from None
    try:
        text = secret.public_key().to_file_text()
        _install(_write_temp(public_path, text, 0o644), public_path, True)
    except OSError as exc:
        hint = f"recreate it with `minisign -R -s {secret_path} -p {public_path}`"
        raise KeyFileError(f"cannot write public key file {public_path}: {exc.strerror}",
                           hint=hint) from None
