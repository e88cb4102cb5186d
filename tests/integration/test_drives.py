"""Drives as they really are: real tmpfs and exFAT mounts, full drives, swaps, read-back."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from airgap_transfer.engine.pack.packer import PackConfig, pack
from airgap_transfer.engine.unpack.unpacker import UnpackConfig, unpack
from airgap_transfer.errors import IncompleteError, IntegrityError
from airgap_transfer.format.index import Index
from tests.conftest import _cli_command, default_public_key, transfer_folder

MB = 10**6


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def chunk_files(drive: Path) -> list[Path]:
    return sorted(transfer_folder(drive).glob("*.chunk"))


def no_leftovers(drive: Path) -> bool:
    return not [p for p in drive.rglob(".*") if p.is_file()]


def test_auto_sizing_fills_three_small_drives(tmpfs, random_file, cli, tmp_path):
    source = random_file(60 * MB)
    drives = [tmpfs("24M") for _ in range(3)]
    result = cli("pack", source, *drives, "--no-prompt")
    assert result.code == 0, result.output
    for drive in drives:
        assert chunk_files(drive), f"{drive} got no chunk"
        assert no_leftovers(drive)
    # auto: one chunk per drive, as large as the drive allows
    assert [len(chunk_files(d)) for d in drives[:2]] == [1, 1]
    out = tmp_path / "out"
    assert cli("unpack", *drives, out, "--trust", default_public_key()).code == 0
    assert sha(out / source.name) == sha(source)


def test_exfat_drive_round_trip_and_media_identity(exfat, random_file, cli, tmp_path):
    source = random_file(20 * MB)
    drive = exfat("64M", label="AGTSTICK")
    result = cli("pack", source, drive, "--chunk-size", "8MB", "--no-prompt", "--json")
    assert result.code == 0, result.output
    opened = [json.loads(line) for line in result.stdout.splitlines() if '"drive-opened"' in line][0]
    assert opened["medium"]["fs_type"] == "exfat"
    assert opened["medium"]["label"] == "AGTSTICK"
    assert opened["medium"]["fs_uuid"]
    status = cli("status", drive, "--trust", default_public_key(), "--json")
    assert status.code == 0, status.output
    survey = json.loads(status.stdout.splitlines()[-1])
    assert survey["media"][0]["fs_type"] == "exfat" and survey["media"][0]["label"] == "AGTSTICK"
    out = tmp_path / "out"
    assert cli("unpack", drive, out, "--trust", default_public_key()).code == 0
    assert sha(out / source.name) == sha(source)


def _filling_write(monkeypatch, drive: Path, chunk_name: str, after: int) -> dict:
    """Make ``drive`` really fill up (ENOSPC from tmpfs) once ``after`` bytes of that chunk are written."""
    real_write = os.write
    state = {"chunk_bytes": 0, "filled": False, "real_write": real_write}

    def filling_write(fd, data):
        name = os.readlink(f"/proc/self/fd/{fd}")
        if chunk_name in name and str(drive) in name and not state["filled"]:
            state["chunk_bytes"] += len(data)
            if state["chunk_bytes"] > after:  # part of the chunk is on the drive: fill the rest
                state["filled"] = True
                _fill(drive / "filler.bin")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", filling_write)
    return state


def test_drive_filling_mid_chunk_moves_the_chunk_to_the_next_drive(tmpfs, random_file, monkeypatch, tmp_path):
    """Drives in turn: a real ENOSPC in the middle of chunk 2 sends it to drive 2, nothing partial stays."""
    source = random_file(40 * MB)
    first, second = tmpfs("48M"), tmpfs("48M")
    state = _filling_write(monkeypatch, first, "-000002.chunk", 8 * 2**20)
    events = []
    result = pack(PackConfig(source=str(source), destinations=[first, second], chunk_size=20 * MB,
                             parallel=False), events.append)
    assert state["filled"]
    assert any(e.kind == "drive-full" for e in events)
    assert [c.drive for c in result.chunks] == [1, 2]
    assert no_leftovers(first) and no_leftovers(second)
    assert [p.name.split("-")[1] for p in chunk_files(first)] == ["000001.chunk"]
    (first / "filler.bin").unlink()
    out = unpack(UnpackConfig(sources=[second, first], output_dir=tmp_path / "out",
                              trust=[str(default_public_key())]))
    assert sha(out.output) == sha(source)


def test_drives_written_at_once_share_the_bundle(tmpfs, random_file, cli, tmp_path):
    source = random_file(40 * MB)
    first, second = tmpfs("48M"), tmpfs("32M")
    result = cli("pack", source, first, second, "--chunk-size", "8MB", "--no-prompt", "--json")
    assert result.code == 0, result.output
    events = [json.loads(line) for line in result.stdout.splitlines()]
    at_once = [e for e in events if e.get("event") == "drives-at-once"]
    assert at_once and at_once[0]["bytes"] == [20 * MB, 20 * MB]
    assert [len(chunk_files(d)) for d in (first, second)] == [3, 3]  # 8 + 8 + 4 MB on each
    assert no_leftovers(first) and no_leftovers(second)
    out = tmp_path / "out"
    assert cli("unpack", second, first, out, "--trust", default_public_key()).code == 0
    assert sha(out / source.name) == sha(source)


def test_no_parallel_fills_the_drives_in_turn(tmpfs, random_file, cli):
    source = random_file(20 * MB)
    first, second = tmpfs("48M"), tmpfs("48M")
    result = cli("pack", source, first, second, "--chunk-size", "8MB", "--no-prompt", "--no-parallel")
    assert result.code == 0, result.output
    assert "one after another: --no-parallel was given" in result.stderr
    assert len(chunk_files(first)) == 3 and not list(second.glob("airgap-*"))


def test_drive_filling_while_written_at_once_sends_its_chunks_elsewhere(tmpfs, random_file, monkeypatch,
                                                                         tmp_path):
    """Written at once, drive 1 fills in chunk 2 (a real ENOSPC): chunk 2 goes to drive 2, which has room."""
    source = random_file(40 * MB)
    first, second = tmpfs("48M"), tmpfs("48M")
    state = _filling_write(monkeypatch, first, "-000002.chunk", 4 * 2**20)
    events = []
    result = pack(PackConfig(source=str(source), destinations=[first, second], chunk_size=10 * MB), events.append)
    assert state["filled"]
    full = [e for e in events if e.kind == "drive-full"]
    assert full and full[0].data["chunks"] == [2]
    assert [c.drive for c in result.chunks] == [1, 2, 2, 2]
    assert no_leftovers(first) and no_leftovers(second)
    (first / "filler.bin").unlink()
    out = unpack(UnpackConfig(sources=[first, second], output_dir=tmp_path / "out",
                              trust=[str(default_public_key())]))
    assert sha(out.output) == sha(source)


def test_drive_filling_at_once_with_no_room_left_anywhere_is_incomplete(tmpfs, random_file, monkeypatch, cli):
    source = random_file(40 * MB)
    first, second = tmpfs("32M"), tmpfs("24M")  # shares of 20 MB each leave drive 2 no room for 10 more
    state = _filling_write(monkeypatch, first, "-000002.chunk", 4 * 2**20)
    with pytest.raises(IncompleteError) as info:
        pack(PackConfig(source=str(source), destinations=[first, second], chunk_size=10 * MB))
    assert state["filled"] and info.value.exit_code == 3
    assert no_leftovers(first) and no_leftovers(second)
    (first / "filler.bin").unlink()
    monkeypatch.setattr(os, "write", state["real_write"])
    again = cli("pack", source, first, second, "--chunk-size", "10MB", "--no-prompt")
    assert again.code == 0, again.output
    assert "1 missing between them" in again.stderr


def _fill(path: Path) -> None:
    block = b"\0" * 2**20
    with open(path, "wb") as handle:
        try:
            while True:
                handle.write(block)
                handle.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC


def test_readback_catches_data_changed_on_the_medium(tmpfs, random_file, tmp_path):
    source = random_file(6 * MB)
    drive = tmpfs("32M")

    def corrupt(path: Path) -> None:
        if path.name.endswith("-000002.chunk"):
            with open(path, "r+b") as handle:
                handle.seek(1000)
                handle.write(b"\xff\x00\xff")

    with pytest.raises(IntegrityError) as info:
        pack(PackConfig(source=str(source), destinations=[drive], chunk_size=2 * MB,
                        after_chunk_written=corrupt))
    assert info.value.exit_code == 4
    assert "chunk 2" in info.value.one_line() and str(drive) in info.value.one_line()
    assert not list(transfer_folder(drive).glob("*-000002.chunk")), "a chunk known bad kept its final name"


def test_no_readback_is_recorded_in_the_index(tmpfs, random_file, cli):
    source = random_file(3 * MB)
    drive = tmpfs("16M")
    assert cli("pack", source, drive, "--no-readback", "--no-prompt").code == 0
    from airgap_transfer.format.index import Index
    index = Index.from_bytes((transfer_folder(drive) / "index.agt").read_bytes())
    assert index.readback is False


def _start(args: list) -> tuple[subprocess.Popen, list[str]]:
    proc = subprocess.Popen(_cli_command() + [str(a) for a in args], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(iter(proc.stderr.readline, "")), daemon=True).start()
    return proc, lines


def _wait_for(lines: list[str], text: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(text in line for line in lines):
            return
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    raise AssertionError(f"never saw {text!r}; stderr so far: {''.join(lines)}")


def test_one_port_pack_and_unpack_driven_through_stdin(tmpfs, random_file, tmp_path):
    source = random_file(30 * MB)
    first, second = tmpfs("20M"), tmpfs("20M")
    proc, lines = _start(["pack", source, first, "--chunk-size", "5MB"])
    _wait_for(lines, "insert drive 2", proc)
    assert any("can be removed" in line for line in lines), "drive 1 was not declared safe to remove"
    proc.stdin.write(f"{second}\n")
    proc.stdin.flush()
    assert proc.wait(timeout=300) == 0, "".join(lines)
    assert chunk_files(first) and chunk_files(second)

    out = tmp_path / "out"
    proc, lines = _start(["unpack", first, out, "--trust", default_public_key()])
    _wait_for(lines, "still needed", proc)
    proc.stdin.write(f"{second}\n")
    proc.stdin.flush()
    assert proc.wait(timeout=300) == 0, "".join(lines)
    assert sha(out / source.name) == sha(source)


def _snapshot(drive: Path) -> dict[str, tuple[int, bytes]]:
    return {str(p.relative_to(drive)): (p.stat().st_mtime_ns, p.read_bytes()) for p in drive.rglob("*") if p.is_file()}


def test_a_drive_called_safe_to_remove_is_never_written_again(tmpfs, random_file, cli, tmp_path):
    """The operator may be pulling it: a late write (the custody log at the end) can damage a FAT stick."""
    source = random_file(30 * MB)
    first, second = tmpfs("20M"), tmpfs("20M")
    proc, lines = _start(["pack", source, first, "--chunk-size", "5MB"])
    _wait_for(lines, "insert drive 2", proc)
    assert any("can be removed" in line for line in lines)
    released = _snapshot(first)
    proc.stdin.write(f"{second}\n")
    proc.stdin.flush()
    assert proc.wait(timeout=300) == 0, "".join(lines)
    assert _snapshot(first) == released, "drive 1 was written after it was called safe to remove"
    assert not any("custody log not written" in line for line in lines)
    # drive 1's log stops where it was sealed; the last drive has all of it, and the two agree
    verified = cli("report", tmp_path, "--verify", "--trust", default_public_key())
    assert verified.code == 0, verified.output
    unpacked = cli("unpack", first, second, tmp_path / "out", "--trust", default_public_key())
    assert unpacked.code == 0, unpacked.output
    assert sha(tmp_path / "out" / source.name) == sha(source)


def test_no_prompt_turns_waiting_into_exit_3(tmpfs, random_file, cli, tmp_path):
    source = random_file(30 * MB)
    drive = tmpfs("20M")
    result = cli("pack", "-", drive, "--name", "s.bin", "--chunk-size", "5MB", "--no-prompt",
                 input=source.read_bytes())
    assert result.code == 3, result.output
    assert "drive 2 needed" in result.stderr and "run pack again" in result.stderr
    assert no_leftovers(drive)
    unpacked = cli("unpack", drive, tmp_path / "out", "--trust", default_public_key(), "--no-prompt")
    assert unpacked.code == 3 and "final index" in unpacked.stderr


def test_prompt_with_stdin_closed_gives_exit_3(tmpfs, random_file, cli):
    source = random_file(30 * MB)
    drive = tmpfs("20M")
    result = cli("pack", source, drive, "--chunk-size", "5MB", input=b"")
    assert result.code == 3, result.output
    assert "insert drive 2" in result.stderr


def test_dry_run_writes_nothing_and_counts_drives(tmpfs, random_file, cli):
    source = random_file(30 * MB)
    drive = tmpfs("20M")
    result = cli("pack", source, drive, "--dry-run", "--json")
    assert result.code == 0, result.output
    plan = json.loads(result.stdout.splitlines()[-1])
    # the counts are the whole bundle's: this drive, and one more like it for the rest
    assert plan["fits"] is False and plan["drives_given_used"] == 1 and plan["more_drives"] == 1
    assert plan["drives_needed"] == 2 and plan["chunks"] is None and plan["chunks_on_given_drives"] == 1
    assert not list(drive.iterdir())
    human = cli("pack", source, drive, "--dry-run")
    assert "of which the drives given take" in human.output and "need 1 more drive" in human.output, human.output
    sized = cli("pack", source, drive, "--dry-run", "--drive-size", "16MB", "--fs-type", "vfat",
                "--chunk-size", "5GB", "--json")
    plan = json.loads(sized.stdout.splitlines()[-1])
    assert plan["fits"] and plan["drives_needed"] == 3
    cut = [json.loads(line) for line in sized.stdout.splitlines() if '"chunk-size-clamped"' in line]
    assert cut and cut[0]["limit"] == 4294967295, sized.stdout
    assert cli("pack", source, drive, "--dry-run", "--drive-size", "1GB", "--fs-type", "zzz").code == 2


def test_dry_run_plans_drives_written_at_once_as_pack_writes_them(tmpfs, random_file, cli):
    source = random_file(30 * MB)
    first, second = tmpfs("48M"), tmpfs("24M")
    dry = cli("pack", source, first, second, "--chunk-size", "8MB", "--dry-run", "--json")
    assert dry.code == 0, dry.output
    plan = json.loads(dry.stdout.splitlines()[-1])
    assert plan["at_once"] is True and plan["fits"] and [d["bytes"] for d in plan["drives"]] == [15 * MB, 15 * MB]
    assert not list(first.iterdir()) and not list(second.iterdir())
    packed = cli("pack", source, first, second, "--chunk-size", "8MB", "--no-prompt")
    assert packed.code == 0, packed.output
    assert [len(chunk_files(d)) for d in (first, second)] == [d["chunks"] for d in plan["drives"]]
    in_turn = json.loads(cli("pack", source, first, second, "--chunk-size", "8MB", "--dry-run", "--json",
                             "--no-parallel").stdout.splitlines()[-1])
    assert in_turn["at_once"] is False


@pytest.mark.skipif(shutil.which("b3sum") is None, reason="needs b3sum (Debian package b3sum)")
def test_two_exfat_drives_written_at_once_round_trip_and_check_with_b3sum(exfat, random_file, cli, tmp_path):
    source = random_file(40 * MB)
    drives = [exfat("40M", label="AGTONE"), exfat("40M", label="AGTTWO")]
    result = cli("pack", source, *drives, "--chunk-size", "8MB", "--no-prompt", "--json")
    assert result.code == 0, result.output
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert any(e.get("event") == "drives-at-once" for e in events)
    for drive in drives:
        assert len(chunk_files(drive)) == 3  # 20 MB each: 8 + 8 + 4
        check = subprocess.run(["b3sum", "-c", "B3SUMS"], cwd=transfer_folder(drive), capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
    out = tmp_path / "out"
    assert cli("unpack", *reversed(drives), out, "--trust", default_public_key()).code == 0
    assert sha(out / source.name) == sha(source)


def test_bundle_larger_than_the_drives_at_once_continues_on_the_drive_asked_for(tmpfs, random_file, tmp_path):
    source = random_file(50 * MB)
    first, second, third = tmpfs("20M"), tmpfs("20M"), tmpfs("32M")
    asked = []

    def next_drive(request):
        asked.append(request)
        return third if len(asked) == 1 else None

    events = []
    result = pack(PackConfig(source=str(source), destinations=[first, second], chunk_size=8 * MB,
                             next_drive=next_drive), events.append)
    assert len(asked) == 1 and asked[0].ordinal == 3
    assert asked[0].remaining == 50 * MB - sum(c.length for c in result.chunks if c.drive != 3)
    kinds = [e.kind for e in events]
    assert kinds.index("drives-at-once") < kinds.index("drive-sealed") < kinds.index("drive-safe-to-remove")
    assert {c.drive for c in result.chunks} == {1, 2, 3}
    assert [c.seq for c in result.chunks] == list(range(1, len(result.chunks) + 1))
    out = unpack(UnpackConfig(sources=[third, second, first], output_dir=tmp_path / "out",
                              trust=[str(default_public_key())]))
    assert sha(out.output) == sha(source)


def test_a_chunk_that_must_move_refuses_a_drive_too_small_for_it(tmpfs, random_file, monkeypatch):
    """Drive 1 fills in chunk 2; drive 2 has no room for it; the drive offered next is too small."""
    source = random_file(40 * MB)
    first, second, small = tmpfs("32M"), tmpfs("24M"), tmpfs("8M")
    state = _filling_write(monkeypatch, first, "-000002.chunk", 4 * 2**20)
    offered = []

    def next_drive(request):
        offered.append(request)
        return small if len(offered) == 1 else None

    events = []
    with pytest.raises(IncompleteError) as info:
        pack(PackConfig(source=str(source), destinations=[first, second], chunk_size=10 * MB,
                        next_drive=next_drive), events.append)
    assert state["filled"] and [r.need for r in offered] == [10 * MB, 10 * MB]
    refused = [e for e in events if e.kind == "drive-refused"]
    assert refused and refused[0].data["need"] == 10 * MB and str(small) in refused[0].message
    assert "room for a 10000000-byte chunk" in info.value.one_line() and info.value.exit_code == 3
    assert not list(small.iterdir()), "a drive that cannot be used was written to"


def test_a_source_changed_while_packed_at_once_fails_instead_of_signing_a_wrong_digest(tmpfs, random_file,
                                                                                        monkeypatch):
    source = random_file(40 * MB)
    first, second, spare = tmpfs("32M"), tmpfs("24M"), tmpfs("32M")
    _filling_write(monkeypatch, first, "-000002.chunk", 4 * 2**20)

    def next_drive(request):  # while pack waits for a drive, someone edits the source in place
        with open(source, "r+b") as handle:
            handle.seek(1000)
            handle.write(b"edited")
        os.utime(source, ns=(0, 10**18))
        return spare

    with pytest.raises(IntegrityError) as info:
        pack(PackConfig(source=str(source), destinations=[first, second], chunk_size=10 * MB,
                        next_drive=next_drive))
    assert info.value.exit_code == 4 and "changed while it was packed" in info.value.one_line()
    assert not list(transfer_folder(first).glob("index.agt")) or not Index.from_bytes(
        (transfer_folder(first) / "index.agt").read_bytes()).final


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to use /mnt and mount tmpfs")
def test_a_dest_under_mnt_with_no_drive_mounted_is_named_before_anything_is_written(random_file, cli):
    """The stick was not mounted (or was pulled): pack would fill the system disk without a word."""
    point = Path("/mnt") / f"agt-test-{os.getpid()}"
    point.mkdir()
    try:
        bare = cli("pack", random_file(10**5), point, "--no-prompt", "--json")
        assert bare.code == 0, bare.output
        warned = [json.loads(line) for line in bare.stdout.splitlines() if '"dest-not-mounted"' in line]
        assert warned and warned[0]["drive"] == str(point)
        shutil.rmtree(next(point.glob("airgap-*")))
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4M", "tmpfs", str(point)], check=True)
        try:
            mounted = cli("pack", random_file(10**5), point, "--no-prompt")
            assert mounted.code == 0 and "no drive is mounted there" not in mounted.stderr, mounted.output
        finally:
            subprocess.run(["umount", str(point)], check=True)
    finally:
        shutil.rmtree(point, ignore_errors=True)
