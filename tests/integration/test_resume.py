"""Stop anywhere, resume anywhere: real signals at chosen points, then the same command again.

Each interrupted run is a child Python process that wraps one engine call
(a chunk write, a read-back, a journal save, a metadata write, an output
write) so that it signals itself at an exact byte or call, then runs the real
CLI.  The re-run is the installed command, unpatched.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from airgap_transfer.state import journal
from tests.conftest import default_public_key

MB = 10**6
MiB = 2**20

CHILD = r'''
import os, signal, sys
from airgap_transfer import cli
from airgap_transfer.media import fsio
from airgap_transfer.state import journal
phase, target, signame = sys.argv[1], int(sys.argv[2]), sys.argv[3]
count = {"n": 0}

def tripwire(amount=1):
    count["n"] += amount
    if count["n"] >= target:
        os.kill(os.getpid(), getattr(signal, signame))

def wrap(module, name, before=True, bytes_arg=None, path_has=None):
    real = getattr(module, name)
    def wrapped(*args, **kwargs):
        if path_has is not None and path_has not in os.readlink(f"/proc/self/fd/{args[0]}"):
            return real(*args, **kwargs)
        amount = len(args[bytes_arg]) if bytes_arg is not None else 1
        if before:
            tripwire(amount)
            return real(*args, **kwargs)
        result = real(*args, **kwargs)
        tripwire(amount)
        return result
    setattr(module, name, wrapped)

if phase == "pack-write":
    wrap(os, "write", bytes_arg=1, path_has=".chunk")
elif phase == "pack-readback":
    from airgap_transfer.engine.io import readback
    wrap(readback, "read_back")
elif phase in ("pack-journal", "unpack-journal"):  # every journal write counts: the first save, then appends
    wrap(journal, "save", before=False)
    wrap(journal, "append", before=False)
elif phase == "metadata":
    wrap(fsio, "atomic_write_bytes")
elif phase == "unpack-write":
    wrap(os, "pwrite", bytes_arg=1)
elif phase == "pack-complete":  # just after the journal says the pack is complete
    real_append = journal.append
    def append(path, records, *args, **kwargs):
        real_append(path, records, *args, **kwargs)
        if {"complete": True} in records:
            tripwire()
    journal.append = append
elif phase == "result-shown":  # the work is done; the CLI is showing its result
    from airgap_transfer.cli import render
    wrap(render.Renderer, "result")
elif phase == "unpack-published":  # just after the output took its final name (argv[-1] of the unpack: -o)
    real_replace = os.replace
    def replace(src, dst, **kwargs):
        real_replace(src, dst, **kwargs)
        if os.fspath(dst) == sys.argv[-1]:
            tripwire()
    os.replace = replace
elif phase == "unpack-remember":
    from airgap_transfer.trust import replay
    wrap(replay, "remember")
elif phase == "unpack-folder-placed":
    from airgap_transfer.engine.unpack import dirrestore
    wrap(dirrestore, "_move_into_place", before=False)
sys.exit(cli.main(sys.argv[4:]))
'''


def interrupted(phase: str, target: int, signame: str, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CHILD, phase, str(target), signame, *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def drives(tmpfs):
    # 5M holds three 1 MB chunks beside the 2 MiB reserve; the rest goes to the second drive.
    return [tmpfs("5M", "small"), tmpfs("16M", "large")]


def pack_args(source, drives, *extra):
    return ["pack", source, *drives, "--chunk-size", "1MB", "--no-prompt", *extra]


# Both drives at once (the default: each thread stops part way, leaving gaps) and one after another.
MODES = {"at-once": [], "in-turn": ["--no-parallel"]}


def assert_round_trip(cli, source, drives, out):
    result = cli("unpack", *drives, out, "--trust", default_public_key(), "--no-prompt")
    assert result.code == 0, result.output
    assert sha(out / source.name) == sha(source)


def no_temp_files(drives) -> bool:
    return not [p for d in drives for p in d.rglob(".*tmp-*")]


PACK_POINTS = [
    ("pack-write", 1), ("pack-write", 512 * 1024), ("pack-write", MB + 1), ("pack-write", 2 * MB + 4096),
    ("pack-write", 3 * MB + 1), ("pack-write", int(4.5 * MB)),
    ("pack-readback", 1), ("pack-readback", 3), ("pack-readback", 5),
    ("pack-journal", 1), ("pack-journal", 3), ("pack-journal", 4),
    ("metadata", 1), ("metadata", 3), ("metadata", 7),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("phase, target", PACK_POINTS)
def test_pack_killed_anywhere_then_resumed_gives_identical_bytes(phase, target, mode, drives, random_file, cli,
                                                                 tmp_path):
    source = random_file(6 * MB)
    killed = interrupted(phase, target, "SIGKILL", *pack_args(source, drives, *MODES[mode]))
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    again = cli(*pack_args(source, drives, *MODES[mode]))
    assert again.code == 0, again.output
    assert no_temp_files(drives)
    assert all(len(list(d.glob("airgap-*"))) <= 1 for d in drives), "resume started a second transfer"
    assert_round_trip(cli, source, drives, tmp_path / "out")


@pytest.mark.parametrize("mode", MODES)
def test_resume_reuses_proven_chunks_instead_of_rewriting(mode, drives, random_file, cli):
    source = random_file(6 * MB)
    # killed after the 5th journal save: the journal claims only chunks already read back
    killed = interrupted("pack-journal", 5, "SIGKILL", *pack_args(source, drives, *MODES[mode]))
    assert killed.returncode == -signal.SIGKILL
    claimed = [c["file"] for c in journal.load(journal.pack_journal_path(source), journal.PackJournal).chunks]
    before = {p.name: p.stat().st_mtime_ns for d in drives for p in d.rglob("*.chunk")}
    again = cli(*pack_args(source, drives, *MODES[mode]))
    assert again.code == 0, again.output
    resumed = int(re.search(r"resuming transfer \w+: (\d+) chunks? ", again.stderr).group(1))
    assert resumed == len(claimed) >= 3, again.stderr
    after = {p.name: p.stat().st_mtime_ns for d in drives for p in d.rglob("*.chunk")}
    assert all(before[name] == after[name] for name in claimed), "proven chunks were rewritten"


# journal writes in unpack: the header when the output is opened, then one per placed chunk
UNPACK_POINTS = [("unpack-write", 1), ("unpack-write", int(1.5 * MiB)), ("unpack-write", 4 * MiB),
                 ("unpack-journal", 2), ("unpack-journal", 5)]


@pytest.mark.parametrize("phase, target", UNPACK_POINTS)
def test_unpack_killed_anywhere_then_resumed_gives_identical_bytes(phase, target, drives, random_file, cli, tmp_path):
    source = random_file(6 * MB)
    assert cli(*pack_args(source, drives)).code == 0
    out = tmp_path / "out"
    args = ["unpack", *drives, out, "--trust", default_public_key(), "--no-prompt"]
    killed = interrupted(phase, target, "SIGKILL", *args)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not (out / source.name).exists()
    again = cli(*args)
    assert again.code == 0, again.output
    if phase == "unpack-journal":
        assert "already in the partial output" in again.stderr
    assert sha(out / source.name) == sha(source)
    assert [p.name for p in out.iterdir()] == [source.name], "partial output left behind"


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_signal_gives_exit_130_and_resume_completes(signame, drives, random_file, cli, tmp_path):
    source = random_file(6 * MB)
    stopped = interrupted("pack-write", int(2.5 * MB), signame, *pack_args(source, drives))
    assert stopped.returncode == 130, stopped.stderr
    assert "interrupted" in stopped.stderr and "resume" in stopped.stderr
    assert "Traceback" not in stopped.stderr
    assert no_temp_files(drives), "the chunk in flight was left behind"
    resumed = cli(*pack_args(source, drives), "--resume")
    assert resumed.code == 0, resumed.output
    assert_round_trip(cli, source, drives, tmp_path / "out")


@pytest.mark.parametrize("phase", ["unpack-published", "unpack-remember", "unpack-folder-placed"])
def test_a_ctrl_c_once_the_output_has_its_final_name_finishes_the_unpack(phase, drives, random_file, cli, tmp_path):
    """Stopping between the final name and its bookkeeping would say "nothing written" beside a
    finished output, and the same command would then refuse it as existing: the Ctrl-C waits."""
    if phase == "unpack-folder-placed":
        source = tmp_path / "bundle"
        source.mkdir()
        random_file(3 * MB).rename(source / "a.bin")
        random_file(2 * MB).rename(source / "b.bin")
    else:
        source = random_file(6 * MB)
    assert cli(*pack_args(source, drives)).code == 0
    out = tmp_path / "out"
    args = ["unpack", *drives, out, "--trust", default_public_key(), "--no-prompt", "-o", out / source.name]
    stopped = interrupted(phase, 1, "SIGINT", *args)
    assert stopped.returncode == 0, stopped.stderr
    assert "written and proven" in stopped.stderr and "interrupted" not in stopped.stderr
    if source.is_dir():
        assert all(sha(out / source.name / f.name) == sha(f) for f in source.iterdir())
    else:
        assert sha(out / source.name) == sha(source)
    assert [p.name for p in out.iterdir()] == [source.name], "partial output or journal left behind"
    again = cli(*args)
    assert again.code == 2 and "already exists" in again.stderr, again.output


def test_a_ctrl_c_once_the_pack_is_complete_finishes_it_and_a_rerun_adds_no_second_transfer(drives, random_file,
                                                                                              cli, tmp_path):
    source = random_file(6 * MB)
    stopped = interrupted("pack-complete", 1, "SIGINT", *pack_args(source, drives))
    assert stopped.returncode == 0, stopped.stderr
    assert "every drive checked" in stopped.stderr and "interrupted" not in stopped.stderr
    assert sum(len(list(d.glob("airgap-*"))) for d in drives) == 2   # one transfer, on both drives
    assert_round_trip(cli, source, drives, tmp_path / "out")


@pytest.mark.parametrize("command", ["pack", "unpack"])
def test_a_ctrl_c_while_the_result_is_shown_is_a_success(command, drives, random_file, cli, tmp_path):
    source = random_file(3 * MB)
    args = pack_args(source, drives)
    if command == "unpack":
        assert cli(*args).code == 0
        args = ["unpack", *drives, tmp_path / "out", "--trust", default_public_key(), "--no-prompt"]
    stopped = interrupted("result-shown", 1, "SIGINT", *args)
    assert stopped.returncode == 0, stopped.stderr
    assert "interrupted" not in stopped.stderr
    assert_round_trip(cli, source, drives, tmp_path / "again") if command == "pack" else None
    assert command == "pack" or sha(tmp_path / "out" / source.name) == sha(source)


def test_unpack_interrupted_keeps_partial_and_restart_drops_it(drives, random_file, cli, tmp_path):
    source = random_file(6 * MB)
    assert cli(*pack_args(source, drives)).code == 0
    out = tmp_path / "out"
    args = ["unpack", *drives, out, "--trust", default_public_key(), "--no-prompt"]
    stopped = interrupted("unpack-journal", 2, "SIGINT", *args)
    assert stopped.returncode == 130, stopped.stderr
    partial = [p for p in out.iterdir() if p.name.startswith(".")]
    assert len(partial) == 1 and not (out / source.name).exists()
    restarted = cli(*args, "--restart")
    assert restarted.code == 0, restarted.output
    assert "already in the partial output" not in restarted.stderr
    assert sha(out / source.name) == sha(source)


def test_changed_source_refuses_resume(drives, random_file, cli, tmp_path):
    source = random_file(6 * MB)
    # save 4: two chunks proven (the journal claims a chunk only once it was read back)
    assert interrupted("pack-journal", 4, "SIGKILL", *pack_args(source, drives)).returncode == -signal.SIGKILL
    stat = source.stat()
    with open(source, "r+b") as handle:  # same size, same times: only the content betrays it
        handle.seek(100)
        handle.write(b"changed!")
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    refused = cli(*pack_args(source, drives))
    assert refused.code == 2, refused.output
    assert "changed" in refused.stderr and "--restart" in refused.stderr
    with open(source, "ab") as handle:
        handle.write(b"grown")
    refused = cli(*pack_args(source, drives))
    assert refused.code == 2 and "size" in refused.stderr
    restarted = cli(*pack_args(source, drives), "--restart")
    assert restarted.code == 0, restarted.output
    out = tmp_path / "out"
    new_id = restarted.stderr.split("transfer ")[1].split()[0][:32]
    result = cli("unpack", *drives, out, "--trust", default_public_key(), "--transfer", new_id, "--no-prompt")
    assert result.code == 0, result.output
    assert sha(out / source.name) == sha(source)


def test_resume_without_journal_is_a_usage_error(drives, random_file, cli):
    source = random_file(MB)
    result = cli(*pack_args(source, drives), "--resume")
    assert result.code == 2, result.output
    assert "no unfinished pack" in result.stderr


def test_status_reports_local_journals(drives, random_file, cli, tmp_path):
    source = random_file(6 * MB)
    assert interrupted("pack-journal", 5, "SIGKILL", *pack_args(source, drives)).returncode == -signal.SIGKILL
    status = cli("status", *drives, "--trust", default_public_key(), "--json")
    assert status.code == 3, status.output  # an interrupted pack: no final index yet
    local = next(d for d in map(json.loads, status.stdout.splitlines()) if d["event"] == "result")["local"]
    proven = local["pack"]["chunks"]
    assert proven >= 3 and local["pack"]["bytes"] == proven * MB and not local["pack"]["complete"]
    human = cli("status", *drives, "--trust", default_public_key())
    assert f"{proven} chunks, {proven * MB} of 6000000 bytes" in human.output and "resume" in human.output


@pytest.mark.parametrize("mode", MODES)
def test_a_byte_flipped_in_a_kept_chunk_between_kill_and_resume_is_never_signed(mode, drives, random_file, cli,
                                                                                 tmp_path):
    """SIGKILL, then a kept (journalled, proven) chunk changes on the drive: resume must re-hash it."""
    source = random_file(6 * MB)
    killed = interrupted("pack-journal", 5, "SIGKILL", *pack_args(source, drives, *MODES[mode]))
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    claimed = journal.load(journal.pack_journal_path(source), journal.PackJournal).chunks
    victim = next(p for d in drives for p in d.rglob(claimed[1]["file"]))
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x01
    victim.write_bytes(bytes(data))
    again = cli(*pack_args(source, drives, *MODES[mode]))
    # Resume's own check finds it and writes it again: not the last check failing the whole drive (exit 4).
    assert again.code == 0, again.output
    assert (f"chunk {claimed[1]['seq']} on {claimed[1]['root']} does not match its digest; it is written again"
            in again.stderr), again.stderr
    assert_round_trip(cli, source, drives, tmp_path / "out")
    verified = cli("verify", *drives, "--trust", default_public_key())
    assert verified.code == 0, verified.output


def test_packing_a_finished_source_again_says_it_makes_a_second_transfer(drives, random_file, cli, tmp_path):
    source = random_file(2 * MB)
    first = cli("pack", source, drives[1], "--no-prompt", "--json")
    assert first.code == 0, first.output
    again = cli("pack", source, drives[1], "--no-prompt", "--json")
    assert again.code == 0, again.output
    events = [json.loads(line) for line in again.stdout.splitlines()]
    before = [e for e in events if e["event"] == "packed-before"]
    first_id = next(json.loads(line) for line in first.stdout.splitlines()
                    if json.loads(line)["event"] == "pack-started")["transfer_id"]
    assert len(before) == 1 and before[0]["transfer_id"] == first_id, again.stdout
    assert len(list(drives[1].glob("airgap-*"))) == 2
    elsewhere = cli("pack", source, drives[0], "--no-prompt")   # another drive: nothing to say
    assert elsewhere.code == 0 and "packed completely before" not in elsewhere.stderr, elsewhere.output
    restarted = cli("pack", source, drives[1], "--no-prompt", "--restart")
    assert restarted.code == 0 and "packed completely before" not in restarted.stderr, restarted.output


def test_status_of_an_unfinished_folder_pack_gives_no_false_total(drives, random_file, cli, tmp_path):
    """A folder is packed as a tar stream: the folder's own size (4096) is no total of anything."""
    folder = tmp_path / "tree"
    folder.mkdir()
    for name in ("a.bin", "b.bin"):
        random_file(3 * MB).rename(folder / name)
    killed = interrupted("pack-journal", 5, "SIGKILL", *pack_args(folder, drives))
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    human = cli("status", *drives, "--trust", default_public_key())
    line = next((text for text in human.output.splitlines() if text.startswith("pack on this machine")),
                human.output)
    assert f"bytes of {folder} proven" in line and f" of {folder.stat().st_size} bytes" not in line, line


def test_status_of_drives_whose_pack_stopped_before_any_index_points_to_the_resume(drives, random_file, cli):
    source = random_file(6 * MB)
    killed = interrupted("pack-journal", 2, "SIGKILL", *pack_args(source, drives, "--no-parallel"))
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not list(drives[0].glob("airgap-*/index.agt"))   # the first drive was never finished
    status = cli("status", *drives, "--trust", default_public_key())
    assert status.code == 3, status.output
    assert f"its pack on this machine ({source}) stopped" in status.stderr
    assert "run the same pack command again to resume" in status.stderr
