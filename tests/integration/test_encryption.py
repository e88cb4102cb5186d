"""Encrypted at rest, end to end on real tmpfs drives, through the installed CLI and stock age.

A lost stick must leak nothing (no name, no plaintext digest anywhere on
it), stock `age -d` (+ `zstd -d`, `cat`) must restore the bundle, and a
courier must be able to verify integrity without any key.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import blake3
import pytest

from tests.conftest import default_public_key, only_resumable_partials, transfer_folder
from tests.integration.test_directory import make_tree, snapshot
from tests.integration.test_restore_note import commands_by_step

pytestmark = pytest.mark.skipif(not (shutil.which("age") and shutil.which("age-keygen")),
                                reason="needs stock age and age-keygen (apt: age)")

NAME = "secret-model-v7.safetensors"


@pytest.fixture
def age_key(tmp_path) -> tuple[Path, str]:
    key = tmp_path / "receiver-age.txt"
    subprocess.run(["age-keygen", "-o", str(key)], capture_output=True, check=True)
    public = subprocess.run(["age-keygen", "-y", str(key)], capture_output=True, text=True, check=True).stdout.strip()
    return key, public


def stock_restore(drives: list[Path], key: Path) -> bytes:
    """age -d on every chunk (zstd -d for .zst.age), in name order, joined: what a person without the tool does."""
    chunks = sorted((p for d in drives for p in transfer_folder(d).glob("*.chunk*")), key=lambda p: p.name)
    assert chunks and all(p.name.endswith(".age") for p in chunks)
    out = b""
    for path in chunks:
        plain = subprocess.run(["age", "-d", "-i", str(key), str(path)], capture_output=True, check=True).stdout
        if path.name.endswith(".zst.age"):
            plain = subprocess.run(["zstd", "-d", "-c"], input=plain, capture_output=True, check=True).stdout
        out += plain
    return out


def leaked(drives: list[Path], secrets: list[bytes]) -> list[str]:
    """Every (file, secret) where a secret appears in a file's name or bytes on the drives."""
    found = []
    for drive in drives:
        for path in drive.rglob("*"):
            if not path.is_file():
                continue
            data = path.read_bytes()
            for secret in secrets:
                if secret in path.name.encode() or secret in data:
                    found.append(f"{path.name}: {secret[:20]!r}")
    return found


def plaintext_secrets(bundle: Path, chunk_size: int) -> list[bytes]:
    data = bundle.read_bytes()
    digests = [blake3.blake3(data).hexdigest()]
    digests += [blake3.blake3(data[i:i + chunk_size]).hexdigest() for i in range(0, len(data), chunk_size)]
    return [NAME.encode(), b"secret-model"] + [d.encode() for d in digests] + [bytes.fromhex(d) for d in digests]


def test_two_tmpfs_drives_round_trip_stock_age_and_no_leak(cli, tmp_path, random_file, tmpfs, age_key):
    key, public = age_key
    bundle = random_file(5 * 2**20 + 4321, name=NAME)
    assert cli("keygen", "--no-passphrase").code == 0
    drives = [tmpfs("6M"), tmpfs("6M")]
    packed = cli("pack", bundle, *drives, "--chunk-size", "1MiB", "--encrypt-to", public, "--no-prompt",
                 "--no-parallel", "--compress", "none")
    assert packed.code == 0, packed.output
    assert all(list(transfer_folder(d).glob("*.chunk.age")) for d in drives), "both drives hold chunks"

    assert stock_restore(drives, key) == bundle.read_bytes()
    for drive in drives:  # B3SUMS lists the stored bytes: stock b3sum checks them without a key
        check = subprocess.run(["b3sum", "-c", "B3SUMS"], cwd=transfer_folder(drive), capture_output=True, text=True)
        assert check.returncode == 0 and "FAILED" not in check.stdout, check.stdout

    assert leaked(drives, plaintext_secrets(bundle, 2**20)) == []

    verified = cli("verify", *drives, "--trust", default_public_key())  # no identity: stored bytes only
    assert verified.code == 0, verified.output
    assert "encrypted (age) to 1 recipient" in verified.output

    out = tmp_path / "out"
    unpacked = cli("unpack", *drives, out, "--identity", key, "--no-prompt", "--trust", default_public_key())
    assert unpacked.code == 0, unpacked.output
    assert (out / NAME).read_bytes() == bundle.read_bytes()


