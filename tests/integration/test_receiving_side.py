"""The receiving side as an operator meets it: status before trust, two transfers, gaps, read-only drives."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time

import pytest

from tests.conftest import transfer_folder

MB = 10**6


def receiver(tmp_path) -> dict:
    """Another machine: its own config folder, no key of its own, nothing trusted."""
    return {"XDG_CONFIG_HOME": str(tmp_path / "receiver-config"), "XDG_STATE_HOME": str(tmp_path / "receiver-state")}


def result_document(stdout: str) -> dict:
    return next(d for d in map(json.loads, stdout.splitlines()) if d["event"] == "result")


@pytest.fixture
def two_drives(tmpfs, random_file, cli):
    source = random_file(30 * MB, "weights.bin")
    drives = [tmpfs("24M", f"usb{n}") for n in (1, 2)]
    packed = cli("pack", source, *drives, "--chunk-size", "8MB", "--no-prompt", "--no-parallel")
    assert packed.code == 0, packed.output
    return source, drives


def test_status_without_a_trusted_key_shows_the_drive_unverified(two_drives, cli, tmp_path):
    source, drives = two_drives
    run = cli("status", *drives, env=receiver(tmp_path))
    assert run.code == 0, run.output
    assert "weights.bin" in run.output and "30000000 bytes" in run.output
    assert "UNVERIFIED" in run.output and "not trusted here" in run.output
    document = result_document(cli("status", *drives, "--json", env=receiver(tmp_path)).stdout)
    assert document["trusted"] is False and document["verified"] is False
    assert document["key_id"] in run.output and len(document["key_id"]) == 16
    assert document["counts"]["present"] == 4 and document["contents_checked"] is False
    # unpack and verify still refuse the same drives: status only shows
    assert cli("verify", *drives, env=receiver(tmp_path)).code == 5
    assert cli("unpack", *drives, tmp_path / "out", "--no-prompt", env=receiver(tmp_path)).code == 5


def test_status_on_the_senders_machine_needs_no_trust(two_drives, cli):
    _, drives = two_drives
    run = cli("status", *drives)
    assert run.code == 0, run.output
    assert "signed by trusted key" in run.output and "UNVERIFIED" not in run.output


def test_a_forged_signature_is_still_refused_by_status(two_drives, cli, tmp_path):
    _, drives = two_drives
    for drive in drives:
        index = transfer_folder(drive) / "index.agt"
        data = bytearray(index.read_bytes())
        data[-3] ^= 1
        index.write_bytes(bytes(data))
    run = cli("status", *drives, env=receiver(tmp_path))
    assert run.code == 5, run.output


def test_status_says_it_did_not_read_contents_and_points_to_verify(two_drives, cli):
    _, drives = two_drives
    chunk = sorted(transfer_folder(drives[0]).glob("*.chunk"))[0]
    with open(chunk, "r+b") as handle:
        handle.seek(1000)
        byte = handle.read(1)
        handle.seek(1000)
        handle.write(bytes([byte[0] ^ 0x80]))
    status = cli("status", *drives)
    assert status.code == 0, status.output
    assert "not contents" in status.output and "airgap-transfer verify" in status.output
    verify = cli("verify", *drives)
    assert verify.code == 4 and "corrupt" in verify.output, verify.output


def test_missing_drive_is_exit_3_for_status_and_verify(two_drives, cli):
    _, drives = two_drives
    for command in ("status", "verify"):
        run = cli(command, drives[1])  # the last drive: final index, but chunks 1-3 are on usb1
        assert run.code == 3, (command, run.output)
        assert "3 chunks missing (1, 2, 3)" in run.stderr


def test_partial_index_is_not_reported_as_the_bundle_size(tmpfs, random_file, cli, tmp_path):
    source = random_file(30 * MB, "weights.bin")
    drives = [tmpfs("24M", f"usb{n}") for n in (1, 2)]
    # One port: usb1 fills and is let go with a partial index; the final index goes to usb2 only.
    packed = cli("pack", source, drives[0], "--chunk-size", "8MB", input=f"{drives[1]}\n".encode())
    assert packed.code == 0, packed.output
    run = cli("status", drives[0], "--json")
    assert run.code == 3, run.output
    document = result_document(run.stdout)
    assert document["final_index"] is False and document["size"] is None
    assert 16 * MB < document["listed_size"] < 30 * MB
    human = cli("status", drives[0], env=receiver(tmp_path))  # no local journal naming the size
    assert "size not known yet" in human.output and "30000000" not in human.output
    assert "the final index is missing" in human.stderr


def test_two_transfers_on_one_drive_are_each_listed(tmpfs, random_file, cli, tmp_path):
    drive = tmpfs("32M", "shared")
    first = random_file(3 * MB, "model-a.bin")
    second = random_file(5 * MB, "model-b.bin")
    assert cli("pack", first, drive, "--no-prompt").code == 0
    assert cli("pack", second, drive, "--no-prompt").code == 0
    status = cli("status", drive, env=receiver(tmp_path))
    assert status.code == 0, status.output
    assert "2 transfers" in status.output
    for name, size in (("model-a.bin", 3 * MB), ("model-b.bin", 5 * MB)):
        assert name in status.output and f"{size} bytes" in status.output
    assert status.output.count("packed 20") == 2  # each with its date
    listed = result_document(cli("status", drive, "--json").stdout)["transfers"]
    assert sorted(t["bundle"] for t in listed) == ["model-a.bin", "model-b.bin"]
    verify = cli("verify", drive)
    assert verify.code == 2, verify.output
    assert "model-a.bin" in verify.stderr and "model-b.bin" in verify.stderr and "--transfer" in verify.stderr
    chosen = cli("status", drive, "--transfer", listed[0]["transfer_id"][:8])
    assert chosen.code == 0 and "2 transfers" not in chosen.output
    # each transfer's suggested verify names it, and works as suggested
    suggested = re.findall(r"run `airgap-transfer (verify [^`]*)`", status.output)
    assert len(suggested) == 2 and all("--transfer" in s for s in suggested), suggested
    assert cli(*suggested[0].split()).code == 0


def test_handover_on_a_read_only_drive_records_nothing(two_drives, cli, tmp_path):
    _, drives = two_drives
    logs = [(transfer_folder(d) / "custody.jsonl").read_bytes() for d in drives]
    heads = [(transfer_folder(d) / "custody.head.minisig").read_bytes() for d in drives]
    remount = subprocess.run(["mount", "-o", "remount,ro", str(drives[1])], capture_output=True, text=True)
    if remount.returncode != 0:
        pytest.skip(f"cannot remount read-only here: {remount.stderr.strip()}")
    try:
        run = cli("custody", "handover", *drives, "--from", "A. Sender", "--to", "B. Courier")
        assert run.code == 2, run.output
        assert f"drive {drives[1]} is mounted read-only" in run.stderr
        assert "internal error" not in run.output and len(run.stderr.strip().splitlines()) == 1
        assert [(transfer_folder(d) / "custody.jsonl").read_bytes() for d in drives] == logs
        assert [(transfer_folder(d) / "custody.head.minisig").read_bytes() for d in drives] == heads
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(drives[1])], capture_output=True)
    again = cli("custody", "handover", *drives, "--from", "A. Sender", "--to", "B. Courier")
    assert again.code == 0, again.output
    assert cli("report", drives[0], "--verify").code == 0


def test_an_existing_output_is_refused_before_any_chunk_is_read(two_drives, cli, tmp_path):
    """Exit 2 at once, naming the file; it keeps its bytes, and no chunk was read or partial output made."""
    _, drives = two_drives
    out = tmp_path / "out"
    out.mkdir()
    bundle = out / "weights.bin"
    bundle.write_bytes(b"the operator's own file")
    again = cli("unpack", *drives, out, "--no-prompt", "--json")
    assert again.code == 2, again.output
    assert f"output {bundle} already exists; left untouched" in again.stderr
    assert bundle.read_bytes() == b"the operator's own file"
    kinds = [json.loads(line)["event"] for line in again.stdout.splitlines()]
    assert "chunk-verified" not in kinds and "unpack-started" not in kinds
    assert sorted(p.name for p in out.iterdir()) == [bundle.name]


def test_an_output_folder_that_cannot_take_the_bundle_is_a_usage_error(two_drives, tmpfs, cli, tmp_path):
    """A read-only mount, or a file where the folder should be: exit 2 naming it, before any chunk is read."""
    _, drives = two_drives
    read_only = tmpfs("1M", "ro")
    subprocess.run(["mount", "-o", "remount,ro", str(read_only)], check=True)
    a_file = tmp_path / "a-file"
    a_file.write_bytes(b"")
    for out, why in ((read_only, "is not writable"), (a_file, "is a file")):
        run = cli("unpack", *drives, out, "--no-prompt", "--json")
        assert run.code == 2, run.output
        assert f"output folder {out} {why}" in run.stderr and "internal error" not in run.stderr
        assert "chunk-verified" not in run.stdout


def test_status_of_a_wrong_sized_chunk_is_exit_4_naming_it(two_drives, cli):
    """Sizes alone prove a truncated chunk bad: status says so with verify's exit code, its report still printed."""
    _, drives = two_drives
    (second,) = [p for d in drives for p in transfer_folder(d).glob("*-000002.chunk")]
    with open(second, "r+b") as handle:
        handle.truncate(100)
    run = cli("status", *drives, "--json")
    assert run.code == 4, run.output
    assert "chunk 2" in run.stderr and "no good copy" in run.stderr
    assert result_document(run.stdout)["complete"] is False


