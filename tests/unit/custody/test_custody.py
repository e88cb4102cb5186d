"""The custody log: canonical events, hash chain, bounded parsing, signed head, merge."""

from __future__ import annotations

import json

import pytest

from airgap_transfer import limits
from airgap_transfer.custody import chain as custody
from airgap_transfer.errors import FormatError, IntegrityError, TrustError
from airgap_transfer.trust import minisign

TID = "ab" * 16


def make_log(n: int) -> list[dict]:
    events: list[dict] = []
    for i in range(n):
        custody.chain(events, {"v": 1, "type": f"step-{i}", "time": f"2026-01-01T00:00:{i:02d}Z",
                               "transfer_id": TID, "result": "ok", "host": "h"})
    return events


def reparse(data: bytes) -> list[dict]:
    return custody.parse_log(data, "log")


def test_chain_links_each_event_to_the_hash_of_the_previous_line():
    events = make_log(4)
    assert [e["seq"] for e in events] == [1, 2, 3, 4]
    assert events[0]["prev"] == custody.GENESIS
    data = custody.render_log(events)
    lines = data.split(b"\n")[:-1]
    import blake3
    for before, after in zip(lines, events[1:]):
        assert after["prev"] == blake3.blake3(before).hexdigest()
    assert reparse(data) == events
    custody.check_chain(reparse(data), TID, "log")


@pytest.mark.parametrize("operation, position", [
    ("edit", 1), ("edit", 3), ("delete", 1), ("delete", 3), ("reorder", 1), ("reorder", 3)])
def test_a_tampered_chain_names_the_first_broken_event(operation, position):
    events = make_log(5)
    if operation == "edit":
        events[position - 1] = {**events[position - 1], "host": "elsewhere"}
    elif operation == "delete":
        del events[position - 1]
    else:
        events[position - 1], events[position] = events[position], events[position - 1]
    with pytest.raises(IntegrityError, match=rf"event {position}\b"):
        custody.check_chain(events, TID, "log")


@pytest.mark.parametrize("line, why", [
    (b'{"v":1,"v":1}', "duplicate"),
    (b'{"seq":1.5}', "floating"),
    (b'[1,2]', "not a JSON object"),
    (b'\xff', "not valid JSON"),
])
def test_hostile_lines_are_refused(line, why):
    with pytest.raises(FormatError, match=why):
        reparse(line + b"\n")


def test_a_line_edited_into_non_canonical_form_is_refused():
    events = make_log(2)
    data = custody.render_log(events).replace(b'"host":"h"', b'"host": "h"', 1)
    with pytest.raises(FormatError, match="event 1 .*canonical"):
        reparse(data)


def test_size_line_and_count_limits(monkeypatch):
    with pytest.raises(FormatError, match="line limit"):
        reparse(b'"' + b"x" * (limits.MAX_LINE_BYTES + 1) + b'"\n')
    with pytest.raises(FormatError, match="truncated"):
        reparse(custody.render_log(make_log(2))[:-1])
    monkeypatch.setattr(limits, "MAX_EVENTS", 3)
    with pytest.raises(FormatError, match="more than 3 events"):
        reparse(custody.render_log(make_log(4)))
    monkeypatch.setattr(limits, "MAX_LOG_BYTES", 100)
    with pytest.raises(FormatError, match="byte limit"):
        reparse(custody.render_log(make_log(4)))


def test_signed_head_names_the_last_event_and_detects_truncation_and_edits():
    key = minisign.SecretKey.generate()
    events = make_log(3)
    head = custody.verify_head(custody.sign_head(events, key), [key.public_key()], "head")
    assert (head.seq, head.digest, head.signer) == (3, custody.event_hash(events[-1]), key.public_key().key_id_hex)
    custody.check_head(events, head, "log")
    with pytest.raises(IntegrityError, match=r"event 3 missing at the end"):
        custody.check_head(events[:2], head, "log")
    edited = events[:2] + [{**events[2], "result": "failed"}]
    with pytest.raises(IntegrityError, match=r"event 3 \(step-2\) was altered"):
        custody.check_head(edited, head, "log")


def test_head_signed_by_an_unknown_key_or_damaged_is_a_trust_failure():
    key, other = minisign.SecretKey.generate(), minisign.SecretKey.generate()
    text = custody.sign_head(make_log(2), key)
    with pytest.raises(TrustError, match="not trusted"):
        custody.verify_head(text, [other.public_key()], "head")
    lines = text.splitlines()
    forged = lines[2].replace("seq:2", "seq:1")
    with pytest.raises(TrustError, match="does not match"):
        custody.verify_head("\n".join([lines[0], lines[1], forged, lines[3]]) + "\n", [key.public_key()], "head")


def test_merge_is_a_union_by_hash_and_tip_follows_the_longest_chain():
    base = make_log(3)
    longer = [dict(e) for e in base]
    custody.chain(longer, {"v": 1, "type": "handover", "time": "2026-01-01T01:00:00Z",
                           "transfer_id": TID, "result": "ok"})
    fork = [dict(e) for e in base]
    custody.chain(fork, {"v": 1, "type": "verified", "time": "2026-01-01T00:30:00Z",
                         "transfer_id": TID, "result": "ok"})
    merged = custody.merge([base, longer, base, fork])
    assert len(merged) == 5 and custody.forks(merged) == [4]
    assert [e["seq"] for e in merged] == [1, 2, 3, 4, 4]
    tip = custody.tip(merged)
    assert len(tip) == 4
    custody.check_chain(tip, TID, "tip")
    assert custody.tip(custody.merge([base, longer])) == longer


def test_canonical_form_is_stable_and_utf8():
    event = {"b": "Zoë", "a": 1}
    assert custody.canonical(event) == '{"a":1,"b":"Zoë"}'.encode()
    assert json.loads(custody.canonical(event)) == event
