"""Pack's side of encryption at rest: the transfer's keys, chunk sizing, what goes on each drive.

Every chunk of an encrypted transfer is one age file (encoding ``age``, or
``zstd+age`` around a zstd frame) to the same recipients.  An age file is
larger than its plaintext by a fixed header and 16 bytes per 64 KiB, so a
chunk takes only as much plaintext as still fits its room (``chunk_plan``).
The index is signed in its public form (``SealingKeys.public_index``), and
with ``--passphrase`` each drive also carries ``identity.age``, so that stock
``age -d identity.age`` recovers the key without this tool.

The keys outlive a run: the pack journal keeps the recipients and
identity.age (encrypted under the passphrase, never the secret itself), so a
resumed pack encrypts to exactly the same keys, or refuses.
"""

from __future__ import annotations

import base64
import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airgap_transfer.engine.crypt.keys import X25519Recipient
from airgap_transfer.engine.crypt.transfer import SealingKeys
from airgap_transfer.engine.io import compression
from airgap_transfer.engine.pack import planning
from airgap_transfer.errors import UsageError
from airgap_transfer.format import layout
from airgap_transfer.format.encryption import PUBLIC_NAME, sealed_encoding

__all__ = ["SealingKeys", "chunk_plan", "journal_record", "keys_for", "public_event_fields",
           "sealed_encoding", "write_identity"]
from airgap_transfer.media import fsio

if TYPE_CHECKING:
    from airgap_transfer.engine.pack.config import PackConfig
    from airgap_transfer.state.journal import PackJournal


def keys_for(config: PackConfig, found: PackJournal | None) -> SealingKeys | None:
    """The keys of this run: new ones, or those of the journal being resumed (which must agree)."""
    recipients: list[X25519Recipient] = list(config.recipients)
    saved = getattr(found, "encryption", None) if found is not None else None
    if found is not None:
        if (saved is None) != (not recipients and config.passphrase is None):
            raise UsageError(f"transfer {found.transfer_id} was started "
                             f"{'with' if saved else 'without'} encryption; a transfer cannot mix both",
                             hint="give the same --encrypt-to/--passphrase options as before, or --restart")
        if saved is None:
            return None
        if (saved.get("identity") is None) != (config.passphrase is None):
            raise UsageError(f"transfer {found.transfer_id} was started "
                             f"{'without' if saved.get('identity') is None else 'with'} --passphrase",
                             hint="give the same --encrypt-to/--passphrase options as before, or --restart")
        if sorted(saved["recipients"]) != sorted(str(r) for r in dict.fromkeys(recipients)):
            raise UsageError(f"transfer {found.transfer_id} is encrypted to other recipients",
                             hint="give the same --encrypt-to options as before, or --restart")
        identity = base64.b64decode(saved["identity"]) if saved.get("identity") else None
        return SealingKeys.resume(recipients, config.passphrase, identity)
    if not recipients and config.passphrase is None:
        return None
    return SealingKeys.create(recipients, config.passphrase, config.scrypt_work_factor)


def journal_record(keys: SealingKeys | None) -> dict[str, Any] | None:
    if keys is None:
        return None
    given = keys.recipients[:-1] if keys.transfer_identity is not None else keys.recipients
    return {"recipients": [str(r) for r in given],
            "identity": base64.b64encode(keys.identity_file).decode() if keys.identity_file else None}


def chunk_plan(keys: SealingKeys | None, encoding: str, room: int, chunk_limit: int,
               want: int) -> tuple[str, int, int]:
    """(encoding, plain bytes to take, most bytes the file may hold) for the next chunk."""
    cap = min(room, chunk_limit)
    if encoding == "zstd":
        inner = keys.plain_limit(cap) if keys else cap
        limit = min(want, compression.plain_limit(inner))
        if limit >= min(want, planning.MIN_CHUNK):
            return ("zstd+age" if keys else "zstd"), limit, cap
        # too little room for a worst-case frame: this chunk is stored without compression
    if keys is None:
        return "none", want, want
    return sealed_encoding("none"), min(want, keys.plain_limit(cap)), cap


def sealed_drive_plan(keys: SealingKeys | None, plan: planning.DrivePlan) -> planning.DrivePlan:
    """A drive as the at-once planner must see it: room and chunk limit in plaintext bytes.

    age adds 16 bytes per 64 KiB and a header per file; planning the plain
    lengths against the room less that keeps every stored file within it.
    """
    if keys is None:
        return plan
    chunks = plan.free // max(1, plan.chunk_limit) + 1
    free = plan.free * 65536 // 65552 - (keys.header_size + 16) * chunks
    return dataclasses.replace(plan, free=max(0, free), chunk_limit=keys.plain_limit(plan.chunk_limit))


def stored_size(keys: SealingKeys | None, length: int) -> int:
    return keys.stored_size(length) if keys is not None else length


def chunk_event_digests(keys: SealingKeys | None, blake3: str, sha256: str | None,
                        stored_blake3: str) -> dict[str, Any]:
    """An encrypted chunk's events (and so the custody log) name only its stored bytes' digest."""
    if keys is not None:
        return {"blake3": stored_blake3, "sha256": None}
    return {"blake3": blake3, "sha256": sha256}


def write_identity(keys: SealingKeys | None, folder: Path) -> None:
    """identity.age beside the index, for ``age -d`` without this tool (it is also in the signed index)."""
    if keys is not None and keys.identity_file is not None:
        fsio.atomic_write_bytes(folder / layout.IDENTITY_NAME, keys.identity_file)


def public_event_fields(keys: SealingKeys | None, bundle: str, **digests: str | None) -> dict[str, Any]:
    """Event data that reaches the custody log: no name or plaintext digest of an encrypted bundle."""
    if keys is None:
        return {"bundle": bundle, **digests}
    return {"bundle": PUBLIC_NAME, "encrypted": True}
