"""Custody events stay bounded however many chunks a transfer has (chunk_ranges, groups, caps)."""

from __future__ import annotations

import time

import blake3
import pytest

from airgap_transfer import limits
from airgap_transfer.custody import chain as custody
from airgap_transfer.custody import chunk_sets, local_log, report, report_formats
from airgap_transfer.custody import recorder as custody_record
from airgap_transfer.events import Event
from airgap_transfer.format import layout

TID = "ab" * 16


@pytest.mark.parametrize("seqs,expected", [
    ([], []), ([5], [[5, 5]]), ([3, 1, 2], [[1, 3]]), ([1, 2, 4, 5, 7], [[1, 2], [4, 5], [7, 7]]),
    ([2, 2, 3], [[2, 3]]),
])
def test_ranges_are_sorted_merged_and_inclusive(seqs, expected):
    assert chunk_sets.ranges(seqs) == expected
    assert chunk_sets.union(chunk_sets.event_ranges({"chunks": seqs})) == expected


@pytest.mark.parametrize("bad", [
    [[3, 1]], [[0, 2]], [["1", 2]], [[1, 2, 3]], [[1.0, 2]], ["1-2"], [[True, 2]], {"1": 2},
])
def test_malformed_ranges_from_a_drive_are_skipped(bad):
    assert chunk_sets.event_ranges({"chunk_ranges": bad if isinstance(bad, list) else []}) == []


def test_a_hostile_huge_range_costs_only_its_bytes():
    started = time.process_time()
    spans = chunk_sets.union(chunk_sets.event_ranges({"chunk_ranges": [[1, 10**15], [5, 2 * 10**15]]}))
    assert spans == [[1, 2 * 10**15]] and chunk_sets.count(spans) == 2 * 10**15
    assert chunk_sets.describe(spans) == f"1-{2 * 10**15}"
    assert time.process_time() - started < 1   # nothing was expanded (generous bound, not a benchmark)


def test_fields_list_few_chunks_and_range_many():
    few = chunk_sets.fields([[1, limits.CUSTODY_CHUNK_LIST]])
    assert few == {"chunks": list(range(1, limits.CUSTODY_CHUNK_LIST + 1))}
    many = chunk_sets.fields([[1, limits.CUSTODY_CHUNK_LIST + 1]], {"drives": ["d"]})
    assert many == {"chunk_ranges": [[1, limits.CUSTODY_CHUNK_LIST + 1]],
                    "details": {"drives": ["d"], "chunk_count": limits.CUSTODY_CHUNK_LIST + 1}}


def test_too_many_ranges_are_capped_and_the_rest_counted():
    spans = [[n, n] for n in range(1, 2 * (limits.CUSTODY_MAX_RANGES + 10), 2)]
    made = chunk_sets.fields(spans)
    assert len(made["chunk_ranges"]) == limits.CUSTODY_MAX_RANGES
    assert made["details"] == {"chunk_count": len(spans), "chunk_ranges_omitted": len(spans) - limits.CUSTODY_MAX_RANGES}


def test_listing_digest_is_recomputable_from_the_index():
    chunks = [(2, "b" * 64), (1, "a" * 64)]
    expected = blake3.blake3(f"1 {'a' * 64}\n2 {'b' * 64}\n".encode()).hexdigest()
    assert chunk_sets.listing_digest(chunks) == expected


def _digest(seq: int) -> str:
    return blake3.blake3(str(seq).encode()).hexdigest()


def _pack_events(tmp_path, chunks_per_drive: list[int]) -> tuple[list[dict], list]:
    drives = [tmp_path / f"d{n}" for n in range(1, len(chunks_per_drive) + 1)]
    recorder = custody_record.Recorder()
    recorder(Event("pack-started", "", {"transfer_id": TID, "bundle": "b", "size": 1, "key_id": "K"}))
    seq = 0
    for drive, count in zip(drives, chunks_per_drive):
        (drive / layout.folder_name(TID)).mkdir(parents=True)
        recorder(Event("drive-opened", "", {"drive": str(drive), "medium": {"label": drive.name}}))
        for _ in range(count):
            seq += 1
            recorder(Event("chunk-written", "", {"chunk": seq, "drive": str(drive), "blake3": _digest(seq),
                                                 "length": 10, "file": f"x-{seq:06d}.chunk", "readback": True}))
        recorder(Event("drive-sealed", "", {"drive": str(drive)}))
    recorder(Event("pack-finished", "", {"transfer_id": TID, "blake3": "1" * 64}))
    return custody.read_log(local_log.local_log_path(TID)), drives


