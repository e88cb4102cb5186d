"""The last check of a finished drive: is every chunk on it still what was read back?

Each chunk passed its own read-back right after it was written.  On a
fake-capacity stick a later write lands on top of an earlier chunk, so once
the drive holds everything it will get (before it is called safe to remove,
and before pack says "packed"), every chunk on it is re-read: the sampled
blocks its read-back recorded (``samples``), or the whole file with
``--full-recheck`` and for chunks this run did not read back itself (kept
from an earlier run).  A failure is exit 4 naming the drive.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from airgap_transfer import limits
from airgap_transfer.engine.io import pipeline, readback, samples
from airgap_transfer.errors import DriveIOError, IntegrityError
from airgap_transfer.events import Reporter


@dataclass(slots=True)
class Expected:
    """A file on the drive and what its read-back saw."""

    path: Path
    what: str                      # "chunk 3", "the index"
    stored_length: int
    stored_blake3: str
    # Filled by the read-back (a tap, or what ``kept_samples`` keeps of it); None: re-read the file whole.
    tap: samples.SampleTap | bytes | None = None

    @property
    def samples(self) -> bytes | None:
        """The sample blocks' digests (``samples.recheck``), or None: re-read the file whole."""
        kept = kept_samples(self.tap, self.stored_blake3) if isinstance(self.tap, samples.SampleTap) else self.tap
        if kept == ONE_BLOCK:
            return bytes.fromhex(self.stored_blake3)
        return kept


# Kept for a file sampled as one block, the whole of it: its sample digest is its own stored digest.
ONE_BLOCK = b""


def kept_samples(tap: samples.SampleTap, stored_blake3: str) -> bytes | None:
    """What the last check needs of a finished tap: its digests (ONE_BLOCK for a small file), or None."""
    if not tap.complete:
        return None  # the read-back was cut short: re-read the file whole
    digests = bytes(tap.digests)
    return ONE_BLOCK if digests == bytes.fromhex(stored_blake3) else digests


@dataclass
class Outcome:
    files: int = 0
    bytes_read: int = 0
    whole: list[str] = field(default_factory=list)  # the first files re-read in full, by name
    whole_count: int = 0                               # all of them: 10^5 names would be one 2 MB line

    def reread_whole(self, what: str) -> None:
        self.whole_count += 1
        if len(self.whole) < limits.MAX_NAMES_IN_PROGRESS_EVENT:
            self.whole.append(what)


def drive_words(root: Path, label: str | None) -> str:
    """``drive /media/USB1``, with its label when it has one the path does not already say."""
    return f"drive {root}" + (f" (label {label})" if label and label != root.name else "")


def check_drive(root: Path, label: str | None, expected: Iterable[Expected], full: bool, ring: pipeline.Ring,
                report: Reporter) -> Outcome:
    """Re-read ``expected`` from the drive at ``root``; IntegrityError (exit 4) at the first change."""
    outcome = Outcome()
    name = drive_words(root, label)
    buffer = bytearray(samples.SAMPLE_BLOCK)  # one sample at a time; the ring's buffers may be smaller
    for item in expected:
        try:
            taken = item.samples
            if full or taken is None:
                readback.read_back(item.path, item.stored_length, item.stored_blake3, ring,
                                   what=f"{item.what} on {root}")
                outcome.bytes_read += item.stored_length
                outcome.reread_whole(item.what)
            else:
                problem = samples.recheck(item.path, item.stored_length, taken, buffer)
                outcome.bytes_read += sum(length for _, length in samples.ranges(item.stored_length))
                if problem:
                    raise IntegrityError(f"{item.what} on {root}: {problem}")
        except IntegrityError as exc:
            raise IntegrityError(
                f"{name} failed the last check: {exc.detail}; data written later landed on "
                "top of earlier data, as on a fake-capacity or failing stick",
                hint="do not use this drive; pack again onto another (run the same pack command with a new "
                     "drive)") from None
        except FileNotFoundError:
            raise IntegrityError(f"{name} failed the last check: {item.what} is gone from it",
                                 hint="do not use this drive; pack again onto another") from None
        except OSError as exc:
            raise DriveIOError(f"{name} stopped answering during the last check of {item.what} "
                               f"({exc.strerror or exc})",
                               hint="reconnect or replace the drive, then run the same pack command") from None
        outcome.files += 1
    return outcome
