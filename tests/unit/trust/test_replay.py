"""The rollback rule on its own: which earlier acceptances refuse which index."""

from __future__ import annotations

import json
import secrets

import pytest

from airgap_transfer.errors import TrustError
from airgap_transfer.events import Reporter
from airgap_transfer.format.index import Index
from airgap_transfer.trust import replay

SIGNER, OTHER_SIGNER = "0123456789ABCDEF", "FEDCBA9876543210"


def index(created: str, name: str = "model.tar", transfer_id: str | None = None) -> Index:
    return Index(transfer_id=transfer_id or secrets.token_hex(16), bundle_name=name, bundle_size=0,
                 bundle_blake3="ab" * 32, created=created, tool="t", signer=SIGNER, final=True)


class Events(list):
    def __call__(self, event) -> None:
        self.append(event)

    def __bool__(self) -> bool:  # Reporter treats a falsy callback as "none given"
        return True


@pytest.fixture
def events() -> Events:
    return Events()


def test_empty_store_accepts(events) -> None:
    assert replay.check(index("2026-01-01T00:00:00Z"), SIGNER, False, Reporter(events)).seen_before == []


def test_older_index_refused_naming_both_dates(events) -> None:
    newer = index("2026-06-01T12:00:00Z")
    replay.record(newer, SIGNER)
    with pytest.raises(TrustError) as caught:
        replay.check(index("2026-05-01T12:00:00Z"), SIGNER, False, Reporter(events))
    assert "2026-05-01T12:00:00Z" in caught.value.detail and "2026-06-01T12:00:00Z" in caught.value.detail
    assert newer.transfer_id in caught.value.detail and caught.value.exit_code == 5


def test_allow_rollback_turns_refusal_into_warning_and_names_what_it_rolled_back(events) -> None:
    newer = index("2026-06-01T12:00:00Z")
    replay.record(newer, SIGNER)
    verdict = replay.check(index("2026-05-01T12:00:00Z"), SIGNER, True, Reporter(events))
    assert [e.kind for e in events] == ["rollback-allowed"]
    assert verdict.rollback.to_dict() == {"created": "2026-05-01T12:00:00Z", "newer_transfer": newer.transfer_id,
                                          "newer_created": "2026-06-01T12:00:00Z",
                                          "newer_accepted_at": replay.load()[0].accepted_at}


@pytest.mark.parametrize("created, name, signer", [
    ("2026-06-01T12:00:00Z", "model.tar", SIGNER),        # same second: not older
    ("2026-07-01T00:00:00Z", "model.tar", SIGNER),        # newer
    ("2026-05-01T00:00:00Z", "other.tar", SIGNER),        # another bundle
    ("2026-05-01T00:00:00Z", "model.tar", OTHER_SIGNER),  # another signer
])
def test_not_a_rollback(events, created, name, signer) -> None:
    replay.record(index("2026-06-01T12:00:00Z"), SIGNER)
    assert replay.check(index(created, name), signer, False, Reporter(events)).rollback is None


def test_same_transfer_again_is_noted(events) -> None:
    first = index("2026-06-01T12:00:00Z")
    replay.record(first, SIGNER)
    replay.record(index("2026-05-01T12:00:00Z"), SIGNER)  # an older one accepted since changes nothing
    verdict = replay.check(first, SIGNER, False, Reporter(events))
    assert [r.transfer_id for r in verdict.seen_before] == [first.transfer_id]
    assert [e.kind for e in events] == ["transfer-seen-before"]


def test_a_transfer_seen_before_is_still_a_rollback_once_a_newer_one_was_accepted(events) -> None:
    """Accept v1, accept v2, insert v1 again: refused, although v1's id is known."""
    first = index("2026-06-01T12:00:00Z")
    replay.record(first, SIGNER)
    replay.record(index("2026-07-01T12:00:00Z"), SIGNER)
    with pytest.raises(TrustError, match="rollback") as caught:
        replay.check(first, SIGNER, False, Reporter(events))
    assert "2026-06-01T12:00:00Z" in caught.value.detail and "2026-07-01T12:00:00Z" in caught.value.detail
    assert "--allow-rollback" in caught.value.hint


@pytest.mark.parametrize("change", [{"bundle_name": "x.tar"}, {"signer": OTHER_SIGNER}])
def test_transfer_id_reused_differently_is_refused(events, change) -> None:
    first = index("2026-06-01T12:00:00Z")
    replay.record(first, SIGNER)
    again = index("2026-06-01T12:00:00Z", change.get("bundle_name", "model.tar"), first.transfer_id)
    with pytest.raises(TrustError, match="was accepted on"):
        replay.check(again, change.get("signer", SIGNER), False, Reporter(events))


@pytest.mark.parametrize("line", ["{", "[]", '{"transfer_id": 1}', json.dumps(
    {"transfer_id": "a", "signer": "b", "bundle_name": "c", "created": "yesterday", "accepted_at": "d"}),
    "x" * 9000], ids=["brace", "list", "missing-fields", "bad-date", "too-long"])
def test_damaged_lines_are_skipped_and_reported(events, line) -> None:
    replay.record(index("2026-06-01T12:00:00Z"), SIGNER)
    with open(replay.store_path(), "a") as handle:
        handle.write(line + "\n")
    assert len(replay.load(Reporter(events))) == 1
    assert [e.kind for e in events] == ["replay-record-damaged"]


def test_store_is_private_and_one_line_per_record() -> None:
    replay.record(index("2026-06-01T12:00:00Z", name="naïve\nname"), SIGNER)
    assert replay.store_path().stat().st_mode & 0o777 == 0o600
    assert len(replay.store_path().read_text().splitlines()) == 1
    assert replay.load()[0].bundle_name == "naïve\nname"


def test_a_record_over_its_cap_is_refused_not_read_in_part(events, monkeypatch) -> None:
    """Read in part, the newest acceptances (at the end) would be missed and a rollback let through."""
    monkeypatch.setattr(replay.limits, "MAX_REPLAY_RECORD_BYTES", 4096)
    for n in range(24):  # about 190 bytes each: the cap is reached before the last record
        replay.record(index("2026-01-01T00:00:00Z", name=f"other-{n}.tar"), SIGNER)
    newer = index("2026-06-01T12:00:00Z")
    replay.record(newer, SIGNER)
    assert replay.store_path().stat().st_size > 4096
    with pytest.raises(TrustError, match="is over 4096 bytes") as caught:
        replay.check(index("2026-05-01T12:00:00Z"), SIGNER, False, Reporter(events))
    assert caught.value.exit_code == 5