def test_chunks_of_a_transfer_without_an_index_do_not_hide_the_others_from_status(two_drives, cli):
    """An interrupted pack from stdin leaves chunks and no index: status still shows the whole transfer."""
    _, drives = two_drives
    orphan_id = "ab" * 16
    orphan = drives[0] / f"airgap-{orphan_id}"
    orphan.mkdir()
    (orphan / f"{orphan_id[:12]}-000001.chunk").write_bytes(b"x" * 1000)
    run = cli("status", *drives, "--json")
    assert run.code == 3, run.output
    warned = [json.loads(line) for line in run.stdout.splitlines() if '"transfer-without-index"' in line]
    assert warned and warned[0]["transfer_id"] == orphan_id
    assert result_document(run.stdout)["complete"] is True      # the real transfer is listed, and complete
    assert f"transfer {orphan_id[:12]}: no index on these drives" in run.stderr


def test_an_interrupted_pack_from_stdin_says_it_cannot_resume_and_status_names_what_it_left(tmp_path, cli):
    """Exit 130; the message does not promise a resume that stdin cannot give, and status finds the leftovers."""
    from tests.conftest import _cli_command

    drive = tmp_path / "drive"
    drive.mkdir()
    proc = subprocess.Popen(_cli_command() + ["pack", "-", str(drive), "--name", "piped.bin", "--chunk-size", "1MiB",
                                              "--no-prompt"], stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdin is not None
    proc.stdin.write(os.urandom(3 * 2**20))
    proc.stdin.flush()
    for _ in range(600):   # until two chunks are on the drive, the pack waiting for more input
        if len(list(drive.glob("airgap-*/*.chunk"))) >= 2:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)   # closes stdin too: the reader may be waiting on it
    assert proc.returncode == 130, err
    assert b"cannot be resumed" in err and b"every chunk finished so far is kept" not in err
    status = cli("status", drive, "--json")
    assert status.code == 3 and "no index" in status.stderr
    left = next(drive.glob("airgap-*")).name
    assert f"delete {left}" in status.stderr and "insert it too" not in status.stderr, status.stderr
