"""Recording: media identity, event fields, and never dropping this host's events."""

from __future__ import annotations

import os
from pathlib import Path

from airgap_transfer.custody import chain as custody
from airgap_transfer.custody import local_log, media_identity
from airgap_transfer.custody import recorder as custody_record
from airgap_transfer.events import Event, Reporter
from airgap_transfer.format import layout
from airgap_transfer.trust import minisign

TID = "cd" * 16


def test_media_identity_names_the_mount_and_file_system(tmp_path):
    identity = media_identity.media_identity(tmp_path)
    assert identity["path"] == os.path.abspath(tmp_path)
    assert identity["mount_point"] and identity["fs_type"] and identity["capacity"] > 0
    assert str(tmp_path).startswith(identity["mount_point"])


def test_events_carry_actor_host_tool_and_times():
    event = custody_record.new_event("handover", TID, custody_record.Actor("Dana", "Custodian"),
                                     chunks=[], details=None, digests={"blake3": "0" * 64})
    assert event["actor"]["operator"] == "Dana" and event["actor"]["title"] == "Custodian" and event["actor"]["user"]
    assert event["time"].endswith("Z") and event["local_time"] and event["host"]
    assert event["tool"].startswith("airgap-transfer ") and "chunks" not in event and "details" not in event


SENDER = minisign.SecretKey.generate()
TRUSTED = [SENDER.public_key()]


def _drive_with_log(root: Path, events: list[dict], key: minisign.SecretKey | None = SENDER) -> None:
    folder = root / layout.folder_name(TID)
    folder.mkdir(parents=True, exist_ok=True)
    custody.write_log(folder, events, key)


def test_continue_chain_takes_the_longest_log_but_never_drops_local_events(tmp_path):
    actor = custody_record.Actor()
    base: list[dict] = []
    for kind in ("pack-started", "packed"):
        custody.chain(base, custody_record.new_event(kind, TID, actor))
    longer = list(base)
    custody.chain(longer, custody_record.new_event("handover", TID, actor))
    _drive_with_log(tmp_path / "d1", longer)
    local_log.write_local(base)
    assert local_log.continue_chain(TID, [tmp_path], Reporter(None), TRUSTED) == longer
    custody.chain(longer, custody_record.new_event("handover", TID, actor))
    _drive_with_log(tmp_path / "d1", longer)
    forked = list(base)
    custody.chain(forked, custody_record.new_event("verified", TID, actor))
    local_log.write_local(forked)
    warnings: list[Event] = []
    assert local_log.continue_chain(TID, [tmp_path], Reporter(warnings.append), TRUSTED) == forked
    assert [w.kind for w in warnings] == ["custody-fork"]


def _three_events() -> list[dict]:
    events: list[dict] = []
    for kind in ("pack-started", "chunk-written", "packed"):
        custody.chain(events, custody_record.new_event(kind, TID, custody_record.Actor()))
    return events


def test_only_what_a_trusted_signature_covers_is_adopted(tmp_path):
    """A log extended after its signed head is a tampered copy: nothing of it is adopted."""
    events = _three_events()
    _drive_with_log(tmp_path / "d1", events)
    forged = list(events)
    custody.chain(forged, custody_record.new_event("handover", TID, custody_record.Actor("Mallory")))
    (tmp_path / "d1" / layout.folder_name(TID) / custody.LOG_NAME).write_bytes(custody.render_log(forged))
    warnings: list[Event] = []
    assert local_log.continue_chain(TID, [tmp_path], Reporter(warnings.append), TRUSTED) == []
    assert [w.kind for w in warnings] == ["custody-log-ignored"]
    assert "not covered by the signed head" in warnings[0].message


def test_a_log_signed_by_an_untrusted_key_is_not_adopted(tmp_path):
    _drive_with_log(tmp_path / "d1", _three_events(), minisign.SecretKey.generate())
    warnings: list[Event] = []
    assert local_log.continue_chain(TID, [tmp_path], Reporter(warnings.append), TRUSTED) == []
    assert [w.kind for w in warnings] == ["custody-events-ignored"] and "not trusted" in warnings[0].message
    assert "none of its events adopted" in warnings[0].message and "1 to 0" not in warnings[0].message


def test_a_tail_signed_by_an_untrusted_witness_is_left_out_the_senders_part_adopted(tmp_path):
    events = _three_events()
    _drive_with_log(tmp_path / "d1", events)
    longer = events + []
    custody.chain(longer, custody_record.new_event("handover", TID, custody_record.Actor("Courier")))
    _drive_with_log(tmp_path / "d1", longer, minisign.SecretKey.generate())
    warnings: list[Event] = []
    assert local_log.continue_chain(TID, [tmp_path], Reporter(warnings.append), TRUSTED) == events
    assert "only events 1 to 3 adopted" in warnings[0].message and "--custody-only" in warnings[0].message
    assert custody.read_heads(local_log.local_heads_path(TID))  # the sender's signature is kept locally


