"""A drive's index is copied once, hashed as it is read, verified, then parsed from the copy.

A large index (10^5 chunks make 26 MB) is spilled to a private file in the
state folder instead of being held beside its parsed chunks; whatever the
drive does to its file after that, the bytes parsed are the bytes verified.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from airgap_transfer.engine.pack.packer import PackConfig, pack
from airgap_transfer.engine.unpack import catalog
from airgap_transfer.errors import FormatError, TrustError
from airgap_transfer.events import Reporter
from airgap_transfer.format import layout
from airgap_transfer.format.index import Index
from airgap_transfer.state import paths
from airgap_transfer.trust import keys
from tests.conftest import transfer_folder


@pytest.fixture
def packed(tmp_path):
    source = tmp_path / "bundle.bin"
    source.write_bytes(os.urandom(300_000))
    drive = tmp_path / "drive"
    drive.mkdir()
    pack(PackConfig(source=str(source), destinations=[drive], chunk_size=4096, compress="none"))
    return drive


def _load(drive):
    transfer = catalog.find_transfer([drive], None, Reporter(None))
    return catalog.load_index(transfer, keys.trusted_keys([]), False, Reporter(None))


@pytest.mark.parametrize("in_memory", [catalog.INDEX_IN_MEMORY, 1], ids=["in-memory", "spilled"])
def test_a_copy_in_memory_or_spilled_gives_the_same_verified_index(packed, monkeypatch, in_memory):
    monkeypatch.setattr(catalog, "INDEX_IN_MEMORY", in_memory)
    folder = transfer_folder(packed)
    loaded = _load(packed)
    assert loaded.trusted and len(loaded.index.chunks) == 74
    assert loaded.index == Index.from_bytes((folder / layout.INDEX_NAME).read_bytes())


def test_a_spilled_copy_lives_in_the_state_folder_and_is_gone_afterwards(packed, monkeypatch):
    monkeypatch.setattr(catalog, "INDEX_IN_MEMORY", 1)
    copy = catalog.IndexCopy(transfer_folder(packed) / layout.INDEX_NAME)
    try:
        assert copy.size == (transfer_folder(packed) / layout.INDEX_NAME).stat().st_size
        assert copy.file._rolled  # type: ignore[attr-defined]
        where = os.readlink(f"/proc/self/fd/{copy.file.fileno()}")  # on disk, not in memory (fileno would
        assert where.startswith(str(paths.state_dir()) + "/")  # roll it over, so only after the check above)
    finally:
        copy.close()
    assert not list(paths.state_dir().glob("tmp*"))  # an unnamed (or unlinked) file: nothing left behind


def test_the_drive_changing_its_index_after_the_copy_changes_nothing_parsed(packed, monkeypatch):
    """A hostile drive (or FUSE file system) swapping the file between check and parse gains nothing."""
    monkeypatch.setattr(catalog, "INDEX_IN_MEMORY", 1)
    folder = transfer_folder(packed)
    index_path = folder / layout.INDEX_NAME
    copy = catalog.IndexCopy(index_path)
    good = index_path.read_bytes()
    index_path.write_bytes(good.replace(b"bundle.bin", b"evil!!.bin"))
    try:
        parsed = Index.from_bytes(copy.file)
    finally:
        copy.close()
    assert parsed == Index.from_bytes(good)


def test_a_flipped_byte_in_a_spilled_index_is_refused_before_parsing(packed, monkeypatch):
    monkeypatch.setattr(catalog, "INDEX_IN_MEMORY", 1)
    index_path = transfer_folder(packed) / layout.INDEX_NAME
    data = bytearray(index_path.read_bytes())
    data[len(data) // 2] ^= 1
    index_path.write_bytes(data)
    with pytest.raises(TrustError, match="does not match"):
        _load(packed)


def test_an_index_over_the_limit_is_refused_while_copied(packed, monkeypatch):
    monkeypatch.setattr(catalog.limits, "MAX_INDEX_BYTES", 1000)
    with pytest.raises(FormatError, match="over the 1000-byte limit"):
        catalog.IndexCopy(transfer_folder(packed) / layout.INDEX_NAME)


def test_an_index_that_is_a_fifo_is_not_opened_for_reading(packed):
    index_path = transfer_folder(packed) / layout.INDEX_NAME
    index_path.unlink()
    os.mkfifo(index_path)
    with pytest.raises(FormatError, match="not a regular file"):
        catalog.IndexCopy(index_path)


@pytest.mark.skipif(not shutil.which("minisign"), reason="needs stock minisign (apt: minisign)")
def test_a_large_index_with_a_legacy_signature_is_checked_against_its_bytes(packed, monkeypatch, tmp_path):
    """`minisign -S -l` signs the raw bytes, not their prehash: the spilled copy is read back whole for it."""
    monkeypatch.setattr(catalog, "INDEX_IN_MEMORY", 1)
    folder = transfer_folder(packed)
    secret, public = tmp_path / "legacy.key", tmp_path / "legacy.pub"
    subprocess.run(["minisign", "-G", "-W", "-s", str(secret), "-p", str(public)], check=True, capture_output=True)
    signature = folder / layout.SIGNATURE_NAME
    subprocess.run(["minisign", "-S", "-l", "-W", "-s", str(secret), "-m", str(folder / layout.INDEX_NAME),
                    "-x", str(signature), "-t", "re-signed"], check=True, capture_output=True)
    transfer = catalog.find_transfer([packed], None, Reporter(None))
    trusted = keys.trusted_keys([str(public)])
    with pytest.raises(TrustError, match="names signer"):  # verified as legacy; then its signer field disagrees
        catalog.load_index(transfer, trusted, False, Reporter(None))


def test_load_index_parses_the_verified_copy_not_the_drive_file(packed, monkeypatch):
    """The drive rewrites its index right after the signature check: what is parsed is still what was checked."""
    monkeypatch.setattr(catalog, "INDEX_IN_MEMORY", 1)
    index_path = transfer_folder(packed) / layout.INDEX_NAME
    good = index_path.read_bytes()
    verify = keys.verify_index_prehashed

    def verify_then_swap(*args, **kwargs):
        signer = verify(*args, **kwargs)
        index_path.write_bytes(good.replace(b"bundle.bin", b"evil!!.bin"))
        return signer

    monkeypatch.setattr(catalog.keys, "verify_index_prehashed", verify_then_swap)
    assert _load(packed).index == Index.from_bytes(good)
