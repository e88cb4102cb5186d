"""Rollback protection, name sanitising, duplicate copies and the trust commands, via the CLI."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from datetime import datetime, timedelta

import msgpack
import pytest

from airgap_transfer.errors import EXIT_TRUST, EXIT_USAGE
from airgap_transfer.format import layout
from airgap_transfer.format.fields import CREATED_FORMAT
from airgap_transfer.state import paths
from airgap_transfer.trust import minisign, replay

from .hostile import BUNDLE_SIZE, Drives, install, pack_template, tree


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return pack_template(tmp_path_factory.mktemp("template"))


@pytest.fixture
def drives(template, tmp_path) -> Drives:
    return install(template, tmp_path)


def make_older(d: Drives, hours: int = 1) -> str:
    """Re-sign A's index as created ``hours`` before B's; returns A's new date."""
    newer = datetime.strptime(d.index_dict(d.b)["created"], CREATED_FORMAT)
    older = (newer - timedelta(hours=hours)).strftime(CREATED_FORMAT)
    d.rewrite(lambda doc: doc.update(created=older))
    return older


def test_older_transfer_replayed_after_newer_is_refused(cli, drives: Drives) -> None:
    older = make_older(drives)
    newer = drives.index_dict(drives.b)["created"]
    assert cli("unpack", drives.other, drives.out, "-q").code == 0
    before = tree(drives.root)
    run = cli("unpack", drives.drive, drives.root / "out2", "-q")
    assert run.code == EXIT_TRUST, run.output
    assert "rollback" in run.stderr and older in run.stderr and newer in run.stderr
    assert "Traceback" not in run.output
    assert tree(drives.root) == before


def test_allow_rollback_accepts_the_older_transfer_with_a_warning(cli, drives: Drives) -> None:
    make_older(drives)
    assert cli("unpack", drives.other, drives.out, "-q").code == 0
    forced = cli("unpack", drives.drive, drives.root / "out2", "--force", "-q")
    assert forced.code == EXIT_TRUST, forced.output  # --force only replaces an output
    run = cli("unpack", drives.drive, drives.root / "out2", "--allow-rollback")
    assert run.code == 0, run.output
    assert "accepted because of --allow-rollback" in run.stderr
    assert (drives.root / "out2" / "bundle.bin").is_file()


def test_newer_after_older_is_accepted(cli, drives: Drives) -> None:
    make_older(drives)
    assert cli("unpack", drives.drive, drives.out, "-q").code == 0
    assert cli("unpack", drives.other, drives.root / "out2", "-q").code == 0
    accepted = [r.transfer_id for r in replay.load()]
    assert [tid[:12] for tid in accepted] == [drives.a.name[7:19], drives.b.name[7:19]]


def test_same_transfer_again_is_allowed_and_noted(cli, drives: Drives) -> None:
    assert cli("unpack", drives.drive, drives.out, "-q").code == 0
    run = cli("unpack", drives.drive, drives.root / "out2", "--json")
    assert run.code == 0, run.output
    kinds = [json.loads(line)["event"] for line in run.stdout.splitlines()]
    assert "transfer-seen-before" in kinds
    assert len(replay.load()) == 2


def test_rule_is_per_bundle_name(cli, drives: Drives) -> None:
    make_older(drives)
    drives.rewrite(lambda doc: doc["bundle"].update(name="other-bundle.bin"))
    assert cli("unpack", drives.other, drives.out, "-q").code == 0
    run = cli("unpack", drives.drive, drives.out, "-q")
    assert run.code == 0, run.output
    assert (drives.out / "other-bundle.bin").is_file()


def test_transfer_id_reused_under_another_name_is_refused(cli, drives: Drives) -> None:
    assert cli("unpack", drives.drive, drives.out, "-q").code == 0
    drives.rewrite(lambda doc: doc["bundle"].update(name="renamed.bin"))
    run = cli("unpack", drives.drive, drives.root / "out2", "-q")
    assert run.code == EXIT_TRUST, run.output
    assert "was accepted on" in run.stderr


def test_damaged_record_line_is_skipped_with_a_warning(cli, drives: Drives) -> None:
    make_older(drives)
    assert cli("unpack", drives.other, drives.out, "-q").code == 0
    with open(replay.store_path(), "a") as handle:
        handle.write("{not json\n")
    run = cli("unpack", drives.drive, drives.root / "out2", "-q")
    assert run.code == EXIT_TRUST, run.output  # the good record still protects
    assert "damaged" in run.stderr


# --- names and copies -------------------------------------------------------------