def test_recorder_appends_to_the_local_log_and_forwards_every_event(tmp_path):
    seen: list[Event] = []
    recorder = custody_record.Recorder(seen.append)
    recorder(Event("pack-started", "", {"transfer_id": TID, "bundle": "b", "size": 1, "key_id": "K"}))
    recorder(Event("progress", "", {}, level="progress"))
    recorder(Event("drive-opened", "", {"drive": str(tmp_path)}))
    recorder(Event("chunk-written", "", {"chunk": 1, "drive": str(tmp_path), "blake3": "1" * 64, "length": 1}))
    assert len(seen) == 4
    events = custody.read_log(local_log.local_log_path(TID))
    custody.check_chain(events, TID, "local")
    assert [e["type"] for e in events] == ["pack-started", "chunk-written"]
    assert events[1]["digests"] == {"blake3": "1" * 64} and events[1]["media"]["path"] == str(tmp_path)


def test_recorder_reuses_the_medium_pack_reports_with_drive_opened(tmp_path):
    recorder = custody_record.Recorder()
    recorder(Event("pack-started", "", {"transfer_id": TID}))
    medium = {"label": "USB1", "fs_type": "exfat", "capacity": 64, "serial": None, "ratio": 0.5}
    recorder(Event("drive-opened", "", {"drive": str(tmp_path), "medium": medium}))
    recorder(Event("chunk-written", "", {"chunk": 1, "drive": str(tmp_path), "blake3": "1" * 64}))
    events = custody.read_log(local_log.local_log_path(TID))
    assert events[-1]["media"] == {"label": "USB1", "fs_type": "exfat", "capacity": 64, "path": str(tmp_path)}


def test_a_damaged_local_log_is_kept_aside_not_overwritten(tmp_path):
    actor = custody_record.Actor()
    events: list[dict] = []
    for kind in ("pack-started", "packed"):
        custody.chain(events, custody_record.new_event(kind, TID, actor))
    _drive_with_log(tmp_path / "d1", events)
    path = local_log.local_log_path(TID)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not json\n")
    warnings: list[Event] = []
    assert local_log.continue_chain(TID, [tmp_path], Reporter(warnings.append), TRUSTED) == events
    assert [w.kind for w in warnings] == ["custody-local-damaged"]
    kept = list(path.parent.glob(f"{path.name}.damaged-*"))
    assert len(kept) == 1 and kept[0].read_bytes() == b"not json\n" and not path.exists()


def _resume_after_first_drive(tmp_path, destinations):
    first, second = tmp_path / "d1", tmp_path / "d2"
    for drive in (first, second):
        (drive / layout.folder_name(TID)).mkdir(parents=True)
    earlier = custody_record.Recorder()
    earlier(Event("pack-started", "", {"transfer_id": TID, "destinations": [str(first)]}))
    earlier(Event("drive-opened", "", {"drive": str(first)}))
    earlier(Event("drive-sealed", "", {"drive": str(first)}))
    earlier(Event("drive-safe-to-remove", "", {"drive": str(first)}))
    resumed = custody_record.Recorder()
    resumed(Event("pack-started", "", {"transfer_id": TID, "resumed": True,
                                       "destinations": [str(d) for d in destinations(first, second)]}))
    resumed(Event("drive-opened", "", {"drive": str(second)}))
    resumed(Event("pack-finished", "", {"transfer_id": TID, "blake3": "1" * 64}))
    return first, second


def test_a_resumed_pack_updates_the_log_on_drives_an_earlier_run_filled_when_given_again(tmp_path):
    first, second = _resume_after_first_drive(tmp_path, lambda first, second: [first, second])
    for drive in (first, second):
        events = custody.read_log(drive / layout.folder_name(TID) / custody.LOG_NAME)
        custody.check_chain(events, TID, str(drive))
        assert [e["type"] for e in events] == ["pack-started", "drive-finished", "pack-started",
                                               "drive-finished", "packed"]
    assert events[2]["details"] == {"resumed": True}


def test_a_resumed_pack_leaves_alone_an_earlier_drive_that_is_merely_still_mounted(tmp_path):
    """It was called safe to remove: the operator may be pulling it right now."""
    first, second = _resume_after_first_drive(tmp_path, lambda first, second: [second])
    events = custody.read_log(first / layout.folder_name(TID) / custody.LOG_NAME)
    assert [e["type"] for e in events] == ["pack-started", "drive-finished"]
    events = custody.read_log(second / layout.folder_name(TID) / custody.LOG_NAME)
    assert [e["type"] for e in events][-1] == "packed"
