"""The trust store: public keys in the config folder's ``trusted/``, one file per key.

``trust add`` writes ``trusted/<KEYID>.pub`` (a plain minisign public key file,
so an operator can also drop one in by hand); ``unpack``/``verify``/``status``
trust every ``.pub`` file there (see ``keys.trusted_keys``).
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airgap_transfer import limits
from airgap_transfer.errors import KeyFileError, UsageError
from airgap_transfer.media import fsio
from airgap_transfer.state import paths
from airgap_transfer.trust import keys, minisign

KEY_ID_RE = re.compile(r"^[0-9A-Fa-f]{16}$")


@dataclass
class TrustEntry:
    path: Path
    key_id: str | None          # None when the file is not a readable public key
    problem: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"key_id": self.key_id, "path": str(self.path), "problem": self.problem}


def _key_path(key: minisign.PublicKey) -> Path:
    return paths.trusted_dir() / f"{key.key_id_hex}.pub"


def entries() -> list[TrustEntry]:
    folder = paths.trusted_dir()
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.iterdir())[:limits.MAX_TRUSTED_KEYS]:
        if path.suffix != ".pub":
            continue
        try:
            if not stat.S_ISREG(path.lstat().st_mode):
                found.append(TrustEntry(path, None, "not a regular file; ignored"))
                continue
            found.append(TrustEntry(path, minisign.PublicKey.from_file(path).key_id_hex))
        except KeyFileError:
            found.append(TrustEntry(path, None, "not a usable minisign public key; ignored"))
        except OSError as exc:
            found.append(TrustEntry(path, None, f"{exc.strerror}; ignored"))
    return found


def add(value: str) -> tuple[TrustEntry, bool]:
    """Trust a key given as a file or a base64 line; returns (entry, newly added)."""
    try:
        key = keys.parse_trust_argument(value)
    except KeyFileError:
        raise KeyFileError(f"{value!r} is neither a readable public key file nor a minisign public key",
                           hint="give the sender's .pub file or its base64 line (starts with RW)") from None
    for entry in entries():
        if entry.key_id == key.key_id_hex:
            existing = minisign.PublicKey.from_file(entry.path)
            if existing.raw == key.raw:
                return entry, False
            raise UsageError(f"another key with id {key.key_id_hex} is already trusted ({entry.path})",
                             hint="two keys sharing an id is suspicious; compare both with the sender")
    target = _key_path(key)
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fsio.atomic_write_bytes(target, key.to_file_text().encode("ascii"))
    os.chmod(target, 0o644)
    return TrustEntry(target, key.key_id_hex), True


def remove(key_id: str) -> list[TrustEntry]:
    """Stop trusting every file holding this key id; UsageError when there is none."""
    if not KEY_ID_RE.match(key_id):
        raise UsageError(f"{key_id!r} is not a key id (16 hexadecimal digits)",
                         hint="see the ids with `airgap-transfer trust list`")
    wanted = key_id.upper()
    removed = [entry for entry in entries() if entry.key_id == wanted]
    if not removed:
        raise UsageError(f"key {wanted} is not in the trust store",
                         hint="see the trusted ids with `airgap-transfer trust list`")
    for entry in removed:
        entry.path.unlink()
    fsio.fsync_dir(paths.trusted_dir())
    return removed