@pytest.mark.parametrize("name", [
    "../../escape.bin", "/etc/passwd", "a/../../b", "..", ".hidden", "evil\x1b[31mred\x07.bin", "x" * 255,
])
def test_unsafe_bundle_name_in_a_signed_index_is_refused(cli, drives: Drives, name) -> None:
    """Pack only writes sanitised names, so an unsafe one was crafted: refused, nothing written anywhere."""
    drives.rewrite(lambda doc: doc["bundle"].update(name=name))
    outside_before = tree(drives.root) - {"out"}
    run = cli("unpack", drives.drive, drives.out)
    assert "Traceback" not in run.output
    assert "\x1b" not in run.output and "\x07" not in run.output  # escaped before the terminal
    assert tree(drives.root) - {"out"} - {f"out/{p}" for p in tree(drives.out)} == outside_before
    assert run.code == 4, run.output
    assert "not a safe file name" in run.stderr
    assert not drives.out.exists() or not any(drives.out.iterdir())


def test_first_good_copy_wins_and_bad_copies_are_reported(cli, drives: Drives) -> None:
    """Two drives carry chunk 2: a corrupt copy found first, a good one second."""
    folder = drives.a.name
    spare = drives.root / "drives" / "2-spare" / folder
    first = drives.root / "drives" / "1-first"
    spare.mkdir(parents=True)
    shutil.move(str(drives.drive), str(first))
    good = drives.chunk(2, first / folder)
    shutil.copy2(good, spare / good.name)
    data = bytearray(good.read_bytes())
    data[7] ^= 0xFF
    good.write_bytes(bytes(data))
    run = cli("unpack", drives.root / "drives", drives.out)
    assert run.code == 0, run.output
    assert "chunk 2 on" in run.stderr and "is bad: digest does not match" in run.stderr
    assert "chunk 2 verified from" in run.stderr and "2-spare" in run.stderr


# --- trust store -------------------------------------------------------------------

def test_trust_add_list_remove_drive_unpack(cli, drives: Drives) -> None:
    public = paths.config_dir() / "trusted" / "sender.pub"
    saved = drives.root / "sender.pub"
    shutil.move(str(public), str(saved))
    assert cli("unpack", drives.drive, drives.out, "-q").code == EXIT_TRUST

    added = cli("trust", "add", saved, "--json")
    assert added.code == 0, added.output
    key_id = json.loads(added.stdout)["key_id"]
    again = cli("trust", "add", saved.read_text().splitlines()[1])  # the bare base64 line works too
    assert again.code == 0 and "already trusted" in again.output, again.output
    listed = json.loads(cli("trust", "list", "--json").stdout)
    assert [k["key_id"] for k in listed["keys"]] == [key_id]
    assert cli("unpack", drives.drive, drives.out, "-q").code == 0

    removed = cli("trust", "remove", key_id.lower())
    assert removed.code == 0, removed.output
    assert json.loads(cli("trust", "list", "--json").stdout)["keys"] == []
    assert cli("unpack", drives.drive, drives.root / "out2", "-q").code == EXIT_TRUST


def test_trust_add_says_when_a_key_comes_from_a_drive_or_changes_role(cli, drives: Drives) -> None:
    public = paths.config_dir() / "trusted" / "sender.pub"
    public.unlink()
    from_drive = cli("trust", "add", drives.a / "signer.pub", "--custody-only")
    assert from_drive.code == 0, from_drive.output
    assert "key file from a transfer folder" in from_drive.stderr and "out of band" in from_drive.stderr
    promoted = cli("trust", "add", drives.a / "signer.pub", "--json")
    assert promoted.code == 0, promoted.output
    events = [json.loads(line) for line in promoted.stdout.splitlines()]
    changed = next(e for e in events if e["event"] == "trust-role-changed")
    assert changed["before"] == "custody-only" and changed["role"] == "signer"
    quiet = cli("trust", "add", drives.a / "signer.pub")   # nothing changes: only the drive warning again
    assert "already trusted" in quiet.output and "is now trusted" not in quiet.stderr


@pytest.mark.parametrize("args, fragment", [
    (("trust", "add", "not-a-key"), "neither a readable public key file"),
    (("trust", "remove", "xyz"), "is not a key id"),
    (("trust", "remove", "0123456789ABCDEF"), "is not in the trust store"),
])
def test_trust_errors_are_one_line_usage_errors(cli, args, fragment) -> None:
    run = cli(*args)
    assert run.code == EXIT_USAGE, run.output
    assert fragment in run.stderr and "Traceback" not in run.output