def test_wrong_or_missing_identity_is_exit_5_and_writes_nothing(cli, tmp_path, random_file, tmpfs, age_key):
    _key, public = age_key
    bundle = random_file(2 * 2**20, name=NAME)
    assert cli("keygen", "--no-passphrase").code == 0
    drive = tmpfs("8M")
    assert cli("pack", bundle, drive, "--encrypt-to", public, "--chunk-size", "1MiB").code == 0
    other = tmp_path / "other.txt"
    assert cli("keygen", "--age", "--secret-key", other).code == 0
    out = tmp_path / "out"
    wrong = cli("unpack", drive, out, "--identity", other, "--no-prompt", "--trust", default_public_key())
    assert wrong.code == 5, wrong.output
    assert "recipient" in wrong.stderr and len(wrong.stderr.strip().splitlines()) == 1
    missing = cli("unpack", drive, out, "--no-prompt", "--trust", default_public_key())
    assert missing.code == 5 and "--identity" in missing.stderr, missing.output
    assert not out.exists() or not any(out.iterdir())


def test_flipped_ciphertext_byte_is_exit_4_naming_the_chunk(cli, tmp_path, random_file, tmpfs, age_key):
    key, public = age_key
    bundle = random_file(3 * 2**20, name=NAME)
    assert cli("keygen", "--no-passphrase").code == 0
    drive = tmpfs("8M")
    assert cli("pack", bundle, drive, "--encrypt-to", public, "--chunk-size", "1MiB").code == 0
    second = sorted(transfer_folder(drive).glob("*.chunk.age"))[1]
    with open(second, "r+b") as handle:  # a byte deep in the payload, not the header
        handle.seek(300_000)
        byte = handle.read(1)
        handle.seek(300_000)
        handle.write(bytes([byte[0] ^ 0x20]))
    verified = cli("verify", drive, "--trust", default_public_key())
    assert verified.code == 4 and "chunk 2" in verified.stderr, verified.output
    out = tmp_path / "out"
    unpacked = cli("unpack", drive, out, "--identity", key, "--no-prompt", "--trust", default_public_key())
    assert unpacked.code == 4, unpacked.output
    assert "chunk 2" in unpacked.stderr and second.name in unpacked.stderr
    assert not (out / NAME).exists() and only_resumable_partials(out)
    assert subprocess.run(["age", "-d", "-i", str(key), str(second)], capture_output=True).returncode != 0


def test_passphrase_with_compression_and_stock_age_via_identity_age(cli, tmp_path, tmpfs, age_key):
    pty = pytest.importorskip("pty")
    if not shutil.which("zstd"):
        pytest.skip("needs zstd (apt: zstd)")
    bundle = tmp_path / NAME
    bundle.write_bytes((b"weights " * 300_000) + os.urandom(500_000))
    passfile = tmp_path / "pass.txt"
    passfile.write_text("correct horse battery staple\nsecond line is ignored\n")
    env = {"AIRGAP_TRANSFER_PASSPHRASE_FILE": str(passfile)}
    assert cli("keygen", "--no-passphrase").code == 0
    drive = tmpfs("8M")
    packed = cli("pack", bundle, drive, "--passphrase", "--compress", "zstd", "--chunk-size", "1MiB", env=env)
    assert packed.code == 0, packed.output
    folder = transfer_folder(drive)
    assert (folder / "identity.age").is_file() and list(folder.glob("*.chunk.zst.age"))
    assert leaked([drive], [NAME.encode(), blake3.blake3(bundle.read_bytes()).hexdigest().encode()]) == []

    from tests.unit.engine.crypt.test_age_format import _age_with_passphrase
    key = tmp_path / "transfer-key.txt"
    _age_with_passphrase(pty, ["age", "-d", "-o", str(key), str(folder / "identity.age")],
                         b"correct horse battery staple")
    assert stock_restore([drive], key) == bundle.read_bytes()

    out = tmp_path / "out"
    unpacked = cli("unpack", drive, out, "--no-prompt", "--trust", default_public_key(), env=env)
    assert unpacked.code == 0, unpacked.output
    assert (out / NAME).read_bytes() == bundle.read_bytes()
    passfile.write_text("wrong\n")
    again = cli("unpack", drive, tmp_path / "out2", "--no-prompt", "--trust", default_public_key(), env=env)
    assert again.code == 5 and "passphrase" in again.stderr, again.output


