"""Where the passphrase of an encrypted secret key comes from.

Scripts name a file in ``AIRGAP_TRANSFER_PASSPHRASE_FILE``; its first line
(without the line break) is the passphrase.  Otherwise the CLI registers a
prompt that reads it from the terminal (``set_prompt``); the trust layer
itself never prints.  Without either there is no passphrase, and a command
that needs one stops with a usage error saying how to give it.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from airgap_transfer.errors import KeyFileError, UsageError
from airgap_transfer.limits import MAX_PASSPHRASE_CHARS, MAX_PASSPHRASE_FILE_BYTES

ENV_FILE = "AIRGAP_TRANSFER_PASSPHRASE_FILE"

# prompt(text, confirm) -> passphrase, or None when there is no terminal to ask on
Prompt = Callable[[str, bool], "str | None"]
_prompt: Prompt | None = None


def set_prompt(prompt: Prompt | None) -> None:
    global _prompt
    _prompt = prompt


def from_file() -> bytes | None:
    """The first line of the file named by the environment variable, or None if it is not set."""
    name = os.environ.get(ENV_FILE)
    if not name:
        return None
    try:
        with open(name, "rb") as handle:
            data = handle.read(MAX_PASSPHRASE_FILE_BYTES + 1)
    except OSError as exc:
        raise KeyFileError(f"cannot read the passphrase file {name} ({ENV_FILE}): {exc.strerror}",
                           hint=f"point {ENV_FILE} at a readable file whose first line is the passphrase") from None
    line = data.split(b"\n", 1)[0].removesuffix(b"\r")
    if len(data) > MAX_PASSPHRASE_FILE_BYTES and b"\n" not in data[:MAX_PASSPHRASE_FILE_BYTES]:
        raise KeyFileError(f"the passphrase file {name} has no line break in its first "
                           f"{MAX_PASSPHRASE_FILE_BYTES} bytes",
                           hint="its first line must be the passphrase")
    if not line:
        raise KeyFileError(f"the passphrase file {name} ({ENV_FILE}) has an empty first line",
                           hint="write the passphrase on its first line")
    return line


def _check(text: str) -> bytes:
    if not text:
        raise UsageError("the passphrase is empty", hint="give a passphrase, or use keygen --no-passphrase")
    if len(text) > MAX_PASSPHRASE_CHARS:
        raise UsageError(f"the passphrase is longer than {MAX_PASSPHRASE_CHARS} characters")
    return text.encode("utf-8")


def for_existing_key(path: object) -> bytes:
    """The passphrase that opens the encrypted key at ``path``."""
    found = from_file()
    if found is not None:
        return found
    text = _prompt(f"passphrase for secret key {path}: ", False) if _prompt else None
    if text is None:
        raise KeyFileError(f"secret key {path} is encrypted and there is no terminal to ask its passphrase on",
                           hint=f"name a file holding it in {ENV_FILE}")
    return _check(text)


def for_new_key(path: object) -> bytes | None:
    """The passphrase a new key is encrypted with (asked twice on a terminal); None means none can be had."""
    found = from_file()
    if found is not None:
        return found
    text = _prompt(f"passphrase for the new secret key {path}: ", True) if _prompt else None
    return None if text is None else _check(text)
