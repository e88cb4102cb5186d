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

from dataclasses import dataclass, field
from pathlib import Path

from airgap_transfer.engine.io import chunk_io, pipeline, samples
from airgap_transfer.errors import DriveIOError, IntegrityError
from airgap_transfer.events import Reporter


@dataclass
class Expected:
    """A file on the drive and what its read-back saw."""

    path: Path
    what: str                      # "chunk 3", "the index"
    stored_length: int
    stored_blake3: str
    tap: samples.SampleTap | None = None  # filled by the read-back; None: re-read the file whole

    @property
    def samples(self) -> list[samples.Sample] | None:
        if self.tap is None or len(self.tap.samples) != len(self.tap.wanted):
            return None  # not read back by this run (kept from an earlier one), or cut short
        return self.tap.samples


@dataclass
class Outcome:
    files: int = 0
    bytes_read: int = 0
    whole: list[str] = field(default_factory=list)  # files re-read in full


def drive_words(root: Path, label: str | None) -> str:
    """``drive /media/USB1``, with its label when it has one the path does not already say."""
    return f"drive {root}" + (f" (label {label})" if label and label != root.name else "")


def check_drive(root: Path, label: str | None, expected: list[Expected], full: bool, ring: pipeline.Ring,
                report: Reporter) -> Outcome:
    """Re-read ``expected`` from the drive at ``root``; IntegrityError (exit 4) at the first change."""
    outcome = Outcome()
    name = drive_words(root, label)
    buffer = bytearray(samples.SAMPLE_BLOCK)  # one sample at a time; the ring's buffers may be smaller
    for item in expected:
        try:
            taken = item.samples
            if full or taken is None:
                chunk_io.read_back(item.path, item.stored_length, item.stored_blake3, ring,
                                   what=f"{item.what} on {root}")
                outcome.bytes_read += item.stored_length
                outcome.whole.append(item.what)
            else:
                problem = samples.recheck(item.path, item.stored_length, taken, buffer)
                outcome.bytes_read += sum(s.length for s in taken)
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
