"""The drive's last check: every file re-read, and its report bounded however many files there are."""

from __future__ import annotations

import os

import blake3
import pytest

from airgap_transfer import limits
from airgap_transfer.engine.io import pipeline, samples
from airgap_transfer.engine.pack import last_check
from airgap_transfer.errors import IntegrityError
from airgap_transfer.events import Reporter


def _expected(path, data: bytes, what: str, sampled: bool) -> last_check.Expected:
    digest = blake3.blake3(data).hexdigest()
    taps = None
    if sampled:
        tap = samples.SampleTap(len(data))
        tap.update(memoryview(data))
        taps = last_check.kept_samples(tap, digest)
    return last_check.Expected(path, what, len(data), digest, taps)


def test_the_names_of_files_reread_whole_are_listed_up_to_a_cap_and_all_counted(tmp_path):
    items = []
    for n in range(limits.MAX_NAMES_IN_PROGRESS_EVENT + 30):
        data = os.urandom(100 + n)
        (tmp_path / f"f{n}").write_bytes(data)
        items.append(_expected(tmp_path / f"f{n}", data, f"chunk {n + 1}", sampled=False))
    outcome = last_check.check_drive(tmp_path, None, items, False, pipeline.Ring(2), Reporter(None))
    assert outcome.files == outcome.whole_count == limits.MAX_NAMES_IN_PROGRESS_EVENT + 30
    assert outcome.whole == [f"chunk {n + 1}" for n in range(limits.MAX_NAMES_IN_PROGRESS_EVENT)]


def test_a_changed_file_fails_the_check_naming_the_drive(tmp_path):
    data = os.urandom(3 * samples.SAMPLE_BLOCK)
    (tmp_path / "f").write_bytes(data)
    item = _expected(tmp_path / "f", data, "chunk 1", sampled=True)
    changed = bytearray(data)
    changed[-1] ^= 1
    (tmp_path / "f").write_bytes(bytes(changed))
    with pytest.raises(IntegrityError, match=f"drive {tmp_path} failed the last check"):
        last_check.check_drive(tmp_path, None, [item], False, pipeline.Ring(2), Reporter(None))