def test_directory_bundle_restored_by_the_notes_commands(cli, tmp_path, tmpfs, age_key):
    key, public = age_key
    source = make_tree(tmp_path / "deploy-secret")
    assert cli("keygen", "--no-passphrase").code == 0
    drive = tmpfs("16M")
    assert cli("pack", source, drive, "--encrypt-to", public, "--chunk-size", "1MiB").code == 0
    assert leaked([drive], [b"deploy-secret"] + [p.name.encode() for p in source.rglob("*") if len(p.name) > 5]) == []
    note = (transfer_folder(drive) / "RESTORE.txt").read_text()
    steps = commands_by_step(note)
    home = tmp_path / "home"
    home.mkdir()
    shutil.copyfile(default_public_key(), home / "sender.pub")  # step 1: the sender's key, received out of band
    script = ["set -euo pipefail", *steps[1], f"cd {transfer_folder(drive)}", *steps[2]]
    script += [line if not line.startswith("export KEY=") else f"export KEY={key}" for line in steps[3]]
    for step in sorted(steps)[3:]:
        script += steps[step]
    run = subprocess.run(["bash", "-c", "\n".join(script)], env={"PATH": "/usr/bin:/bin", "HOME": str(home)},
                         capture_output=True, text=True)
    assert run.returncode == 0 and "FAILED" not in run.stderr, run.stdout + run.stderr
    [work] = [p for p in home.iterdir() if p.name.startswith("airgap-restore-")]
    assert snapshot(work / "deploy-secret") == snapshot(source)
    out = tmp_path / "out"
    unpacked = cli("unpack", drive, out, "--identity", key, "--trust", default_public_key(), "--no-prompt")
    assert unpacked.code == 0, unpacked.output
    assert snapshot(out / "deploy-secret") == snapshot(source)


def test_a_file_from_stock_age_and_a_recipients_file(cli, tmp_path, random_file, tmpfs, age_key):
    """keygen --age makes a key stock age encrypts to; --encrypt-to takes an `age -R` recipients file."""
    key, public = age_key
    ours = tmp_path / "ours.txt"
    made = cli("keygen", "--age", "--secret-key", ours, "--json")
    assert made.code == 0, made.output
    assert oct(ours.stat().st_mode & 0o777) == "0o600"
    our_public = subprocess.run(["age-keygen", "-y", str(ours)], capture_output=True, text=True, check=True).stdout.strip()
    recipients = tmp_path / "team.txt"
    recipients.write_text(f"# the receiving team\n{public}\n\n{our_public}\n")
    bundle = random_file(1_500_000, name=NAME)
    assert cli("keygen", "--no-passphrase").code == 0
    drive = tmpfs("8M")
    packed = cli("pack", bundle, drive, "--encrypt-to", recipients, "--json")
    assert packed.code == 0 and '"recipients": 2' in packed.stdout, packed.output
    for identity in (key, ours):
        assert stock_restore([drive], identity) == bundle.read_bytes()
    out = tmp_path / "out"
    assert cli("unpack", drive, out, "--identity", ours, "--trust", default_public_key(), "--no-prompt").code == 0
    assert (out / NAME).read_bytes() == bundle.read_bytes()
    bad = cli("pack", bundle, drive, "--encrypt-to", "age1notakey")
    assert bad.code == 2 and len(bad.stderr.strip().splitlines()) == 1, bad.output


