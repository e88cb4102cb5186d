"""Drives written by the code before the "One house" refactor read the same with today's code.

tests/fixtures/pre_refactor/drives holds the transfer folders that main at
44425d2 wrote (a file bundle over two drives with SHA-256, a folder bundle
compressed with zstd), and expected.json what that code's status, verify,
unpack and report said of them.  Today's installed CLI must say the same and
rebuild the same bytes: the refactor changed neither the on-drive format nor
any command's behaviour.  make_fixture.py there says how the fixture was made.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
from pathlib import Path

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


@pytest.mark.parametrize("what", sorted(EXPECTED))
def test_today_reads_old_drives_as_the_old_code_did(outputs, what):
    assert outputs[what] == EXPECTED[what]


def test_the_bundles_come_back_byte_for_byte():
    maker = _maker()
    assert EXPECTED["file.tree"] == {
        "bundle.bin": hashlib.sha256(maker.deterministic_bytes(maker.FILE_BUNDLE_SIZE, b"file"))
        .hexdigest()}
    assert set(EXPECTED["folder.tree"]) == {"site/README.txt", "site/docs/notes.txt", "site/docs/random.bin"}
