"""How the engine talks to whoever drives it: a callback receiving Events.

The engine never prints.  Each event has a kind (a member of ``Kind``: stable,
for ``--json`` and for the custody recorder, so a renamed kind fails at type
check, not silently), a one-line human message, and structured data.
``progress`` events are frequent and only rendered on a TTY.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    """Every event kind the engine, trust, custody and CLI emit; the value is what --json prints."""

    # pack
    PACK_STARTED = "pack-started"
    BUNDLE_RENAMED = "bundle-renamed"        # the name was made safe; the index keeps the original (pack, unpack)
    DEST_NOT_MOUNTED = "dest-not-mounted"    # a DEST under /media, /run/media or /mnt with no drive mounted on it
    PACKED_BEFORE = "packed-before"          # the same unchanged source was packed completely onto a DEST already
    DRIVE_OPENED = "drive-opened"
    CHUNK_SIZE_CLAMPED = "chunk-size-clamped"
    DRIVES_AT_ONCE = "drives-at-once"
    DRIVES_IN_TURN = "drives-in-turn"
    DRIVE_REFUSED = "drive-refused"
    DRIVE_FULL = "drive-full"
    CHUNK_WRITTEN = "chunk-written"
    CHUNK_BAD_COPY = "chunk-bad-copy"
    DRIVE_SEALED = "drive-sealed"
    DRIVE_RECHECKED = "drive-rechecked"      # the last check: every chunk on a finished drive still intact
    DRIVE_SAFE_TO_REMOVE = "drive-safe-to-remove"
    DRIVE_REMOVED = "drive-removed"
    RESUME = "resume"
    RESUME_CHUNK_REDO = "resume-chunk-redo"
    STALE_REMOVED = "stale-removed"
    FINAL_INDEX_SKIPPED = "final-index-skipped"
    PARITY_SAME_DRIVE = "parity-same-drive"
    PARITY_WRITTEN = "parity-written"
    PARITY_REDONE = "parity-redone"
    MEMBER_SKIPPED = "member-skipped"
    PACK_FINISHED = "pack-finished"
    # unpack, verify, status
    UNPACK_STARTED = "unpack-started"
    INDEX_REJECTED = "index-rejected"
    TRANSFER_WITHOUT_INDEX = "transfer-without-index"   # status: chunks of a transfer whose index is not here
    INDEX_UNAVAILABLE = "index-unavailable"
    UNTRUSTED_KEY = "untrusted-key"
    TRANSFER_SEEN_BEFORE = "transfer-seen-before"
    ROLLBACK_ALLOWED = "rollback-allowed"
    REPLAY_RECORD_DAMAGED = "replay-record-damaged"
    REPLAY_RECORD_FAILED = "replay-record-failed"
    CHUNK_VERIFIED = "chunk-verified"
    PARITY_BAD_COPY = "parity-bad-copy"
    IDENTITY_BAD_COPY = "identity-bad-copy"   # verify: identity.age differs from the signed index's copy
    CHUNKS_REBUILDABLE = "chunks-rebuildable"
    PARITY_INPUT_BAD = "parity-input-bad"
    CHUNK_REBUILT = "chunk-rebuilt"
    FILE_IGNORED = "file-ignored"
    DIRECTORY_RESTORED = "directory-restored"
    UNPACK_FINISHED = "unpack-finished"
    # custody
    CUSTODY_FORK = "custody-fork"
    CUSTODY_HANDOVER = "custody-handover"
    CUSTODY_LOCAL_DAMAGED = "custody-local-damaged"
    CUSTODY_LOG_IGNORED = "custody-log-ignored"
    CUSTODY_EVENTS_IGNORED = "custody-events-ignored"
    CUSTODY_UNVERIFIED = "custody-unverified"
    REPORT_REPLACED = "report-replaced"          # report -o took the place of an earlier regular file
    CUSTODY_WRITE_FAILED = "custody-write-failed"
    # keys, bootstrap, prompts
    KEY_CREATED = "key-created"
    TRUST_ROLE_CHANGED = "trust-role-changed"    # trust add moved a key between signer and custody-only
    TRUST_KEY_FROM_DRIVE = "trust-key-from-drive"  # trust add of a key file found in a transfer folder
    BOOTSTRAP_STEP = "bootstrap-step"
    BOOTSTRAP_FINISHED = "bootstrap-finished"
    WAITING_FOR_DRIVE = "waiting-for-drive"
    PROGRESS = "progress"


@dataclass
class Event:
    kind: Kind
    message: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    level: str = "info"  # info | warning | progress

    def to_dict(self) -> dict[str, Any]:
        return {"event": str(self.kind), "level": self.level, "message": self.message, **self.data}


Callback = Callable[[Event], None]


def ignore(_event: Event) -> None:
    """The default callback for library use: drop everything."""


class Reporter:
    """Small convenience wrapper so engine code reads as ``report.info(Kind..., ...)``."""

    def __init__(self, callback: Callback | None) -> None:
        self.callback = callback or ignore

    def info(self, kind: Kind, message: str, **data: Any) -> None:
        self.callback(Event(kind, message, data))

    def warning(self, kind: Kind, message: str, **data: Any) -> None:
        self.callback(Event(kind, message, data, level="warning"))

    def progress(self, **data: Any) -> None:
        self.callback(Event(Kind.PROGRESS, "", data, level="progress"))
