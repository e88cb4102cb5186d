"""The security review's attacks (issue "Trust you can defend"), each done as it was reported.

Every test runs the installed CLI on real size-limited tmpfs drives, does the
attack the way the review did, and asserts the refusal and its exit code.
Sender, receiver and couriers are separate hosts here: separate config and
state folders, each with its own key.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import msgpack
import pytest

from airgap_transfer.custody import chain as custody
from airgap_transfer.errors import EXIT_INCOMPLETE, EXIT_INTEGRITY, EXIT_OK, EXIT_TRUST
from airgap_transfer.format import layout
from airgap_transfer.format.index import Index
from airgap_transfer.trust import keys, minisign
from tests.conftest import transfer_folder, write_random
from tests.integration.test_progress_tty import ERASE, run_in_pty

MiB = 2**20


class Host:
    """One machine: its own config and state folder, and its own signing key."""

    def __init__(self, cli, root: Path, name: str) -> None:
        self.cli, self.name = cli, name
        self.env = {"XDG_CONFIG_HOME": str(root / name / "config"), "XDG_STATE_HOME": str(root / name / "state")}

    def __call__(self, *args, env: dict | None = None, **kwargs):
        return self.cli(*args, env={**self.env, **(env or {})}, **kwargs)

    @property
    def public_key(self) -> Path:
        return Path(self.env["XDG_CONFIG_HOME"]) / "airgap-transfer" / "signing.pub"

    def keygen(self) -> Path:
        run = self("keygen", "--no-passphrase")
        assert run.code == 0, run.output
        return self.public_key

    def local_events(self, transfer_id: str) -> list[dict]:
        path = Path(self.env["XDG_STATE_HOME"]) / "airgap-transfer" / "custody" / f"{transfer_id}.jsonl"
        return custody.read_log(path)


@pytest.fixture
def hosts(cli, tmp_path):
    def make(name: str) -> Host:
        return Host(cli, tmp_path / "hosts", name)
    return make


def transfer_id_of(drive: Path) -> str:
    return transfer_folder(drive).name.removeprefix(layout.FOLDER_PREFIX)


def read_log(drive: Path) -> list[dict]:
    return custody.read_log(transfer_folder(drive) / custody.LOG_NAME)


def rechain(events: list[dict]) -> list[dict]:
    """What an attacker without any key can do: renumber and re-link every event."""
    out: list[dict] = []
    for event in events:
        custody.chain(out, {k: v for k, v in event.items() if k not in ("seq", "prev")})
    return out


def write_log(drive: Path, events: list[dict]) -> None:
    (transfer_folder(drive) / custody.LOG_NAME).write_bytes(custody.render_log(events))


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture
def sender_and_drive(hosts, tmpfs, tmp_path):
    """The sender packs 3 MiB in 1 MiB chunks onto one real 16 MiB tmpfs drive."""
    sender = hosts("sender")
    sender.keygen()
    bundle = write_random(tmp_path / "bundle.bin", 3 * MiB)
    drive = tmpfs("16M", "drive")
    packed = sender("pack", bundle, drive, "--chunk-size", "1MiB")
    assert packed.code == 0, packed.output
    return sender, drive, bundle


# --- 1. forged custody events adopted, then laundered by a courier's signature --------------

def test_1_forged_custody_events_are_never_adopted_nor_laundered(hosts, sender_and_drive, tmp_path):
    sender, drive, bundle = sender_and_drive
    tid = transfer_id_of(drive)
    events = read_log(drive)
    forged = [e for e in events if e["type"] != "packed"]
    forged.append({**forged[-1], "type": "handover", "handover": {"from": "Alice", "to": "Mallory"}})
    forged[-1].pop("media", None)
    forged[-1].pop("chunks", None)
    write_log(drive, rechain(forged))                      # no key needed: the chain alone is re-made
    tampered = snapshot(transfer_folder(drive))

    receiver = hosts("receiver")
    unpacked = receiver("unpack", drive, tmp_path / "out", "--trust", sender.public_key)
    assert unpacked.code == EXIT_OK, unpacked.output       # the bundle itself is signed and intact
    assert "custody log on" in unpacked.stderr and "not adopted" in unpacked.stderr
    local = receiver.local_events(tid)
    assert "Mallory" not in json.dumps(local) and [e["type"] for e in local][0] == "received"
    assert local[0]["details"]["custody_not_adopted"][0]["drive"] == str(drive)
    assert receiver("report", tid, "--verify").code == EXIT_OK
    report = tmp_path / "r.json"
    assert receiver("report", tid, "-o", report).code == EXIT_OK
    assert "Mallory" not in report.read_text()

    on_drive = receiver("report", drive, "--verify", "--trust", sender.public_key)
    assert on_drive.code == EXIT_INTEGRITY, on_drive.output
    assert "(handover) is not the event key" in on_drive.stderr

    courier = hosts("courier")
    courier.keygen()
    handed = courier("custody", "handover", drive, "--from", "Mallory", "--to", "Bob", "--trust", sender.public_key)
    assert handed.code == EXIT_INTEGRITY, handed.output    # the courier's key does not launder the forgery
    assert snapshot(transfer_folder(drive)) == tampered
    after = receiver("report", drive, "--verify", "--trust", sender.public_key, "--trust", courier.public_key)
    assert after.code == EXIT_INTEGRITY, after.output


def test_1_a_forged_tail_signed_by_the_attackers_own_key_is_not_laundered(hosts, sender_and_drive, tmp_path):
    """The forger signs the head himself: the chain and that signature check out, but nobody trusts his key."""
    sender, drive, _ = sender_and_drive
    events = read_log(drive)
    covered = len(events)
    forged = {k: v for k, v in events[-1].items() if k not in ("seq", "prev", "media", "chunks", "digests")}
    custody.chain(events, {**forged, "type": "handover", "handover": {"from": "Alice", "to": "Mallory"}})
    custody.write_log(transfer_folder(drive), events, minisign.SecretKey.generate())
    tampered = snapshot(transfer_folder(drive))
    courier = hosts("courier")
    courier.keygen()
    handed = courier("custody", "handover", drive, "--from", "Mallory", "--to", "Bob", "--trust", sender.public_key)
    assert handed.code == EXIT_TRUST and "not trusted" in handed.stderr, handed.output
    assert snapshot(transfer_folder(drive)) == tampered
    receiver = hosts("receiver")
    assert receiver("report", drive, "--verify", "--trust", sender.public_key).code == EXIT_TRUST
    unpacked = receiver("unpack", drive, tmp_path / "out", "--trust", sender.public_key)
    assert unpacked.code == EXIT_OK and f"only events 1 to {covered} adopted" in unpacked.stderr, unpacked.output
    assert "Mallory" not in json.dumps(receiver.local_events(transfer_id_of(drive)))


def test_1_a_forged_log_with_its_heads_removed_is_refused(hosts, sender_and_drive):
    sender, drive, _ = sender_and_drive
    forged = rechain([e for e in read_log(drive) if e["type"] != "packed"])
    write_log(drive, forged)
    for name in (custody.HEAD_NAME, custody.HEADS_NAME):
        (transfer_folder(drive) / name).unlink()
    run = hosts("receiver")("report", drive, "--verify", "--trust", sender.public_key)
    assert run.code == EXIT_TRUST and "no signed head" in run.stderr, run.output


# --- 2. custody rollback / truncation, and forks -------------------------------------------

@pytest.fixture
def two_drives(hosts, tmpfs, tmp_path):
    """The sender fills drive 1 (4 MiB tmpfs), then drive 2, one after the other."""
    sender = hosts("sender")
    sender.keygen()
    bundle = write_random(tmp_path / "bundle.bin", 5 * MiB)
    (tmp_path / "media").mkdir()
    drives = [tmpfs("4M", "media/d1"), tmpfs("8M", "media/d2")]
    packed = sender("pack", bundle, *drives, "--chunk-size", "1MiB", "--no-parallel")
    assert packed.code == 0, packed.output
    return sender, drives, tmp_path / "media"


@pytest.mark.parametrize("with_heads_file", [False, True], ids=["log-and-head", "log-head-and-heads-file"])
def test_2_an_earlier_log_copied_over_the_final_drive_is_detected(hosts, two_drives, tmp_path, with_heads_file):
    sender, (first, second), media = two_drives
    events = read_log(first)
    sealed = next(e for e in events if e["type"] == "drive-finished")
    earlier = events[:sealed["seq"]]                      # what drive 1 carried when it was sealed
    heads = custody.read_heads(transfer_folder(first) / custody.HEADS_NAME)
    earlier_head = next(h for h in heads if f" seq:{sealed['seq']} " in h)
    folder = transfer_folder(second)
    write_log(second, earlier)
    (folder / custody.HEAD_NAME).write_text(earlier_head)
    if with_heads_file:
        (folder / custody.HEADS_NAME).write_text(earlier_head)

    receiver = hosts("receiver")
    run = receiver("report", second, "--verify", "--trust", sender.public_key)
    assert run.code == EXIT_INTEGRITY, run.output
    assert ("packed" in run.stderr) if with_heads_file else ("truncated or rolled back" in run.stderr)
    assert receiver("report", media, "--verify", "--trust", sender.public_key).code == EXIT_INTEGRITY
    unpacked = receiver("unpack", first, second, tmp_path / "out", "--trust", sender.public_key)
    assert unpacked.code == EXIT_OK and "not adopted" in unpacked.stderr, unpacked.output


def test_2_logs_that_fork_across_drives_fail_verify(hosts, two_drives):
    sender, (first, second), media = two_drives
    receiver = hosts("receiver")
    for name, drive in (("courier-a", first), ("courier-b", second)):
        courier = hosts(name)
        courier.keygen()
        handed = courier("custody", "handover", drive, "--from", "Alice", "--to", name, "--trust", sender.public_key)
        assert handed.code == 0, handed.output
        assert receiver("trust", "add", courier.public_key, "--custody-only").code == 0
    for drive in (first, second):  # each copy on its own is signed and whole
        assert receiver("report", drive, "--verify", "--trust", sender.public_key).code == EXIT_OK
    run = receiver("report", media, "--verify", "--trust", sender.public_key)
    assert run.code == EXIT_INTEGRITY and "fork" in run.stderr, run.output



def test_2_this_hosts_own_events_and_a_later_handover_are_not_a_tamper_alarm(hosts, sender_and_drive):
    """The receiver verifies on the way (an event of its own); the sender then hands the drive on.

    Both histories are signed and whole: report --verify passes and says they went apart; only copies
    of the log on drives that fork (the test above) are an alarm.
    """
    sender, drive, _ = sender_and_drive
    receiver = hosts("receiver")
    assert sender("custody", "handover", drive, "--from", "A. Sender", "--to", "B. Courier").code == 0
    assert receiver("verify", drive, "--trust", sender.public_key).code == EXIT_OK
    assert sender("custody", "handover", drive, "--from", "B. Courier", "--to", "C. Desk").code == 0
    run = receiver("report", drive, "--verify", "--trust", sender.public_key)
    assert run.code == EXIT_OK, run.output
    out = drive.parent / "report.json"
    document = receiver("report", drive, "--trust", sender.public_key, "--format", "json", "-o", out)
    assert document.code == EXIT_OK, document.output
    verification = json.loads(out.read_text())["verification"]
    assert verification["ok"] and any("went apart at event" in c["chain"] for c in verification["copies"])

# --- 3. one trust store for two roles --------------------------------------------------------

def test_3_a_custody_only_key_verifies_handovers_but_never_signs_a_bundle(hosts, sender_and_drive, tmpfs, tmp_path):
    sender, drive, _ = sender_and_drive
    courier = hosts("courier")
    courier.keygen()
    assert courier("custody", "handover", drive, "--from", "Alice", "--to", "Carol",
                   "--trust", sender.public_key).code == 0
    receiver = hosts("receiver")
    assert receiver("trust", "add", sender.public_key).code == 0
    added = receiver("trust", "add", courier.public_key, "--custody-only", "--json")
    assert added.code == 0 and json.loads(added.stdout)["role"] == "custody-only", added.output
    listed = json.loads(receiver("trust", "list", "--json").stdout)["keys"]
    assert sorted(k["role"] for k in listed) == ["custody-only", "signer"]
    assert "custody-only" in receiver("trust", "list").output
    assert receiver("report", drive, "--verify").code == EXIT_OK   # the courier's handover verifies

    other = tmpfs("16M", "courier-drive")
    (tmp_path / "rogue").mkdir()
    rogue = write_random(tmp_path / "rogue" / "bundle.bin", MiB)
    assert courier("pack", rogue, other).code == 0                 # the courier signs a bundle of its own
    run = receiver("unpack", other, tmp_path / "out")
    assert run.code == EXIT_TRUST and "not trusted" in run.stderr, run.output
    assert not (tmp_path / "out" / "bundle.bin").exists()
    # Named with --trust it is still a witness: refused, saying why (it used to be accepted).
    for command in (["unpack", other, tmp_path / "out"], ["verify", other], ["status", other]):
        named = receiver(*command, "--trust", courier.public_key)
        assert named.code == EXIT_TRUST and "for custody only" in named.stderr, named.output
    assert not (tmp_path / "out" / "bundle.bin").exists()
    assert receiver("report", drive, "--verify", "--trust", courier.public_key).code == EXIT_OK


# --- 4 and 5. replay of an accepted old transfer; --force does one job -------------------------

def created(drive: Path) -> str:
    return Index.from_bytes((transfer_folder(drive) / layout.INDEX_NAME).read_bytes()).created


def test_4_5_an_old_transfer_reinserted_is_a_rollback_even_with_force(hosts, tmpfs, tmp_path):
    sender = hosts("sender")
    sender.keygen()
    drives, versions = [], []
    for version in ("v1", "v2"):
        (tmp_path / version).mkdir()
        versions.append(write_random(tmp_path / version / "bundle.bin", 2 * MiB))
        drives.append(tmpfs("8M", f"drive-{version}"))
        assert sender("pack", versions[-1], drives[-1], "--chunk-size", "1MiB").code == 0
        time.sleep(1.1)  # index dates have a one-second resolution
    receiver = hosts("receiver")
    out = tmp_path / "out"
    trust = ("--trust", sender.public_key)
    assert receiver("unpack", drives[0], out, *trust).code == 0
    assert receiver("unpack", drives[1], out, "--force", *trust).code == 0
    for flags in ((), ("--force",)):
        run = receiver("unpack", drives[0], out, *flags, *trust)
        assert run.code == EXIT_TRUST, run.output
        assert "rollback" in run.stderr and created(drives[0]) in run.stderr and created(drives[1]) in run.stderr
        assert "--allow-rollback" in run.stderr
        assert (out / "bundle.bin").read_bytes() == versions[1].read_bytes()   # v2 untouched
    run = receiver("unpack", drives[0], out, "--force", "--allow-rollback", *trust)
    assert run.code == 0 and "accepted because of --allow-rollback" in run.stderr, run.output
    assert (out / "bundle.bin").read_bytes() == versions[0].read_bytes()
    received = [e for e in receiver.local_events(transfer_id_of(drives[0])) if e["type"] == "received"]
    assert received[-1]["details"]["rollback_allowed"]["newer_transfer"] == transfer_id_of(drives[1])


# --- 6. an overlong chunk copy must not write past its slot ----------------------------------

def test_6_an_overlong_copy_found_after_the_next_chunk_was_placed_corrupts_nothing(sender_and_drive, hosts, tmpfs,
                                                                                 tmp_path):
    sender, drive, bundle = sender_and_drive
    folder = transfer_folder(drive)
    first = next(folder.glob("*-000001.chunk"))
    rest, bad, good = tmpfs("16M", "rest"), tmpfs("4M", "bad"), tmpfs("4M", "good")
    shutil.copytree(folder, rest / folder.name, ignore=shutil.ignore_patterns(first.name))
    for target in (bad, good):
        (target / folder.name).mkdir()
        shutil.copy(first, target / folder.name / first.name)
    with open(bad / folder.name / first.name, "ab") as handle:
        handle.write(b"\xff" * 7)                          # a bad copy: seven bytes too many
    receiver = hosts("receiver")
    out = tmp_path / "out"
    # Chunks 2 and 3 are placed from `rest`; then the operator types the bad drive's path; then gives up.
    run = receiver("unpack", rest, out, "--trust", sender.public_key, input=f"{bad}\n".encode())
    assert run.code in (EXIT_INCOMPLETE, EXIT_INTEGRITY), run.output
    assert "longer than the 1048576 bytes" in run.stderr
    again = receiver("unpack", rest, good, out, "--trust", sender.public_key, "--no-prompt")
    assert again.code == EXIT_OK, again.output            # the kept chunks 2 and 3 were not touched
    assert (out / "bundle.bin").read_bytes() == bundle.read_bytes()


# --- 7. terminal escape injection -------------------------------------------------------------

HOSTILE_NAME = "usb\x1b]0;pwned\x07\x1b[2J"


def test_7_a_hostile_drive_name_reaches_the_terminal_escaped_progress_included(hosts, tmpfs, tmp_path):
    sender = hosts("sender")
    sender.keygen()
    bundle = write_random(tmp_path / "bundle.bin", 24 * MiB)
    drive = tmpfs("64M", HOSTILE_NAME)
    assert sender("pack", bundle, drive, "--chunk-size", "1MiB", "-q").code == 0
    env = {**os.environ, **hosts("receiver").env}
    code, raw = run_in_pty(["unpack", drive, tmp_path / "out", "--trust", sender.public_key], 400, env=env)
    assert code == 0, raw
    assert "\x07" not in raw and "\x1b]" not in raw and "\x1b[2J" not in raw
    assert raw.replace(ERASE, "").count("\x1b") == 0, raw
    drawn = [line for line in raw.split(ERASE) if " on " in line and "%" in line]
    assert drawn and all("\\x1b]0;pwned\\x07" in line for line in drawn), raw[:2000]


# --- 8. wrong-typed custody fields ------------------------------------------------------------

def test_8_a_custody_event_with_a_wrong_typed_field_is_refused_when_parsed(hosts, sender_and_drive, tmp_path):
    sender, drive, _ = sender_and_drive
    events = read_log(drive)
    events[-1]["drives"] = 5
    write_log(drive, rechain(events))
    receiver = hosts("receiver")
    run = receiver("report", drive, "--verify", "--trust", sender.public_key)
    assert run.code == EXIT_INTEGRITY and "'drives' field of the wrong type" in run.stderr, run.output
    unpacked = receiver("unpack", drive, tmp_path / "out", "--trust", sender.public_key)
    assert unpacked.code == EXIT_OK and "not adopted" in unpacked.stderr, unpacked.output
    tid = transfer_id_of(drive)
    for fmt in ("json", "csv", "html"):
        run = receiver("report", tid, "--format", fmt, "-o", tmp_path / f"r.{fmt}")
        assert run.code == EXIT_OK, run.output


# --- 11. ^...$ accepted a trailing newline ----------------------------------------------------

def test_11_a_trailing_newline_is_no_longer_accepted_in_index_custody_or_layout(hosts, sender_and_drive, tmp_path):
    sender, drive, _ = sender_and_drive
    receiver = hosts("receiver")
    folder = transfer_folder(drive)
    # layout: a transfer folder whose name ends in a newline is not a transfer folder
    renamed = folder.with_name(folder.name + "\n")
    os.rename(folder, renamed)
    run = receiver("unpack", drive, tmp_path / "out", "--trust", sender.public_key, "--no-prompt")
    assert run.code == EXIT_INCOMPLETE and "no airgap-transfer folder found" in run.stderr, run.output
    os.rename(renamed, folder)
    # custody: an event type with a trailing newline
    events = read_log(drive)
    events[0]["type"] = "pack-started\n"
    write_log(drive, rechain(events))
    run = receiver("report", drive, "--verify", "--trust", sender.public_key)
    assert run.code == EXIT_INTEGRITY and "'type'" in run.stderr, run.output
    # index: a transfer id with a trailing newline, in an index the trusted sender signed
    resign(folder, sender, lambda doc: doc.update(transfer_id=doc["transfer_id"] + "\n"))
    run = receiver("unpack", drive, tmp_path / "out", "--trust", sender.public_key, "--no-prompt")
    assert run.code == EXIT_INTEGRITY and "transfer_id" in run.stderr, run.output


# --- 9. tar extraction on a Python whose data filter a link chain bypasses ---------------------

def resign(folder: Path, sender: Host, change) -> None:
    """The trusted sender's key signs an index changed by ``change`` (a compromised or careless sender)."""
    document = msgpack.unpackb((folder / layout.INDEX_NAME).read_bytes(), raw=False)
    change(document)
    data = msgpack.packb(document, use_bin_type=True)
    (folder / layout.INDEX_NAME).write_bytes(data)
    key = minisign.SecretKey.from_file(sender.public_key.with_suffix(".key"))
    tid = folder.name.removeprefix(layout.FOLDER_PREFIX)
    (folder / layout.SIGNATURE_NAME).write_text(keys.sign_index(data, key, tid, True))


