"""hypothesis fuzzing of chunk discovery: whatever a drive holds, only safe files are chunks.

A generated drive mixes well-named chunks, chunks of other transfers, stray
names, symlinks (to files, folders, loops, outside), FIFOs and nested folders.
``discover`` must never raise, never follow a symlink, never leave the source,
and offer only regular files whose names match the transfer's pattern.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airgap_transfer.engine.unpack import catalog
from airgap_transfer.events import Reporter
from airgap_transfer.format import layout

TRANSFER = "0123456789abcdef0123456789abcdef"
OTHER = "fedcba9876543210fedcba9876543210"

names = st.one_of(
    st.builds(lambda t, n: layout.chunk_file_name(t, n), st.sampled_from([TRANSFER, OTHER]), st.integers(1, 999999)),
    st.sampled_from([layout.INDEX_NAME, layout.SIGNATURE_NAME, "B3SUMS", "..chunk", "x.chunk",
                     f"{TRANSFER[:12]}-1.chunk", f"{TRANSFER[:12]}-0000001.chunk", f"{TRANSFER[:12]}-000001.chunk\n"]),
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="/\0"), min_size=1, max_size=20)
    .filter(lambda n: n not in (".", "..") and len(n.encode()) < 200),
)
kinds = st.sampled_from(["file", "symlink-file", "symlink-dir", "symlink-outside", "symlink-loop", "fifo", "dir"])
entries = st.lists(st.tuples(st.sampled_from(["", f"airgap-{TRANSFER}", f"airgap-{OTHER}",
                                              f"sub/airgap-{TRANSFER}", "a/b/c/d/airgap-" + TRANSFER]),
                             names, kinds), max_size=25)


def build(root: Path, outside: Path, plan) -> None:
    for folder, name, kind in plan:
        where = root / folder
        where.mkdir(parents=True, exist_ok=True)
        path = where / name
        if os.path.lexists(path):
            continue
        if kind == "file":
            path.write_bytes(b"data")
        elif kind == "symlink-file":
            path.symlink_to(outside / "secret")
        elif kind == "symlink-dir":
            path.symlink_to(outside)
        elif kind == "symlink-outside":
            path.symlink_to("/etc/passwd")
        elif kind == "symlink-loop":
            path.symlink_to(path)
        elif kind == "fifo":
            os.mkfifo(path)
        else:
            path.mkdir()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entries)
def test_discovery_offers_only_safe_chunks(plan) -> None:
    base = Path(tempfile.mkdtemp(prefix="agt-fuzz-"))
    try:
        root, outside = base / "drive", base / "outside"
        outside.mkdir()
        (outside / "secret").write_bytes(b"secret")
        (outside / f"airgap-{TRANSFER}").mkdir()  # a transfer folder only reachable via a symlink
        (outside / f"airgap-{TRANSFER}" / layout.chunk_file_name(TRANSFER, 1)).write_bytes(b"x")
        root.mkdir()
        build(root, outside, plan)
        for folder in layout.discover([root]):
            assert folder.path.resolve().is_relative_to(root.resolve())
            assert not folder.path.is_symlink()
            for name, path in folder.chunks.items():
                info = os.lstat(path)
                assert stat.S_ISREG(info.st_mode), path
                assert layout.CHUNK_RE.fullmatch(name) and name.startswith(folder.transfer_id[:12])
                assert path.parent == folder.path
        for transfer_id in {f.transfer_id for f in layout.discover([root])}:
            transfer = catalog.find_transfer([root], transfer_id, Reporter(None))
            for name in {n for f in transfer.folders for n in f.chunks}:
                for path, drive in transfer.copies(name):
                    assert stat.S_ISREG(os.lstat(path).st_mode)
    finally:
        shutil.rmtree(base)


def test_discovery_stops_at_its_entry_budget(tmp_path) -> None:
    import pytest

    from airgap_transfer.errors import UsageError
    for i in range(30):
        (tmp_path / f"d{i}").mkdir()
        for j in range(10):
            (tmp_path / f"d{i}" / f"f{j}").write_bytes(b"")
    assert layout.discover([tmp_path], max_entries=1000) == []
    with pytest.raises(UsageError, match="more than 100 entries"):
        layout.discover([tmp_path], max_entries=100)
