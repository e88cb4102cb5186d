"""Index creation times strictly increase on one host, so the rollback rule can order any two packs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from airgap_transfer.engine.pack import clock
from airgap_transfer.format.fields import CREATED_FORMAT
from airgap_transfer.state import paths

NOON = datetime(2026, 12, 3, 12, 0, 0, 250000, tzinfo=UTC)


def at(moment: datetime) -> str:
    return moment.strftime(CREATED_FORMAT)


def test_packs_within_one_second_get_times_one_second_apart():
    first = clock.next_created(NOON)
    second = clock.next_created(NOON + timedelta(milliseconds=400))
    third = clock.next_created(NOON + timedelta(milliseconds=500))
    assert (first, second, third) == (at(NOON), at(NOON + timedelta(seconds=1)), at(NOON + timedelta(seconds=2)))


def test_the_clock_wins_once_it_has_moved_past_the_last_time():
    clock.next_created(NOON)
    assert clock.next_created(NOON + timedelta(minutes=5)) == at(NOON + timedelta(minutes=5))


@pytest.mark.parametrize("stored", [b"2026-12-03T15:00:00Z", b"garbage", b"\xff\xfe", b""])
def test_a_far_future_or_unreadable_record_is_not_followed(stored):
    (paths.state_dir()).mkdir(parents=True, exist_ok=True)
    (paths.state_dir() / clock.LAST_NAME).write_bytes(stored)
    assert clock.next_created(NOON) == at(NOON)
    assert clock.next_created(NOON) == at(NOON + timedelta(seconds=1))   # and the record is whole again