def test_9_a_link_chain_in_a_folder_bundle_writes_nothing_outside_and_the_result_says_so(hosts, tmpfs, tmp_path):
    from tests.unit.engine.unpack.test_tarcheck import build_realpath_overflow_chain
    sender, receiver = hosts("sender"), hosts("receiver")
    sender.keygen()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "flag").write_bytes(b"original")
    out = tmp_path / "out"
    tar = build_realpath_overflow_chain(tmp_path / "top.tar", "top", outside, out / ".top.agt-extract-1")
    drive = tmpfs("16M", "drive")
    assert sender("pack", tar, drive, "--name", "top", "--compress", "none").code == 0
    resign(transfer_folder(drive), sender, lambda doc: doc["bundle"].update(kind="directory"))
    run = receiver("unpack", drive, out, "--trust", sender.public_key, "--json")
    assert run.code == EXIT_OK, run.output
    result = json.loads(run.stdout.splitlines()[-1])
    refused = {r["member"].rsplit("/", 1)[-1] for r in result["refused_members"]}
    assert {"escape", "flaglink", "newfile"} <= refused, result["refused_members"]
    assert (outside / "flag").read_bytes() == b"original" and sorted(os.listdir(outside)) == ["flag"]
    human = receiver("unpack", drive, tmp_path / "out2", "--trust", sender.public_key)
    assert "REFUSED" in human.output and human.code == EXIT_OK, human.output


