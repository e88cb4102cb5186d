"""Bad hardware and bad luck: a stick that wraps around, a stick whose driver dies, a full state folder,
two packs of the same source at once, a full drive typed again at the prompt."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.conftest import IS_ROOT

MB = 10**6
FAKESTICK = Path(__file__).resolve().parents[1] / "fakestick.py"


def _fuse_ready() -> str | None:
    if not IS_ROOT:
        return "needs root to mount FUSE"
    if not Path("/dev/fuse").exists():
        return "needs /dev/fuse"
    try:
        import fuse  # noqa: F401  (fusepy: the test extra)
    except (ImportError, OSError) as exc:
        return f"needs fusepy and libfuse2 ({exc})"
    return None


@pytest.fixture
def fakestick(tmp_path):
    """Factory: a FUSE stick claiming ``fake`` bytes and holding ``real``; unmounted at teardown."""
    why = _fuse_ready()
    if why:
        pytest.skip(why)
    sticks: list[tuple[Path, subprocess.Popen]] = []

    def mount(real: str, fake: str, name: str = "stick", *extra: str) -> Path:
        point = tmp_path / name
        point.mkdir()
        process = subprocess.Popen([sys.executable, str(FAKESTICK), str(point), "--real", real, "--fake", fake,
                                    *extra], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        sticks.append((point, process))
        for _ in range(100):
            if os.path.ismount(point):
                return point
            if process.poll() is not None:
                pytest.skip(f"fakestick could not mount: {process.stderr.read().decode()[-300:]}")
            time.sleep(0.05)
        pytest.skip("fakestick did not mount within 5 s")

    yield mount
    for point, process in sticks:
        subprocess.run(["fusermount", "-u", "-z", str(point)], capture_output=True)
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def test_wrap_around_stick_is_caught_before_safe_to_remove(fakestick, random_file, cli):
    source = random_file(24 * MB)
    stick = fakestick("12MiB", "64MiB", "liar")
    run = cli("pack", source, stick, "--chunk-size", "4MB", "--no-prompt", "--json")
    assert run.code == 4, run.output
    errors = [json.loads(line) for line in run.stdout.splitlines() if '"error"' in line]
    assert errors and f"drive {stick} failed the last check" in errors[-1]["message"]
    assert "fake-capacity" in run.stderr
    kinds = [json.loads(line)["event"] for line in run.stdout.splitlines()]
    assert "chunk-written" in kinds and "pack-finished" not in kinds
    assert "drive-safe-to-remove" not in kinds and "packed" not in run.stderr


def test_full_recheck_catches_it_too(fakestick, random_file, cli):
    source = random_file(24 * MB)
    stick = fakestick("12MiB", "64MiB", "liar")
    run = cli("pack", source, stick, "--chunk-size", "4MB", "--no-prompt", "--full-recheck")
    assert run.code == 4, run.output
    assert "failed the last check" in run.stderr and "read-back of chunk 1" in run.stderr


def test_an_honest_stick_passes_the_last_check(fakestick, random_file, cli, tmp_path):
    source = random_file(10 * MB)
    stick = fakestick("32MiB", "32MiB", "honest")
    run = cli("pack", source, stick, "--chunk-size", "3MB", "--no-prompt", "--json")
    assert run.code == 0, run.output
    checked = [json.loads(line) for line in run.stdout.splitlines() if '"drive-rechecked"' in line]
    assert len(checked) == 1 and checked[0]["files"] == 5 and checked[0]["whole"] == ["the index"]
    assert checked[0]["whole_count"] == 1
    out = tmp_path / "out"
    assert cli("unpack", stick, out, "--no-prompt").code == 0
    assert (out / source.name).read_bytes() == source.read_bytes()


def test_a_stick_whose_driver_dies_during_read_back_is_named(fakestick, random_file, cli):
    source = random_file(8 * MB)
    stick = fakestick("32MiB", "32MiB", "dying", "--die-after-read", "1MiB", "--death", "exit")
    run = cli("pack", source, stick, "--chunk-size", "4MB", "--no-prompt")
    assert run.code == 3, run.output
    assert str(stick) in run.stderr and "internal error" not in run.stderr
    assert "and source" not in run.stderr


def test_a_stick_whose_driver_dies_during_unpack_is_named(fakestick, random_file, cli, tmp_path):
    source = random_file(8 * MB)
    stick = fakestick("32MiB", "32MiB", "dying", "--die-after-read", "13MiB")  # after pack's read-back
    assert cli("pack", source, stick, "--chunk-size", "4MB", "--no-prompt").code == 0
    out = tmp_path / "out"
    run = cli("unpack", stick, out, "--no-prompt")
    assert run.code == 3, run.output
    error = [line for line in run.stderr.splitlines() if "error:" in line][0]
    assert str(stick) in error and str(out) not in error.split(" — ")[0], error


def test_a_full_state_folder_is_refused_up_front(tmpfs, random_file, cli):
    source = random_file(4 * MB)
    drive = tmpfs("16M", "usb")
    state = tmpfs("256k", "state")
    run = cli("pack", source, drive, "--no-prompt", env={"XDG_STATE_HOME": str(state)})
    assert run.code == 6, run.output
    assert f"state folder {state}" in run.stderr
    assert not list(drive.glob("airgap-*/*.chunk"))
    roomy = cli("pack", source, drive, "--no-prompt")
    assert roomy.code == 0, roomy.output
    # The receiving side: the state folder is named, not the output file.
    out = drive.parent / "out"
    receiving = cli("unpack", drive, out, "--no-prompt", env={"XDG_STATE_HOME": str(state)})
    assert receiving.code == 6, receiving.output
    assert f"state folder {state}" in receiving.stderr and ".agt-partial" not in receiving.stderr
    assert not out.exists() or not list(out.iterdir())


def test_a_second_pack_of_the_same_source_is_refused(fakestick, tmpfs, random_file, cli):
    source = random_file(8 * MB)
    slow = fakestick("32MiB", "32MiB", "slow", "--write-rate", "512KiB")  # about 16 s for the bundle
    other = tmpfs("32M", "usb2")
    script = Path(sys.executable).with_name("airgap-transfer")
    first = subprocess.Popen([str(script), "pack", str(source), str(slow), "--chunk-size", "1MB", "--no-prompt"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(1200):  # the first chunk is on the stick: the run is well under way
            if list(slow.glob("airgap-*/*.chunk")) or first.poll() is not None:
                break
            time.sleep(0.05)
        assert first.poll() is None, first.stderr.read().decode()
        second = cli("pack", source, other, "--chunk-size", "1MB", "--no-prompt")
        running = first.poll() is None
        _, errors = first.communicate(timeout=600)
    finally:
        if first.poll() is None:
            first.kill()
    assert running, "the first run ended before the second was tried: the stick is too fast for this test"
    assert second.code == 2, second.output
    assert f"process {first.pid}" in second.stderr and "already running" in second.stderr
    assert not list(other.glob("airgap-*"))
    assert first.returncode == 0, errors.decode()  # nothing of the first run was deleted under it
    assert cli("verify", slow).code == 0


def test_a_full_drive_typed_again_at_the_prompt_is_refused(tmpfs, random_file, cli):
    source = random_file(30 * MB)
    first, full, second = tmpfs("20M", "usb1"), tmpfs("8M", "junk"), tmpfs("20M", "usb2")
    (full / "filler").write_bytes(b"\0" * (8 * 2**20 - 64 * 2**10))  # another stick, already full
    answers = f"{first}\n{full}\n{second}\n".encode()
    run = cli("pack", source, first, "--chunk-size", "4MB", "--json", input=answers)
    assert run.code == 0, run.output
    refused = [json.loads(line) for line in run.stdout.splitlines() if '"drive-refused"' in line]
    assert [r["drive"] for r in refused] == [str(first), str(full)], refused
    assert "already drive 1 of this transfer" in refused[0]["message"] and "is full" in refused[1]["message"]
    result = json.loads(run.stdout.splitlines()[-1])
    assert result["drives"] == [str(first), str(second)]
    assert not list(full.glob("airgap-*"))
    assert cli("verify", first, second).code == 0


def test_a_wrap_around_stick_holding_parity_fails_its_last_check(fakestick, tmpfs, random_file, cli):
    """Each parity file reads back fine when written; the third lands on the first, and the last check sees it."""
    source = random_file(36 * MB)
    data = [tmpfs("14M", f"data{i}") for i in range(1, 5)]
    stick = fakestick("6MiB", "64MiB", "parity")
    run = cli("pack", source, *data, stick, "--parity", "1", "--chunk-size", "3MB", "--no-prompt", "--json")
    assert run.code == 4, run.output
    assert f"drive {stick} failed the last check" in run.stderr and "parity" in run.stderr, run.stderr
    assert "fake-capacity" in run.stderr
    kinds = [json.loads(line)["event"] for line in run.stdout.splitlines()]
    assert "parity-written" in kinds and "pack-finished" not in kinds


@pytest.mark.parametrize("command", ["status", "verify", "report", "unpack"])
def test_a_stick_whose_driver_died_before_the_command_is_named_with_exit_3(fakestick, random_file, cli, tmp_path,
                                                                             command):
    """Its mount point answers ENOTCONN: every command names the drive (exit 3), none says "internal error"."""
    stick = fakestick("32MiB", "32MiB", "dead")
    assert cli("pack", random_file(2 * MB), stick, "--no-prompt").code == 0
    (process,) = [p for p in psutil.process_iter(["cmdline"]) if str(stick) in " ".join(p.info["cmdline"] or [])
                  and "fakestick" in " ".join(p.info["cmdline"] or [])]
    process.kill()   # the driver dies at once (kill -9): the mount point is left without its endpoint
    process.wait(timeout=10)
    extra = {"report": ["-o", str(tmp_path / "r.json")], "unpack": [str(tmp_path / "out"), "--no-prompt"]}
    run = cli(command, stick, *extra.get(command, []))
    assert run.code == 3, run.output
    assert f"drive {stick} cannot be read" in run.stderr and "internal error" not in run.stderr