def test_trust_add_refuses_a_different_key_with_the_same_id(cli, drives: Drives, tmp_path) -> None:
    public = (paths.config_dir() / "trusted" / "sender.pub").read_text().splitlines()[1]
    blob = bytearray(base64.b64decode(public))
    blob[-1] ^= 1  # same key id, other key bytes
    run = cli("trust", "add", base64.b64encode(bytes(blob)).decode())
    assert run.code == EXIT_USAGE, run.output
    assert "already trusted" in run.stderr


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644])
def test_pack_refuses_a_secret_key_readable_by_others(cli, drives: Drives, tmp_path, mode) -> None:
    key = paths.config_dir() / "signing.key"
    os.chmod(key, mode)
    source = tmp_path / "small.bin"
    source.write_bytes(b"x" * 1000)
    (tmp_path / "dest").mkdir()
    run = cli("pack", source, tmp_path / "dest", "--key", key, "-q")
    assert run.code == EXIT_USAGE, run.output
    assert "accessible by group or others" in run.stderr and "chmod 600" in run.stderr
    assert not any((tmp_path / "dest").iterdir())


# --- stock minisign signs an index -------------------------------------------------

@pytest.mark.skipif(shutil.which("minisign") is None, reason="needs the minisign tool (apt: minisign)")
def test_index_signed_by_stock_minisign_verifies(cli, drives: Drives, tmp_path) -> None:
    """Sender uses `minisign -S` instead of our signer; receiver trusts that minisign key."""
    secret, public = tmp_path / "ms.key", tmp_path / "ms.pub"
    subprocess.run(["minisign", "-G", "-W", "-s", secret, "-p", public], check=True, capture_output=True)
    signer = minisign.PublicKey.from_file(public).key_id_hex
    drives.rewrite(lambda doc: doc.update(signer=signer))  # re-signed by us first; minisign overwrites it
    index = drives.a / layout.INDEX_NAME
    subprocess.run(["minisign", "-S", "-s", secret, "-m", index, "-x", drives.a / layout.SIGNATURE_NAME],
                   check=True, capture_output=True)
    assert cli("unpack", drives.drive, drives.out, "-q").code == EXIT_TRUST  # not trusted yet
    run = cli("unpack", drives.drive, drives.out, "--trust", public, "-q")
    assert run.code == 0, run.output
    assert (drives.out / "bundle.bin").is_file()


def test_hostile_folder_names_reach_the_terminal_escaped(cli, drives: Drives) -> None:
    """A drive folder named with escape sequences shows up in messages only escaped."""
    holder = drives.root / "drives" / "usb\x1b]0;pwned\x07\x1b[2J"
    holder.mkdir(parents=True)
    shutil.move(str(drives.drive), str(holder / "stick"))
    folder = next((holder / "stick").glob("airgap-*"))
    (folder / layout.SIGNATURE_NAME).unlink()
    run = cli("unpack", drives.root / "drives", drives.out)
    assert run.code == EXIT_TRUST, run.output
    assert "\x1b" not in run.output and "\x07" not in run.output
    assert "\\x1b" in run.stderr


def test_final_index_wins_over_partial_and_bad_copies(cli, drives: Drives) -> None:
    """Drive 1: partial index; drive 2: corrupt index copy; drive 3: the final index."""
    folder = drives.a.name
    holder = drives.root / "drives"
    for name in ("1-partial", "2-corrupt", "3-final"):
        (holder / name).mkdir(parents=True)
    shutil.copytree(drives.a, holder / "1-partial" / folder)
    shutil.copytree(drives.a, holder / "2-corrupt" / folder)
    shutil.move(str(drives.a), str(holder / "3-final" / folder))
    partial = Drives(drives.root, holder / "1-partial", drives.other, drives.out, drives.key)
    partial.rewrite(lambda doc: doc.update(final=False, chunks=doc["chunks"][:1]))
    index = holder / "2-corrupt" / folder / layout.INDEX_NAME
    data = bytearray(index.read_bytes())
    data[-5] ^= 0xFF
    index.write_bytes(bytes(data))
    run = cli("unpack", holder, drives.out)
    assert run.code == 0, run.output
    assert "index copy rejected" in run.stderr and "2-corrupt" in run.stderr
    assert (drives.out / "bundle.bin").stat().st_size == BUNDLE_SIZE


def test_two_packs_of_a_bundle_in_the_same_second_are_still_ordered(cli, tmp_path) -> None:
    """`created` has second resolution: without a clock that moves on, v1 could be replayed after v2."""
    drives = []
    for version in ("v1", "v2"):
        folder = tmp_path / version
        folder.mkdir()
        (folder / "model.bin").write_bytes(version.encode() * 1000)
        drive = tmp_path / f"drive-{version}"
        drive.mkdir()
        assert cli("pack", folder / "model.bin", drive, "-q").code == 0
        drives.append(drive)
    created = [msgpack.unpackb((next(d.glob("airgap-*")) / layout.INDEX_NAME).read_bytes(), raw=False)["created"]
               for d in drives]
    assert created[0] < created[1], created
    assert cli("unpack", drives[1], tmp_path / "out2", "-q").code == 0
    replayed = cli("unpack", drives[0], tmp_path / "out1", "-q")
    assert replayed.code == EXIT_TRUST and "rollback" in replayed.stderr, replayed.output