# --- 10. secret keys: encrypted at rest, never made as a side effect of a failure ---------------

MINISIGN = shutil.which("minisign")
needs_minisign = pytest.mark.skipif(MINISIGN is None, reason="needs the stock minisign tool (apt: minisign)")


def test_10_a_failing_command_leaves_no_key_behind(hosts, tmpfs, tmp_path):
    sender = hosts("sender")
    secret = sender.public_key.with_suffix(".key")
    drive = tmpfs("4M", "small")
    missing = sender("pack", tmp_path / "nonexistent", drive)
    assert missing.code == 2, missing.output
    big = write_random(tmp_path / "big.bin", 8 * MiB)
    full = sender("pack", big, drive, "--chunk-size", "1MiB", "--no-prompt")
    assert full.code == 6, full.output
    assert not secret.exists() and not sender.public_key.exists()
    small = write_random(tmp_path / "small.bin", MiB)
    made = sender("pack", small, drive)                    # about to succeed: now the key is made, loudly
    assert made.code == 0 and "created signing key" in made.stderr and "UNENCRYPTED" in made.stderr, made.output
    assert secret.exists()


def test_10_keygen_encrypts_and_refuses_without_a_way_to_ask(hosts, tmp_path):
    sender = hosts("sender")
    refused = sender("keygen", input=b"")                  # no terminal, no passphrase file
    assert refused.code == 2 and "--no-passphrase" in refused.stderr, refused.output
    assert not sender.public_key.with_suffix(".key").exists()
    code, raw = run_pty_dialogue(["keygen"], sender.env, ["first phrase", "other phrase"])
    assert code == 2 and "differ" in raw, raw
    code, raw = run_pty_dialogue(["keygen"], sender.env, [b"\x04"])   # Ctrl-D: the input ends, nothing typed
    assert code == 2 and "no passphrase was typed" in raw and "interrupted" not in raw, raw
    code, raw = run_pty_dialogue(["keygen"], sender.env, ["same phrase", "same phrase"])
    assert code == 0 and "encrypted with your passphrase" in raw, raw
    assert "same phrase" not in raw                        # never echoed
    assert secret_key_kdf(sender.public_key.with_suffix(".key")) == b"Sc"


