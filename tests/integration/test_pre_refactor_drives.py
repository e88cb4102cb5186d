"""Drives written by the code before the "One house" refactor read the same with today's code.

tests/fixtures/pre_refactor/drives holds the transfer folders that main at
44425d2 wrote (a file bundle over two drives with SHA-256, a folder bundle
compressed with zstd), and expected.json what that code's status, verify,
unpack and report said of them.  Today's installed CLI must say the same and
rebuild the same bytes: the refactor changed neither the on-drive format nor
any command's behaviour.  A later feature may add fields to a result (parity
added ``"parity": null``), but nothing the old code said may change or vanish.
make_fixture.py there says how the fixture was made.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

FIXTURE = Path(__file__).parent.parent / "fixtures" / "pre_refactor"


def _maker():
    spec = importlib.util.spec_from_file_location("make_fixture", FIXTURE / "make_fixture.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    maker = _maker()
    work = tmp_path_factory.mktemp("pre-refactor")
    drives = []
    for n in (1, 2, 3):
        copy = work / "drives" / f"drive{n}"
        shutil.copytree(FIXTURE / "drives" / f"drive{n}", copy)
        drives.append(copy)
    return maker.read_back(drives, maker.environment(work / "receiver"), work)


EXPECTED = json.loads((FIXTURE / "expected.json").read_text())


def _as_old(new: Any, old: Any) -> Any:
    """``new`` cut down to the keys ``old`` has (recursively): fields added since are left out."""
    if isinstance(old, dict) and isinstance(new, dict):
        return {k: _as_old(new[k], v) if k in new else "<missing>" for k, v in old.items()}
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [_as_old(n, o) for n, o in zip(new, old, strict=True)]
    return new


@pytest.mark.parametrize("what", sorted(EXPECTED))
def test_today_reads_old_drives_as_the_old_code_did(outputs, what):
    assert _as_old(outputs[what], EXPECTED[what]) == EXPECTED[what]


def test_a_changed_or_vanished_field_is_caught():
    old = {"counts": {"good": 4}, "chunks": [{"seq": 1, "state": "good"}]}
    assert _as_old({"counts": {"good": 4, "new": 1}, "chunks": [{"seq": 1, "state": "good", "x": 2}]}, old) == old
    assert _as_old({"counts": {"good": 3}, "chunks": [{"seq": 1, "state": "good"}]}, old) != old
    assert _as_old({"counts": {}, "chunks": [{"seq": 1, "state": "good"}]}, old) != old
    assert _as_old({"counts": {"good": 4}, "chunks": []}, old) != old


def test_the_bundles_come_back_byte_for_byte():
    maker = _maker()
    assert EXPECTED["file.tree"] == {
        "bundle.bin": hashlib.sha256(maker.deterministic_bytes(maker.FILE_BUNDLE_SIZE, b"file"))
        .hexdigest()}
    assert set(EXPECTED["folder.tree"]) == {"site/README.txt", "site/docs/notes.txt", "site/docs/random.bin"}