RESUME_POINTS = [("pack-write", 1), ("pack-write", 2 * 10**6 + 4096), ("pack-write", int(4.5 * 10**6)),
                 ("pack-readback", 3), ("pack-journal", 3), ("metadata", 3)]


@pytest.mark.parametrize("mode", ["at-once", "in-turn"])
@pytest.mark.parametrize("phase, target", RESUME_POINTS)
def test_encrypted_pack_killed_anywhere_then_resumed(phase, target, mode, tmpfs, random_file, cli, tmp_path, age_key):
    from tests.integration.test_resume import interrupted, no_temp_files, pack_args
    key, public = age_key
    drives = [tmpfs("5M", "small"), tmpfs("16M", "large")]
    source = random_file(6 * 10**6, name=NAME)
    args = pack_args(source, drives, "--encrypt-to", public, *([] if mode == "at-once" else ["--no-parallel"]))
    killed = interrupted(phase, target, "SIGKILL", *args)
    assert killed.returncode == -9, killed.stderr
    again = cli(*args)
    assert again.code == 0, again.output
    assert no_temp_files(drives) and all(len(list(d.glob("airgap-*"))) <= 1 for d in drives)
    chunks = [p for d in drives for p in d.rglob("*.chunk*")]
    assert chunks and all(p.name.endswith(".chunk.age") for p in chunks), "one transfer is encrypted throughout"
    assert stock_restore(drives, key) == source.read_bytes()
    out = tmp_path / "out"
    assert cli("unpack", *drives, out, "--identity", key, "--trust", default_public_key(), "--no-prompt").code == 0
    assert (out / NAME).read_bytes() == source.read_bytes()


def test_resume_keeps_the_passphrase_identity_and_refuses_other_keys(tmpfs, random_file, cli, tmp_path, age_key,
                                                                      monkeypatch):
    from tests.integration.test_resume import interrupted
    key, public = age_key
    assert cli("keygen", "--no-passphrase").code == 0  # the signing key is not what this test's passphrase opens
    passfile = tmp_path / "pass.txt"
    passfile.write_text("resume me\n")
    env = {"AIRGAP_TRANSFER_PASSPHRASE_FILE": str(passfile)}
    monkeypatch.setenv("AIRGAP_TRANSFER_PASSPHRASE_FILE", str(passfile))
    small, large = tmpfs("5M", "small"), tmpfs("16M", "large")
    source = random_file(6 * 10**6, name=NAME)
    first = interrupted("pack-write", 2 * 10**6 + 4096, "SIGKILL", "pack", source, small, large, "--chunk-size",
                        "1MB", "--no-prompt", "--passphrase", "--no-parallel")
    assert first.returncode == -9, first.stderr
    plain = cli("pack", source, small, large, "--chunk-size", "1MB", "--no-prompt")
    assert plain.code == 2 and "encryption" in plain.stderr, plain.output
    other = cli("pack", source, small, large, "--chunk-size", "1MB", "--no-prompt", "--passphrase",
                "--encrypt-to", public, env=env)
    assert other.code == 2 and "recipients" in other.stderr, other.output
    passfile.write_text("not the one\n")
    wrong = cli("pack", source, small, large, "--chunk-size", "1MB", "--no-prompt", "--passphrase", env=env)
    assert wrong.code == 5, wrong.output
    passfile.write_text("resume me\n")
    again = cli("pack", source, small, large, "--chunk-size", "1MB", "--no-prompt", "--passphrase", env=env)
    assert again.code == 0, again.output
    assert len({p.read_bytes() for d in (small, large) for p in d.rglob("identity.age")}) == 1
    out = tmp_path / "out"
    assert cli("unpack", small, large, out, "--trust", default_public_key(), "--no-prompt", env=env).code == 0
    assert (out / NAME).read_bytes() == source.read_bytes()