def test_pack_of_many_chunks_records_singles_then_groups_per_drive(tmp_path):
    single = limits.CUSTODY_SINGLE_CHUNK_EVENTS
    events, drives = _pack_events(tmp_path, [single + 1500, 700])
    written = [e for e in events if e["type"] == "chunk-written"]
    singles = [e for e in written if "chunks" in e]
    groups = [e for e in written if "chunk_ranges" in e]
    assert len(singles) == single and all(len(e["chunks"]) == 1 for e in singles)
    # drive 1: 1500 after the singles -> a full group and one flushed at its seal; drive 2: one group
    assert [e["details"]["chunk_count"] for e in groups] == [1000, 500, 700]
    assert [e["media"]["path"] for e in groups] == [str(drives[0])] * 2 + [str(drives[1])]
    first = groups[0]
    assert first["chunk_ranges"] == [[single + 1, single + 1000]]
    assert first["details"]["chunks_blake3"] == chunk_sets.listing_digest(
        [(seq, _digest(seq)) for seq in range(single + 1, single + 1001)])
    assert first["details"]["length"] == 10 * 1000 and first["details"]["read_back"] is True
    finished = [e for e in events if e["type"] == "drive-finished"]
    assert finished[0]["chunk_ranges"] == [[1, single + 1500]]
    assert finished[1]["chunks"] == list(range(single + 1501, single + 2201))
    packed = events[-1]
    assert packed["type"] == "packed" and packed["chunk_ranges"] == [[1, single + 2200]]
    assert packed["details"]["chunk_count"] == single + 2200
    # every chunk is named exactly once among the chunk-written events
    named = sorted(seq for e in written for a, b in chunk_sets.event_ranges(e) for seq in range(a, b + 1))
    assert named == list(range(1, single + 2201))
    for drive in drives:   # the drives' copies parse within the log's caps
        on_drive = custody.read_log(drive / layout.folder_name(TID) / custody.LOG_NAME)
        custody.check_chain(on_drive, TID, str(drive))


def test_a_failed_pack_records_its_waiting_group_before_the_failure(tmp_path):
    recorder = custody_record.Recorder()
    recorder.operation = "pack"
    with pytest.raises(KeyboardInterrupt), recorder.failures():
        recorder(Event("pack-started", "", {"transfer_id": TID}))
        for seq in range(1, limits.CUSTODY_SINGLE_CHUNK_EVENTS + 6):
            recorder(Event("chunk-written", "", {"chunk": seq, "drive": str(tmp_path), "blake3": _digest(seq)}))
        raise KeyboardInterrupt
    events = custody.read_log(local_log.local_log_path(TID))
    assert events[-2]["type"] == "chunk-written" and events[-2]["details"]["chunk_count"] == 5
    assert events[-1]["type"] == "pack-failed"


def test_unpack_groups_verified_chunks_and_flushes_them_before_the_proof(tmp_path):
    recorder = custody_record.Recorder()
    recorder(Event("unpack-started", "", {"transfer_id": TID, "output": "o", "size": 1}))
    total = limits.CUSTODY_SINGLE_CHUNK_EVENTS + 1234
    for seq in range(1, total + 1):
        recorder(Event("chunk-verified", "", {"chunk": seq, "drive": str(tmp_path), "blake3": _digest(seq)}))
    recorder(Event("unpack-finished", "", {"output": "o", "blake3": "1" * 64}))
    events = custody.read_log(local_log.local_log_path(TID))
    verified = [e for e in events if e["type"] == "chunk-verified"]
    assert len(verified) == limits.CUSTODY_SINGLE_CHUNK_EVENTS + 2
    assert [e["details"]["chunk_count"] for e in verified[-2:]] == [1000, 234]
    assert [e["type"] for e in events[-2:]] == ["bundle-proven", "output-written"]


def test_the_log_of_a_hundred_thousand_chunks_stays_within_its_caps(tmp_path):
    """10^5 chunks on 4 drives: every line far below the 64 KiB line limit, about a thousand events."""
    events, drives = _pack_events(tmp_path, [25_000] * 4)
    data = custody.render_log(events)
    longest = max(len(line) for line in data.split(b"\n"))
    assert longest < limits.MAX_LINE_BYTES // 2
    assert len(events) < 1200 and len(data) < limits.MAX_LOG_BYTES // 4
    assert custody.parse_log(data, "log") == events
    document = report.build(report.Gathered(TID, None, False, [], events, []), custody_record.Actor())
    assert [d["chunk_count"] for d in document["drives"]] == [25_000] * 4
    assert document["drives"][1]["chunk_ranges"] == [[25_001, 50_000]]
    csv_text = report_formats.to_csv(document)
    assert "1001-2000" in csv_text
