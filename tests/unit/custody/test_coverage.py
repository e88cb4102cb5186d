"""Coverage of custody logs by signed heads: every position tampered, truncation, rollback, untrusted signers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from airgap_transfer.custody import chain as custody
from airgap_transfer.custody import coverage
from airgap_transfer.custody import recorder as custody_record
from airgap_transfer.errors import FormatError, IntegrityError, TrustError
from airgap_transfer.format import layout
from airgap_transfer.trust import minisign

TID = "ab" * 16
SENDER = minisign.SecretKey.generate()
COURIER = minisign.SecretKey.generate()
KINDS = ["pack-started", "chunk-written", "chunk-written", "drive-finished", "chunk-written", "drive-finished",
         "packed", "handover"]
N = len(KINDS)


def make_log() -> list[dict]:
    events: list[dict] = []
    for kind in KINDS:
        custody.chain(events, custody_record.new_event(kind, TID, custody_record.Actor()))
    return events


def signed_folder(tmp_path: Path, events: list[dict]) -> layout.TransferFolder:
    """A drive as pack and one handover leave it: heads at 4 and 7 (sender), 8 (courier)."""
    folder = tmp_path / "drive" / layout.folder_name(TID)
    folder.mkdir(parents=True)
    custody.write_log(folder, events[:4], SENDER)
    custody.write_log(folder, events[:7], SENDER)
    custody.write_log(folder, events, COURIER)
    return layout.TransferFolder(folder, TID, tmp_path / "drive")


TRUSTED = [SENDER.public_key(), COURIER.public_key()]


def rewrite(folder: layout.TransferFolder, lines: list[bytes]) -> None:
    (folder.path / custody.LOG_NAME).write_bytes(b"".join(line + b"\n" for line in lines))


def test_an_untouched_copy_is_covered_and_says_by_whom(tmp_path):
    copy = coverage.strict(coverage.read_drive_copy(signed_folder(tmp_path, make_log()), TRUSTED))
    assert copy.covered == N
    assert [(s.signer, s.to_dict()["covers"]) for s in copy.signatures] == [
        (SENDER.public_key().key_id_hex, [1, 4]), (SENDER.public_key().key_id_hex, [1, 7]),
        (COURIER.public_key().key_id_hex, [1, 8])]


@pytest.mark.parametrize("position", range(1, N + 1))
def test_chain_check_catches_a_changed_prev_at_every_position(position):
    """Including the last link: a check that skips it would pass an edited last event."""
    events = make_log()
    events[position - 1] = {**events[position - 1], "prev": "f" * 64}
    with pytest.raises(IntegrityError) as info:
        custody.check_chain(events, TID, "log")
    assert re.search(rf"event {position}\b", info.value.detail), info.value.detail


@pytest.mark.parametrize("position", range(1, N + 1))
def test_an_edited_event_at_every_position_is_caught_in_a_drive_copy(tmp_path, position):
    events = make_log()
    folder = signed_folder(tmp_path, events)
    edited = [dict(e) for e in events]
    edited[position - 1]["host"] = "mallory"
    rewrite(folder, [custody.canonical(e) for e in edited])
    with pytest.raises(IntegrityError) as info:
        coverage.read_drive_copy(folder, TRUSTED)
    assert re.search(rf"event {position}\b", info.value.detail), info.value.detail


@pytest.mark.parametrize("position", range(1, N + 1))
def test_a_deleted_event_at_every_position_is_caught(tmp_path, position):
    events = make_log()
    folder = signed_folder(tmp_path, events)
    rewrite(folder, [custody.canonical(e) for i, e in enumerate(events, 1) if i != position])
    with pytest.raises(IntegrityError) as info:
        coverage.read_drive_copy(folder, TRUSTED)
    assert re.search(rf"event {position}\b", info.value.detail), info.value.detail


@pytest.mark.parametrize("keep", range(0, N))
def test_a_log_cut_to_any_length_is_caught_by_the_heads_file(tmp_path, keep):
    """Even re-chained and with the latest head replaced by the matching earlier one."""
    events = make_log()
    folder = signed_folder(tmp_path, events)
    rewrite(folder, [custody.canonical(e) for e in events[:keep]])
    heads = custody.read_heads(folder.path / custody.HEADS_NAME)
    earlier = next((h for h in heads if f" seq:{keep} " in h), None)
    if earlier:
        (folder.path / custody.HEAD_NAME).write_text(earlier)
    with pytest.raises(IntegrityError, match="missing at the end|truncated"):
        coverage.read_drive_copy(folder, TRUSTED)


def test_an_earlier_copy_on_a_drive_with_the_final_index_does_not_reach_packed(tmp_path):
    events = make_log()
    folder = signed_folder(tmp_path, events)
    copy = coverage.read_drive_copy(folder, TRUSTED)
    copy.final_index_signer = SENDER.public_key().key_id_hex
    coverage.check_reaches_packed(copy)  # the whole log does
    early = coverage.Coverage("log", events[:4], [s for s in copy.signatures if s.seq == 4],
                              SENDER.public_key().key_id_hex)
    with pytest.raises(IntegrityError, match="does not reach the `packed` event"):
        coverage.check_reaches_packed(early)
    by_courier = coverage.Coverage("log", events, [s for s in copy.signatures if s.seq == 8],
                                   SENDER.public_key().key_id_hex)
    with pytest.raises(IntegrityError, match="packed"):  # the sender's own signature is what counts
        coverage.check_reaches_packed(by_courier)


def test_untrusted_signers_leave_their_events_uncovered(tmp_path):
    copy = coverage.read_drive_copy(signed_folder(tmp_path, make_log()), [SENDER.public_key()])
    assert copy.covered == 7
    assert isinstance(copy.uncovered_problem(), TrustError)
    with pytest.raises(TrustError, match="not trusted"):
        coverage.strict(copy)


def test_a_forged_signature_by_a_trusted_key_id_is_a_trust_failure(tmp_path):
    folder = signed_folder(tmp_path, make_log())
    text = (folder.path / custody.HEAD_NAME).read_text().splitlines()
    text[3] = text[3][:-4] + ("AAAA" if not text[3].endswith("AAAA") else "BBBB")
    (folder.path / custody.HEAD_NAME).write_text("\n".join(text) + "\n")
    with pytest.raises(TrustError):
        coverage.read_drive_copy(folder, TRUSTED)


@pytest.mark.parametrize("data", [b"x\n", b"a\nb\nc\n", b"\xff\n\n\n\n", b"a\nb\nc\nd"])
def test_a_damaged_heads_file_is_refused(data):
    with pytest.raises(FormatError):
        custody.parse_heads(data, "heads")


@pytest.mark.parametrize("field, value, ok", [
    ("chunk_ranges", [[1, 5000], [5002, 9000]], True),
    ("chunk_ranges", [[5, 1]], False),
    ("chunk_ranges", [[0, 3]], False),
    ("chunk_ranges", [[1, 2, 3]], False),
    ("chunk_ranges", "1-5", False),
    ("drives", 5, False),
    ("chunks", ["1"], False),
    ("handover", {"from": "A", "to": "B", "bribe": "yes"}, False),
    ("details", {"x": 1.5}, False),
    ("unknown", 1, False),
])
def test_every_custody_field_is_type_checked(field, value, ok):
    from airgap_transfer.custody import fields
    event = make_log()[0]
    event[field] = value
    assert (fields.problem(event) is None) == ok, fields.problem(event)


def test_a_log_of_another_transfer_breaks_the_chain_though_its_links_hold():
    events = make_log()
    custody.check_chain(events, TID, "log")
    with pytest.raises(IntegrityError, match=f"event 1 \\(pack-started\\) belongs to transfer {TID}"):
        custody.check_chain(events, "cd" * 16, "log")


@pytest.mark.parametrize("trusted", [TRUSTED, []], ids=["trusted signer", "unknown signer"])
def test_a_head_signed_for_another_transfer_is_refused_whoever_signed_it(trusted):
    """Refused by its comment, before any key is looked at: an unknown key's head is not even listed."""
    head = custody.sign_head(make_log(), SENDER)
    assert coverage.parse_signatures([head], TID, trusted, "heads")[0].seq == N
    with pytest.raises(TrustError, match=f"a signed head belongs to transfer {TID}"):
        coverage.parse_signatures([head], "cd" * 16, trusted, "heads")