def run_pty_dialogue(args: list, env: dict, answers: list[str | bytes], timeout: float = 300) -> tuple[int, str]:
    """Run the CLI on a terminal and type each answer (then Enter; bytes are sent as they are) after each prompt."""
    import pty
    import select

    from tests.conftest import _cli_command
    master, slave = pty.openpty()
    proc = subprocess.Popen(_cli_command() + [str(a) for a in args], stdin=slave, stdout=slave, stderr=slave,
                            env={**os.environ, **env}, close_fds=True, start_new_session=True)
    os.close(slave)
    raw, pending, answered_at = b"", list(answers), 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                data = os.read(master, 4096)
            except OSError:
                break
            if not data:
                break
            raw += data
            # A new prompt, not the echo of the last answer: getpass flushes input typed too early.
            if pending and raw.endswith(b": ") and b": " in raw[answered_at:]:
                answer = pending.pop(0)
                os.write(master, answer if isinstance(answer, bytes) else answer.encode() + b"\n")
                answered_at = len(raw)
        elif proc.poll() is not None:
            break
    code = proc.wait(timeout=timeout)
    os.close(master)
    return code, raw.decode(errors="replace")


def secret_key_kdf(path: Path) -> bytes:
    import base64
    return base64.b64decode(path.read_text().splitlines()[1])[2:4]


