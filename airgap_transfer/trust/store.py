"""The trust store: public keys in the config folder's ``trusted/``, one file per key, by role.

Two roles, two folders:

* ``trusted/<KEYID>.pub``: a bundle signer.  ``unpack``/``verify``/``status``
  accept indexes it signed, and custody heads it signed.
* ``trusted/custody-only/<KEYID>.pub``: a witness (a courier, a handover desk).
  Its signatures count for custody heads only; an index it signed is refused
  like one by an unknown key, whatever else is in the store.

Files are plain minisign public keys, so an operator can also drop one in by
hand.  Adding a key in one role takes it out of the other.
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

KEY_ID_RE = re.compile(r"[0-9A-Fa-f]{16}")
SIGNER, CUSTODY_ONLY = "signer", "custody-only"


@dataclass
class TrustEntry:
    path: Path
    key_id: str | None          # None when the file is not a readable public key
    problem: str | None = None
    role: str = SIGNER

    def to_dict(self) -> dict[str, Any]:
        return {"key_id": self.key_id, "role": self.role, "path": str(self.path), "problem": self.problem}


def _folder(role: str) -> Path:
    return paths.custody_only_dir() if role == CUSTODY_ONLY else paths.trusted_dir()


def _entries_in(role: str) -> list[TrustEntry]:
    folder = _folder(role)
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.iterdir())[:limits.MAX_TRUSTED_KEYS]:
        if path.suffix != ".pub":
            continue
        try:
            if not stat.S_ISREG(path.lstat().st_mode):
                found.append(TrustEntry(path, None, "not a regular file; ignored", role))
                continue
            found.append(TrustEntry(path, minisign.PublicKey.from_file(path).key_id_hex, role=role))
        except KeyFileError:
            found.append(TrustEntry(path, None, "not a usable minisign public key; ignored", role))
        except OSError as exc:
            found.append(TrustEntry(path, None, f"{exc.strerror}; ignored", role))
    return found


def entries() -> list[TrustEntry]:
    return _entries_in(SIGNER) + _entries_in(CUSTODY_ONLY)


def add(value: str, role: str = SIGNER) -> tuple[TrustEntry, bool, str | None]:
    """Trust a key (a file or a base64 line) in ``role``.

    Returns (entry, newly added or role changed, the role it had before if it changed).
    """
    try:
        key = keys.parse_trust_argument(value)
    except KeyFileError:
        raise KeyFileError(f"{value!r} is neither a readable public key file nor a minisign public key",
                           hint="give the sender's .pub file or its base64 line (starts with RW)") from None
    other_role: list[TrustEntry] = []
    for entry in entries():
        if entry.key_id == key.key_id_hex:
            existing = minisign.PublicKey.from_file(entry.path)
            if existing.raw != key.raw:
                raise UsageError(f"another key with id {key.key_id_hex} is already trusted ({entry.path})",
                                 hint="two keys sharing an id is suspicious; compare both with the sender")
            if entry.role == role:
                return entry, False, None
            other_role.append(entry)
    target = _folder(role) / f"{key.key_id_hex}.pub"
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fsio.atomic_write_bytes(target, key.to_file_text().encode("ascii"))
    os.chmod(target, 0o644)
    for entry in other_role:  # one key, one role: a witness promoted to signer or the reverse
        entry.path.unlink()
        fsio.fsync_dir(entry.path.parent)
    return TrustEntry(target, key.key_id_hex, role=role), True, other_role[0].role if other_role else None


def remove(key_id: str) -> list[TrustEntry]:
    """Stop trusting every file holding this key id; UsageError when there is none."""
    if not KEY_ID_RE.fullmatch(key_id):
        raise UsageError(f"{key_id!r} is not a key id (16 hexadecimal digits)",
                         hint="see the ids with `airgap-transfer trust list`")
    wanted = key_id.upper()
    removed = [entry for entry in entries() if entry.key_id == wanted]
    if not removed:
        raise UsageError(f"key {wanted} is not in the trust store",
                         hint="see the trusted ids with `airgap-transfer trust list`")
    for entry in removed:
        entry.path.unlink()
        fsio.fsync_dir(entry.path.parent)
    return removed
