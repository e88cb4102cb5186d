"""Event kinds are one typed set; custody records exactly the kinds it has a handler for."""

from __future__ import annotations

import json
import re
from pathlib import Path

import airgap_transfer
from airgap_transfer.custody import recorder
from airgap_transfer.events import Event, Kind

PACKAGE = Path(airgap_transfer.__file__).parent

# The engine events that become custody records (docs/FORMAT.md §9).
RECORDED = {Kind.PACK_STARTED, Kind.DRIVE_OPENED, Kind.CHUNK_WRITTEN, Kind.PARITY_WRITTEN, Kind.DRIVE_SEALED,
            Kind.DRIVE_SAFE_TO_REMOVE, Kind.PACK_FINISHED, Kind.UNPACK_STARTED, Kind.CHUNK_VERIFIED, Kind.CHUNK_REBUILT, Kind.UNPACK_FINISHED}


def test_kind_values_are_unique_kebab_case_names():
    values = [kind.value for kind in Kind]
    assert len(values) == len(set(values))
    assert all(re.fullmatch(r"[a-z]+(-[a-z]+)*", value) for value in values)


def test_an_event_prints_its_kind_as_the_plain_string():
    document = Event(Kind.DRIVE_SEALED, "done", {"drive": "/m"}).to_dict()
    assert json.loads(json.dumps(document))["event"] == "drive-sealed"
    assert type(document["event"]) is str


def test_every_recorded_kind_has_a_handler_and_nothing_else_does():
    assert set(recorder._HANDLERS) == RECORDED
    assert all(callable(handler) for handler in recorder._HANDLERS.values())


def test_every_kind_is_emitted_somewhere():
    """A kind no module names is dead; a renamed one fails type check where it is used."""
    source = "\n".join(p.read_text() for p in PACKAGE.rglob("*.py"))
    unused = [kind.name for kind in Kind if f"Kind.{kind.name}" not in source]
    assert unused == []


def test_an_unhandled_kind_is_only_forwarded():
    seen: list[Event] = []
    record = recorder.Recorder(seen.append)
    record(Event(Kind.CHUNK_WRITTEN, "", {"chunk": 1, "drive": "/nowhere"}))  # no transfer yet: not recorded
    record(Event(Kind.DRIVE_FULL, "full"))
    assert [e.kind for e in seen] == [Kind.CHUNK_WRITTEN, Kind.DRIVE_FULL]
    assert record.events == [] and record.transfer_id is None