def minisign_run(*args, password: str | None = None) -> subprocess.CompletedProcess:
    stdin = f"{password}\n{password}\n".encode() if password is not None else None
    return subprocess.run([MINISIGN, *map(str, args)], input=stdin, capture_output=True, timeout=300)


@needs_minisign
def test_10_encrypted_keys_work_both_ways_with_stock_minisign(hosts, tmpfs, tmp_path):
    phrase_file = tmp_path / "passphrase"
    phrase_file.write_text("correct horse battery\nsecond line is ignored\n")
    with_phrase = {"AIRGAP_TRANSFER_PASSPHRASE_FILE": str(phrase_file)}
    sender, receiver = hosts("sender"), hosts("receiver")
    made = sender("keygen", env=with_phrase)
    assert made.code == 0, made.output
    secret = sender.public_key.with_suffix(".key")
    assert secret_key_kdf(secret) == b"Sc"

    bundle = write_random(tmp_path / "bundle.bin", 2 * MiB)
    drive = tmpfs("16M", "drive")
    locked = sender("pack", bundle, drive, input=b"")      # encrypted, no terminal, no passphrase file
    assert locked.code == 2 and "AIRGAP_TRANSFER_PASSPHRASE_FILE" in locked.stderr, locked.output
    wrong = tmp_path / "wrong"
    wrong.write_text("incorrect horse\n")
    bad = sender("pack", bundle, drive, env={"AIRGAP_TRANSFER_PASSPHRASE_FILE": str(wrong)})
    assert bad.code == 2 and "wrong passphrase" in bad.stderr, bad.output
    assert not any(drive.iterdir())
    assert sender("pack", bundle, drive, "--chunk-size", "1MiB", env=with_phrase).code == 0
    folder = transfer_folder(drive)
    checked = minisign_run("-V", "-p", sender.public_key, "-m", folder / layout.INDEX_NAME)
    assert checked.returncode == 0, checked.stderr               # stock minisign -V: the index
    last = read_log(drive)[-1]
    head = tmp_path / "head.txt"
    head.write_bytes(custody.head_message(last["transfer_id"], last["seq"], custody.event_hash(last)))
    checked = minisign_run("-V", "-p", sender.public_key, "-m", head, "-x", folder / custody.HEAD_NAME)
    assert checked.returncode == 0, checked.stderr               # and the custody head
    note = tmp_path / "note.txt"
    note.write_text("signed by stock minisign with our encrypted key\n")
    signed = minisign_run("-S", "-s", secret, "-m", note, password="correct horse battery")
    assert signed.returncode == 0, signed.stderr                 # stock minisign opens our encrypted key
    assert minisign_run("-V", "-p", sender.public_key, "-m", note).returncode == 0

    stock_secret, stock_public = tmp_path / "stock.key", tmp_path / "stock.pub"
    assert minisign_run("-G", "-s", stock_secret, "-p", stock_public, password="correct horse battery").returncode == 0
    assert secret_key_kdf(stock_secret) == b"Sc"
    other = tmpfs("16M", "drive2")
    packed = sender("pack", bundle, other, "--key", stock_secret, "--chunk-size", "1MiB", env=with_phrase)
    assert packed.code == 0, packed.output                       # the tool opens minisign's encrypted key
    index = transfer_folder(other) / layout.INDEX_NAME
    resigned = minisign_run("-S", "-s", stock_secret, "-m", index, "-t",
                            keys.trusted_comment(transfer_id_of(other), True), password="correct horse battery")
    assert resigned.returncode == 0, resigned.stderr             # stock minisign -S, encrypted key ...
    run = receiver("unpack", other, tmp_path / "out", "--trust", stock_public)
    assert run.code == 0, run.output                             # ... verifies with the tool
    assert (tmp_path / "out" / "bundle.bin").read_bytes() == bundle.read_bytes()