def test_two_drives_written_at_once_encrypted(cli, tmp_path, random_file, tmpfs, age_key):
    key, public = age_key
    bundle = random_file(7 * 2**20 + 99, name=NAME)
    assert cli("keygen", "--no-passphrase").code == 0
    drives = [tmpfs("8M"), tmpfs("8M")]
    packed = cli("pack", bundle, *drives, "--chunk-size", "1MiB", "--encrypt-to", public, "--no-prompt", "--json")
    assert packed.code == 0, packed.output
    assert '"event": "drives-at-once"' in packed.stdout, "both drives were written at the same time"
    assert all(list(transfer_folder(d).glob("*.chunk.age")) for d in drives)
    for drive in drives:
        names = [p.name for p in transfer_folder(drive).iterdir()]
        assert not [n for n in names if n.endswith(".chunk")], names
    assert stock_restore(drives, key) == bundle.read_bytes()
    assert leaked(drives, plaintext_secrets(bundle, 2**20)) == []
    out = tmp_path / "out"
    assert cli("unpack", *drives, out, "--identity", key, "--trust", default_public_key(), "--no-prompt").code == 0
    assert (out / NAME).read_bytes() == bundle.read_bytes()


def test_parity_over_encrypted_chunks_rebuilds_a_lost_drive(cli, tmp_path, random_file, tmpfs, age_key):
    """Parity covers the stored (encrypted) bytes: a withheld data drive is rebuilt, then decrypted."""
    key, public = age_key
    bundle = random_file(6 * 10**6, name=NAME)
    assert cli("keygen", "--no-passphrase").code == 0
    drives = [tmpfs("8M") for _ in range(3)]
    packed = cli("pack", bundle, *drives, "--parity", "1", "--chunk-size", "1MB", "--encrypt-to", public,
                 "--no-prompt")
    assert packed.code == 0, packed.output
    assert list(transfer_folder(drives[-1]).glob("*.parity"))
    assert leaked(drives, plaintext_secrets(bundle, 10**6)) == []
    for withheld in range(2):
        present = [d for i, d in enumerate(drives) if i != withheld]
        out = tmp_path / f"out{withheld}"
        result = cli("unpack", *present, out, "--identity", key, "--trust", default_public_key(), "--no-prompt")
        assert result.code == 0, result.output
        assert "rebuilt from parity" in result.output
        assert (out / NAME).read_bytes() == bundle.read_bytes()


def test_parity_over_drives_written_at_once_protects_the_ciphertext_as_stored(cli, tmp_path, random_file, tmpfs,
                                                                            age_key):
    """Three data drives written at once, uncompressed: the parity is of the age files (no plaintext in it),
    a courier verifies without any key, and each data drive lost in turn is rebuilt, then decrypted."""
    key, public = age_key
    bundle = random_file(12 * 10**6, name=NAME)
    assert cli("keygen", "--no-passphrase").code == 0
    data, parity = [tmpfs("8M") for _ in range(3)], tmpfs("8M")
    packed = cli("pack", bundle, *data, parity, "--chunk-size", "2MiB", "--encrypt-to", public, "--compress", "none",
                 "--parity", "1", "--no-prompt")
    assert packed.code == 0, packed.output
    holding = [d for d in data if list(d.glob("airgap-*"))]
    assert len(holding) >= 2 and "writing 3 drives at once" in packed.output
    # Early parity (encoded from the source beside the data) would be of the plaintext: never started here.
    assert "written again" not in packed.output
    assert all(p.name.endswith(".chunk.age") for d in holding for p in transfer_folder(d).glob("*.chunk*"))
    plain = bundle.read_bytes()
    parity_files = list(transfer_folder(parity).glob("*.parity"))
    assert parity_files
    for path in parity_files:  # parity of ciphertext shows no plaintext
        assert plain[:64] not in path.read_bytes()
    assert leaked([parity], plaintext_secrets(bundle, 2 * 2**20)) == []
    verified = cli("verify", *data, parity, "--trust", default_public_key())  # no identity needed
    assert verified.code == 0 and "all data present" in verified.output, verified.output
    for lost in holding:
        out = tmp_path / f"out-{lost.name}"
        result = cli("unpack", *[d for d in holding if d != lost], parity, out, "--identity", key,
                     "--trust", default_public_key(), "--no-prompt")
        assert result.code == 0, result.output
        assert "rebuilt from parity" in result.output
        assert (out / NAME).read_bytes() == plain
