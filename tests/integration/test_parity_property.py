"""Hypothesis over real tmpfs drives: random bundles, chunk sizes, drive and parity counts, losses.

Any loss within the budget (each stripe lost at most m of its shards) must
unpack to identical bytes; any loss beyond it must fail with exit 3 or 4 and
leave no output.  Never a wrong file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from airgap_transfer.engine.pack.packer import PackConfig, pack
from airgap_transfer.engine.parity import stripes
from airgap_transfer.engine.unpack.unpacker import UnpackConfig, unpack
from airgap_transfer.errors import IncompleteError, IntegrityError, NoSpaceError
from airgap_transfer.format.index import Index
from tests.conftest import IS_ROOT, default_public_key, transfer_folder

pytestmark = pytest.mark.skipif(not IS_ROOT, reason="needs root to mount tmpfs")
KB = 1000


class Drives:
    def __init__(self, base: Path) -> None:
        self.base, self.mounted = base, []

    def mount(self, size: str) -> Path:
        point = self.base / f"d-{uuid.uuid4().hex[:8]}"
        point.mkdir(parents=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)], check=True)
        self.mounted.append(point)
        return point

    def close(self) -> None:
        for point in self.mounted:
            subprocess.run(["umount", "-l", str(point)], capture_output=True)


@settings(max_examples=14, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(size=st.integers(1, 5_000 * KB), chunk=st.integers(200 * KB, 2_000 * KB), data_drives=st.integers(1, 4),
       m=st.integers(1, 2), plan=st.data())
def test_any_loss_within_parity_rebuilds_and_beyond_is_reported(tmp_path, size, chunk, data_drives, m, plan):
    drives = Drives(tmp_path / uuid.uuid4().hex[:6])
    try:
        source = tmp_path / f"bundle-{uuid.uuid4().hex[:6]}.bin"
        source.write_bytes(os.urandom(size))
        data = [drives.mount("4M") for _ in range(data_drives)]
        parity = [drives.mount("6M") for _ in range(m)]
        try:
            pack(PackConfig(source=str(source), destinations=data + parity, chunk_size=chunk, compress="none",
                            parity=m, readback=False))
        except NoSpaceError:
            assume(False)
        used = [d for d in data if list(d.glob("airgap-*"))]
        index = Index.from_bytes((transfer_folder(parity[0]) / "index.agt").read_bytes())
        withheld = plan.draw(st.lists(st.sampled_from(used + parity), max_size=m + 1, unique=True))
        # In drive order, then by name: never by path, whose random mount names would change what the same
        # draws pick when hypothesis replays an example (FlakyStrategyDefinition).
        files = [p for d in used if d not in withheld for p in sorted(transfer_folder(d).glob("*.chunk"))]
        damaged = plan.draw(st.lists(st.sampled_from(files), max_size=2, unique=True)) if files else []
        for path in damaged:
            with open(path, "r+b") as handle:
                # Read the byte, then seek back: writing after read(1) changed the next byte instead, which
                # 1 time in 256 already held the value written, so a "damaged" chunk was intact and unpack
                # rightly succeeded "beyond the budget".
                at = plan.draw(st.integers(0, path.stat().st_size - 1))
                handle.seek(at)
                old = handle.read(1)[0]
                handle.seek(at)
                handle.write(bytes([old ^ 0xFF]))
        by_file = {c.file: c for c in index.chunks}
        gone_drives = {d.ordinal for d in index.drives if d.label in {root.name for root in withheld}}
        lost = {c.seq for c in index.chunks if c.drive in gone_drives} | {by_file[p.name].seq for p in damaged}
        lost_parity = {f.file for _, _, f in index.parity.files() if f.drive in gone_drives}
        within = all(sum(1 for s in stripe.chunks if s in lost) + sum(1 for f in stripe.parity if f.file in lost_parity)
                     <= m for stripe in index.parity.stripes)
        assert [s.chunks for s in index.parity.stripes] == [[c.seq for c in members]
                                                             for members in stripes.plan(index.chunks)]
        out = tmp_path / f"out-{uuid.uuid4().hex[:6]}"
        present = [d for d in used + parity if d not in withheld]
        try:
            result = unpack(UnpackConfig(sources=present, output_dir=out, trust=[str(default_public_key())]))
        except (IncompleteError, IntegrityError) as exc:
            assert not within, f"within the budget, yet: {exc.one_line()}"
            assert not (out / source.name).exists()
            return
        assert within, "beyond the budget, yet unpack succeeded"
        assert result.output.read_bytes() == source.read_bytes()
    finally:
        drives.close()
        shutil.rmtree(tmp_path, ignore_errors=True)
        tmp_path.mkdir(exist_ok=True)
