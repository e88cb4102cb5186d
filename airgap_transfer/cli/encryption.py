"""Options for encryption at rest: parse recipients, identities and the passphrase.

``pack --encrypt-to`` takes an age recipient (``age1…``) or a file of them
(as ``age -R`` reads it), repeatable; ``pack --passphrase`` and an unpack of
a passphrase transfer read the passphrase from the first line of the file
named by ``AIRGAP_TRANSFER_PASSPHRASE_FILE`` (the convention of the
passphrase-protected signing keys), or ask on the terminal.  ``unpack
--identity`` takes age identity files (``age-keygen``'s or ``keygen --age``'s).
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from airgap_transfer import limits
from airgap_transfer.engine.crypt import keys as age_keys
from airgap_transfer.errors import KeyFileError, UsageError
from airgap_transfer.format.names import printable
from airgap_transfer.state import paths

F = TypeVar("F", bound=Any)
PASSPHRASE_ENV = "AIRGAP_TRANSFER_PASSPHRASE_FILE"
MAX_PASSPHRASE_FILE_BYTES = limits.MAX_PASSPHRASE_FILE_BYTES


def pack_options(func: F) -> F:
    func = click.option("--passphrase", "use_passphrase", is_flag=True,
                        help=f"Encrypt with a passphrase (age scrypt; from ${PASSPHRASE_ENV} or asked): "
                             "it protects the transfer's key, identity.age, on every drive.")(func)
    func = click.option("--encrypt-to", "encrypt_to", multiple=True, metavar="RECIPIENT",
                        help="Encrypt every chunk to this age recipient (age1…) or recipients file; "
                             "repeatable. Each chunk is then a standard age file.")(func)
    return func


def unpack_options(func: F) -> F:
    return click.option("--identity", "identity_files", multiple=True, metavar="FILE",
                        type=click.Path(path_type=Path),
                        help="age identity file (age-keygen, keygen --age) for an encrypted transfer; "
                             "repeatable.")(func)


def _read_small(path: Path, limit: int) -> bytes:
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise KeyFileError(f"cannot read {path}: {exc.strerror}") from None
    if len(data) > limit:
        raise KeyFileError(f"{path} is over {limit} bytes: not a key file")
    return data


def recipients(values: tuple[str, ...]) -> list[age_keys.X25519Recipient]:
    found: list[age_keys.X25519Recipient] = []
    for value in values:
        if value.startswith("age1"):
            try:
                found.append(age_keys.X25519Recipient.parse(value))
            except age_keys.KeyError_ as exc:
                raise KeyFileError(f"--encrypt-to {printable(value, 80)}: {exc}",
                                   hint="give an age1… public key or a file of them") from None
            continue
        path = Path(value)
        if not path.is_file():
            raise KeyFileError(f"--encrypt-to {printable(value, 80)} is neither an age1… recipient nor a file",
                               hint="give an age1… public key (age-keygen -y KEY.txt) or a file of them")
        try:
            found.extend(age_keys.parse_recipients(_read_small(path, age_keys.MAX_KEY_FILE_BYTES).decode("utf-8")))
        except (age_keys.KeyError_, UnicodeDecodeError) as exc:
            raise KeyFileError(f"recipients file {path}: {exc}",
                               hint="one age1… key a line; # comments allowed") from None
    return found


def identities(files: tuple[Path, ...]) -> list[age_keys.X25519Identity]:
    found: list[age_keys.X25519Identity] = []
    for path in files:
        try:
            found.extend(age_keys.parse_identities(_read_small(path, age_keys.MAX_KEY_FILE_BYTES).decode("utf-8")))
        except (age_keys.KeyError_, UnicodeDecodeError) as exc:
            raise KeyFileError(f"identity file {path}: {exc}",
                               hint="give an age identity file (AGE-SECRET-KEY-1… lines), "
                                    "e.g. from keygen --age") from None
    return found


def passphrase_from_file() -> bytes | None:
    """The first line of $AIRGAP_TRANSFER_PASSPHRASE_FILE, or None when it is not set."""
    name = os.environ.get(PASSPHRASE_ENV)
    if not name:
        return None
    data = _read_small(Path(name), MAX_PASSPHRASE_FILE_BYTES)
    line = data.split(b"\n", 1)[0].rstrip(b"\r")
    if not line:
        raise UsageError(f"the first line of ${PASSPHRASE_ENV} ({name}) is empty",
                         hint="put the passphrase on the file's first line")
    return line


def passphrase(confirm: bool) -> bytes:
    """From the file, else asked on the terminal; UsageError when neither is possible."""
    given = passphrase_from_file()
    if given is not None:
        return given
    if not sys.stdin.isatty():
        raise UsageError("a passphrase is needed but there is no terminal to ask on",
                         hint=f"set {PASSPHRASE_ENV} to a file whose first line is the passphrase")
    text = click.prompt("Passphrase", hide_input=True, confirmation_prompt=confirm, err=True)
    if not text:
        raise UsageError("the passphrase is empty")
    return text.encode("utf-8")


def ask_passphrase() -> bytes | None:
    """For unpack: the passphrase if it can be had, else None (unpack then says what it needs)."""
    try:
        return passphrase(confirm=False)
    except UsageError:
        if os.environ.get(PASSPHRASE_ENV):
            raise
        return None


def write_age_identity(path: Path | None) -> tuple[Path, age_keys.X25519Identity]:
    """``keygen --age``: a new identity file, mode 0600, never over an existing file."""
    target = path or (paths.config_dir() / "age-identity.txt")
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    identity = age_keys.X25519Identity.generate()
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise UsageError(f"{target} already exists; left untouched", hint="choose another path") from None
    with os.fdopen(fd, "w") as handle:
        handle.write(age_keys.identity_file_text(identity, created))
        handle.flush()
        os.fsync(handle.fileno())
    return target, identity
