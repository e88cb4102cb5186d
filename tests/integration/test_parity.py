"""pack --parity on real size-limited tmpfs drives: lose a drive, damage chunks, still deliver.

Every test packs through the installed CLI and unpacks with some drives
withheld or some chunk files damaged; the output must be byte-identical or
the run must fail with exit 3/4 naming what is missing, never a wrong file.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import default_public_key, transfer_folder

MB = 10**6


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def half_compressible(path: Path, size: int) -> Path:
    """Text and random bytes in turn: zstd stores about half."""
    text = b"".join(b"%08d airgap parity line\n" % i for i in range(200))[:4096]
    with open(path, "wb") as handle:
        while handle.tell() < size:
            handle.write(text[: size - handle.tell()])
            handle.write(os.urandom(min(4096, max(0, size - handle.tell()))))
    return path


def unpack(cli, sources, out, *extra):
    return cli("unpack", *sources, out, "--trust", default_public_key(), "--no-prompt", *extra)


def chunk_files(drive: Path) -> list[Path]:
    if not list(drive.glob("airgap-*")):
        return []  # a drive pack did not need
    return sorted(p for p in transfer_folder(drive).iterdir() if ".chunk" in p.name)


def flip_a_bit(path: Path, at: int = 1000) -> None:
    with open(path, "r+b") as handle:
        handle.seek(at)
        byte = handle.read(1)
        handle.seek(at)
        handle.write(bytes([byte[0] ^ 0x10]))


@pytest.fixture
def five(tmpfs):
    """Four data drives and one for parity."""
    return [tmpfs("14M", f"data{i}") for i in range(1, 5)] + [tmpfs("14M", "parity")]


def test_any_one_drive_withheld_unpacks_identical(five, random_file, cli, tmp_path):
    source = random_file(36 * MB)
    packed = cli("pack", source, *five, "--parity", "1", "--chunk-size", "3MB", "--no-prompt")
    assert packed.code == 0, packed.output
    assert "any 1 drive(s) may be lost" in packed.output
    parity_folder = transfer_folder(five[-1])
    assert sorted(p.name for p in parity_folder.glob("*.parity")) and not list(parity_folder.glob("*.chunk"))
    if shutil.which("b3sum"):  # stock b3sum checks the parity drive like any other
        checked = subprocess.run(["b3sum", "-c", "B3SUMS"], cwd=parity_folder, capture_output=True, text=True)
        assert checked.returncode == 0 and ".parity: OK" in checked.stdout, checked.stdout + checked.stderr
    status = cli("status", *five, "--trust", default_public_key())
    assert "all data present; parity: 1 more drive(s) may be lost" in status.output, status.output
    for withheld in range(5):
        present = [d for i, d in enumerate(five) if i != withheld]
        state = cli("status", *present, "--trust", default_public_key(), "--json")
        margin = json.loads(state.stdout.splitlines()[-1])["parity"]
        assert margin["short"] == 0 and margin["spare_drives"] == 0, margin
        out = tmp_path / f"out{withheld}"
        result = unpack(cli, present, out)
        assert result.code == 0, result.output
        assert sha(out / source.name) == sha(source)
        rebuilt = [line for line in result.output.splitlines() if "rebuilt from parity" in line]
        if withheld < 4:  # a data drive: its chunks are named as rebuilt
            assert len(rebuilt) == len(chunk_files(five[withheld])), result.output
        else:
            assert not rebuilt
        assert not list(out.glob(".*")), "no rebuild work files or partial output left"


def test_two_drives_withheld_with_parity_1_is_exit_3_naming_what_is_missing(five, random_file, cli, tmp_path):
    source = random_file(36 * MB)
    assert cli("pack", source, *five, "--parity", "1", "--chunk-size", "3MB", "--no-prompt").code == 0
    result = unpack(cli, [five[0], five[2], five[4]], tmp_path / "out")
    assert result.code == 3, result.output
    assert "chunks missing" in result.output and "parity cannot rebuild them" in result.output
    assert "'data2'" in result.output and "'data4'" in result.output
    assert not (tmp_path / "out" / source.name).exists()
    status = cli("status", five[0], five[2], five[4], "--trust", default_public_key())
    assert "not rebuildable" in status.output and "short" in status.output
    # The data drive and parity drive gone together: the same.
    result = unpack(cli, five[1:4], tmp_path / "out2")
    assert result.code == 3 and "parity files missing too" in result.output, result.output


def test_parity_2_rebuilds_one_corrupt_chunk_on_each_of_two_drives(tmpfs, random_file, cli, tmp_path):
    drives = [tmpfs("14M") for _ in range(4)] + [tmpfs("14M") for _ in range(2)]
    source = random_file(30 * MB)
    packed = cli("pack", source, *drives, "--parity", "2", "--chunk-size", "3MB", "--no-prompt")
    assert packed.code == 0, packed.output
    flip_a_bit(chunk_files(drives[0])[0])
    flip_a_bit(chunk_files(drives[3])[0], at=5)
    verify = cli("verify", *drives, "--trust", default_public_key())
    assert verify.code == 0, verify.output
    assert "2 chunk(s) corrupt" in verify.output and "parity can rebuild them" in verify.output
    result = unpack(cli, drives, tmp_path / "out")
    assert result.code == 0, result.output
    assert sha(tmp_path / "out" / source.name) == sha(source)
    assert result.output.count("rebuilt from parity") == 2
    # A third damaged chunk in the same stripe is beyond the budget: integrity failure, no output.
    flip_a_bit(chunk_files(drives[1])[0])
    verify = cli("verify", *drives, "--trust", default_public_key())
    assert verify.code == 4 and "not rebuildable" in verify.output, verify.output
    result = unpack(cli, drives, tmp_path / "out3")
    assert result.code == 4, result.output
    assert "only bad copies" in result.output
    assert not (tmp_path / "out3" / source.name).exists()


def test_corrupt_parity_file_is_set_aside(five, random_file, cli, tmp_path):
    source = random_file(24 * MB)
    assert cli("pack", source, *five, "--parity", "1", "--chunk-size", "3MB", "--no-prompt").code == 0
    for parity in transfer_folder(five[-1]).glob("*.parity"):
        flip_a_bit(parity, at=7)
    verify = cli("verify", *five, "--trust", default_public_key())
    assert verify.code == 0 and "corrupt" in verify.output
    result = unpack(cli, five[1:], tmp_path / "out")  # drive 1 gone, parity bad: cannot rebuild
    assert result.code == 3, result.output
    assert "not used for rebuilding" in result.output
    assert not (tmp_path / "out" / source.name).exists()


def test_parity_with_compressed_chunks(tmpfs, cli, tmp_path):
    data = [tmpfs("10M") for _ in range(4)]
    parity = tmpfs("10M")
    source = half_compressible(tmp_path / "logs.txt", 30 * MB)
    packed = cli("pack", source, *data, parity, "--parity", "1", "--compress", "zstd", "--chunk-size", "2MB",
                 "--no-prompt")
    assert packed.code == 0, packed.output
    used = [d for d in data if chunk_files(d)]
    assert len(used) >= 2 and all(p.name.endswith(".chunk.zst") for p in chunk_files(used[0]))
    for withheld in used:
        out = tmp_path / f"out-{withheld.name}"
        result = unpack(cli, [d for d in used if d != withheld] + [parity], out)
        assert result.code == 0, result.output
        assert sha(out / source.name) == sha(source)
        assert "rebuilt from parity" in result.output


def test_dry_run_says_how_many_drives_with_parity(five, random_file, cli):
    source = random_file(36 * MB)
    result = cli("pack", source, *five, "--parity", "1", "--chunk-size", "3MB", "--dry-run", "--json")
    assert result.code == 0, result.output
    plan = json.loads(result.stdout.splitlines()[-1])
    assert plan["parity"]["drives"] == 1 and plan["parity"]["drives_in_all"] == plan["drives_needed"] + 1
    assert plan["parity"]["destinations"] == [str(five[-1])]
    assert not list(five[0].iterdir())


def test_parity_drive_too_small_is_refused_before_writing(tmpfs, random_file, cli):
    drives = [tmpfs("14M") for _ in range(2)] + [tmpfs("4M")]
    source = random_file(20 * MB)
    result = cli("pack", source, *drives, "--parity", "1", "--chunk-size", "3MB", "--no-prompt")
    assert result.code == 6, result.output
    assert "parity drive" in result.output and "needs" in result.output
    assert not [p for d in drives for p in d.rglob("*.chunk")]


def test_parity_needs_its_drives_with_no_prompt(tmpfs, random_file, cli):
    drive = tmpfs("14M")
    result = cli("pack", random_file(2 * MB), drive, "--parity", "1", "--no-prompt")
    assert result.code == 2 and "needs at least 2 destinations" in result.output


CHILD = r'''
import os, signal, sys
from airgap_transfer import cli
marker, target = sys.argv[1], int(sys.argv[2])
seen = {"n": 0}
real_write = os.write
def write(fd, data):
    if marker in os.readlink(f"/proc/self/fd/{fd}"):
        seen["n"] += len(data)
        if seen["n"] >= target:
            os.kill(os.getpid(), signal.SIGKILL)
    return real_write(fd, data)
os.write = write
sys.exit(cli.main(sys.argv[3:]))
'''


def killed_at(marker: str, target: int, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CHILD, marker, str(target), *map(str, args)],
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("marker, target", [(".chunk", 5 * MB), (".parity", 1), (".parity", 4 * MB)])
def test_pack_killed_then_resumed_still_survives_a_lost_drive(five, random_file, cli, tmp_path, marker, target):
    source = random_file(24 * MB)
    args = ["pack", source, *five, "--parity", "1", "--chunk-size", "3MB", "--no-prompt"]
    assert killed_at(marker, target, *args).returncode == -signal.SIGKILL
    resumed = cli(*args)
    assert resumed.code == 0, resumed.output
    assert not [p for d in five for p in d.rglob(".*tmp-*")]
    result = unpack(cli, five[1:], tmp_path / "out")
    assert result.code == 0, result.output
    assert sha(tmp_path / "out" / source.name) == sha(source)


def test_unpack_killed_while_rebuilding_then_resumed(five, random_file, cli, tmp_path):
    source = random_file(24 * MB)
    assert cli("pack", source, *five, "--parity", "1", "--chunk-size", "3MB", "--no-prompt").code == 0
    out = tmp_path / "out"
    args = ["unpack", *five[1:], out, "--trust", default_public_key(), "--no-prompt"]
    assert killed_at(".rebuild", 2 * MB, *args).returncode == -signal.SIGKILL
    result = unpack(cli, five[1:], out)
    assert result.code == 0, result.output
    assert sha(out / source.name) == sha(source)
    assert not list(out.glob(".*"))


@pytest.mark.parametrize("compress", ["none", "zstd"])
def test_one_port_workflow_asks_for_the_parity_drive_last(tmpfs, tmp_path, compress):
    """Drives inserted one at a time: pack asks for data drives, then for the parity drive."""
    from airgap_transfer.engine.pack.packer import PackConfig, pack
    from airgap_transfer.engine.unpack.unpacker import UnpackConfig
    from airgap_transfer.engine.unpack.unpacker import unpack as unpack_engine
    from airgap_transfer.errors import IncompleteError

    source = half_compressible(tmp_path / "bundle.bin", 14 * MB)
    first, more = tmpfs("8M"), [tmpfs("8M") for _ in range(2)]
    parity = tmpfs("8M")
    asked = []

    def next_drive(request):
        asked.append(request)
        if request.parity:
            return parity
        return more[len([r for r in asked if not r.parity]) - 1]

    config = PackConfig(source=str(source), destinations=[first], chunk_size=2 * MB, compress=compress,
                        parity=1, next_drive=next_drive)
    if compress == "zstd":  # the data drives are gone when parity is due: a compressed chunk cannot be re-read
        with pytest.raises(IncompleteError, match="no longer mounted"):
            pack(config)
        assert not any(r.parity for r in asked), "refused before asking for a parity drive"
        resumed = pack(PackConfig(source=str(source), destinations=[first, *more, parity], chunk_size=2 * MB,
                                  compress=compress, parity=1, next_drive=None, resume=True))
        assert resumed.parity == 1
    else:
        result = pack(config)
        assert [r.parity for r in asked][-1] == 1 and not any(r.parity for r in asked[:-1])
        assert result.parity_drives == [str(parity)]
    data = [d for d in [first, *more] if list(d.glob("airgap-*"))]
    assert len(data) >= 2
    for lost in data:
        out = tmp_path / f"out-{lost.name}"
        got = unpack_engine(UnpackConfig(sources=[d for d in data if d != lost] + [parity], output_dir=out,
                                         trust=[str(default_public_key())]))
        assert sha(got.output) == sha(source)


def test_parity_written_alongside_is_redone_when_a_drive_fills_early(tmpfs, random_file, monkeypatch, tmp_path):
    """Drives at once: parity is encoded while they are written; a drive that fills early moves
    chunks, so the planned stripes no longer hold and the parity is written again, correctly."""
    from airgap_transfer.engine.pack.packer import PackConfig, pack
    from airgap_transfer.engine.unpack.unpacker import UnpackConfig
    from airgap_transfer.engine.unpack.unpacker import unpack as unpack_engine
    from tests.integration.test_drives import _filling_write

    source = random_file(30 * MB)
    data = [tmpfs("24M") for _ in range(3)]
    parity = tmpfs("24M")
    state = _filling_write(monkeypatch, data[1], "-000005.chunk", 2 * 2**20)
    events = []
    result = pack(PackConfig(source=str(source), destinations=[*data, parity], chunk_size=4 * MB, parity=1),
                  events.append)
    assert state["filled"] and any(e.kind == "drive-full" for e in events)
    assert [e.kind for e in events].count("parity-redone") == 1
    assert result.parity_drives == [str(parity)]
    (data[1] / "filler.bin").unlink()
    holding = [d for d in data if chunk_files(d)]
    for lost in holding:
        out = unpack_engine(UnpackConfig(sources=[d for d in holding if d != lost] + [parity],
                                         output_dir=tmp_path / f"out-{lost.name}", trust=[str(default_public_key())]))
        assert sha(out.output) == sha(source)


def test_parity_written_alongside_is_adopted_when_the_plan_held(five, random_file, tmp_path):
    from airgap_transfer.engine.pack.packer import PackConfig, pack

    source = random_file(24 * MB)
    events = []
    pack(PackConfig(source=str(source), destinations=five, chunk_size=3 * MB, parity=1), events.append)
    kinds = [e.kind for e in events]
    assert "parity-redone" not in kinds and kinds.count("parity-written") >= 2
    # Encoded while the data was written: the parity drive was opened before the data was done.
    assert kinds.index("parity-written") < kinds.index("pack-finished")
    opened = [e.data["ordinal"] for e in events if e.kind == "drive-opened"]
    assert opened[0] == 5 and sorted(opened) == [1, 2, 3, 4, 5], "parity numbered after the data drives"


def test_dry_run_with_one_dest_plans_the_parity_drives_pack_will_ask_for(tmpfs, random_file, cli):
    drive = tmpfs("14M")
    result = cli("pack", random_file(6 * MB), drive, "--parity", "2", "--chunk-size", "3MB", "--dry-run")
    assert result.code == 0, result.output
    assert "parity: 2 more drive(s)" in result.output and "drives asked for at the end" in result.output


def test_a_missing_drive_and_its_stripes_parity_corrupt_says_which_is_wrong(five, random_file, cli, tmp_path):
    """Enough files are present, but the parity read back wrong: the message says so, not '0 more needed'."""
    source = random_file(36 * MB)
    assert cli("pack", source, *five, "--parity", "1", "--chunk-size", "3MB", "--no-prompt").code == 0
    for parity_file in transfer_folder(five[-1]).glob("*.parity"):
        flip_a_bit(parity_file)
    present = [d for i, d in enumerate(five) if i != 1]
    run = unpack(cli, present, tmp_path / "out")
    assert run.code in (3, 4), run.output
    assert "0 more chunk" not in run.stderr and "stripe(s) )" not in run.stderr, run.stderr
    assert "corrupt" in run.stderr
    assert not (tmp_path / "out" / source.name).exists()
