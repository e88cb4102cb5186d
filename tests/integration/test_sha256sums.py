"""pack --sha256 on the drives: SHA256SUMS for stock sha256sum, and verify comparing the index's SHA-256.

Also identity.age (pack --passphrase), which stock `age -d` starts from: listed
in B3SUMS and checked by verify against the signed index's copy.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import msgpack
import pytest

from airgap_transfer.format import layout
from airgap_transfer.trust import keys, minisign
from tests.conftest import default_public_key, transfer_folder

EXIT_INTEGRITY = 4


@pytest.fixture(autouse=True)
def stock_sha256sum():
    if not shutil.which("sha256sum"):
        pytest.skip("needs sha256sum (apt: coreutils)")


def sha256sum_check(folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["sha256sum", "-c", layout.SHA256SUMS_NAME], cwd=folder, capture_output=True, text=True)


def listed(folder: Path, name: str) -> set[str]:
    return {line.split("  ", 1)[1] for line in (folder / name).read_text().splitlines()}


def flip(path: Path, at: int = 100) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 1
    path.write_bytes(bytes(data))


@pytest.fixture
def text_file(tmp_path) -> Path:
    """Compressible (zstd chooses to compress it) and three chunks long at 1 MiB."""
    path = tmp_path / "notes.txt"
    path.write_bytes(b"".join(b"line %d of a compressible bundle\n" % n for n in range(80_000)))
    return path


def resign(folder: Path, change) -> None:
    """The trusted sender's own key signs an index changed by ``change`` (a careless or buggy sender)."""
    document = msgpack.unpackb((folder / layout.INDEX_NAME).read_bytes(), raw=False)
    change(document)
    data = msgpack.packb(document, use_bin_type=True)
    (folder / layout.INDEX_NAME).write_bytes(data)
    key = minisign.SecretKey.from_file(default_public_key().with_suffix(".key"))
    tid = folder.name.removeprefix(layout.FOLDER_PREFIX)
    (folder / layout.SIGNATURE_NAME).write_text(keys.sign_index(data, key, tid, document["final"]))


def test_sha256sums_beside_b3sums_on_every_drive_and_stock_sha256sum_checks_them(cli, tmp_path, random_file, tmpfs):
    bundle = random_file(3 * 2**20 + 5)
    assert cli("keygen", "--no-passphrase").code == 0
    drives = [tmpfs("4M"), tmp_path / "spare"]
    drives[1].mkdir()
    packed = cli("pack", bundle, *drives, "--chunk-size", "1MiB", "--sha256", "--compress", "none", "--no-prompt")
    assert packed.code == 0, packed.output
    for drive in drives:
        folder = transfer_folder(drive)
        chunks = {p.name for p in folder.glob("*.chunk")}
        assert chunks and listed(folder, layout.SHA256SUMS_NAME) == chunks | {layout.INDEX_NAME}
        check = sha256sum_check(folder)
        assert check.returncode == 0 and check.stdout.count(": OK") == len(chunks) + 1, check.stdout + check.stderr
    # status and verify know the file: no "ignored" warning names it
    for command in ("status", "verify"):
        run = cli(command, *drives, "--trust", default_public_key(), "--json")
        assert run.code == 0, run.output
        assert layout.SHA256SUMS_NAME not in run.output
    folder = transfer_folder(drives[0])
    flip(sorted(folder.glob("*.chunk"))[0])
    check = sha256sum_check(folder)
    assert check.returncode != 0 and "FAILED" in check.stdout, check.stdout


def test_no_sha256sums_without_sha256_and_compressed_chunks_are_left_to_b3sums(cli, tmp_path, text_file):
    assert cli("keygen", "--no-passphrase").code == 0
    plain, squeezed = tmp_path / "plain", tmp_path / "squeezed"
    plain.mkdir(), squeezed.mkdir()
    assert cli("pack", text_file, plain, "--chunk-size", "1MiB").code == 0
    assert not (transfer_folder(plain) / layout.SHA256SUMS_NAME).exists()
    packed = cli("pack", text_file, squeezed, "--chunk-size", "1MiB", "--sha256", "--compress", "zstd")
    assert packed.code == 0, packed.output
    folder = transfer_folder(squeezed)
    assert list(folder.glob("*.chunk.zst"))
    # a compressed file's own SHA-256 is in no signed index: not claimed; B3SUMS has it
    assert not any(".zst" in name for name in listed(folder, layout.SHA256SUMS_NAME))
    assert sha256sum_check(folder).returncode == 0


def test_parity_drive_gets_sha256sums_of_what_the_index_holds(cli, tmp_path, random_file):
    bundle = random_file(2 * 2**20 + 3)
    assert cli("keygen", "--no-passphrase").code == 0
    drives = [tmp_path / n for n in ("d1", "d2", "p1")]
    for drive in drives:
        drive.mkdir()
    packed = cli("pack", bundle, *drives, "--chunk-size", "1MiB", "--sha256", "--compress", "none", "--parity", "1",
                 "--no-prompt")
    assert packed.code == 0, packed.output
    parity_folder = transfer_folder(drives[2])
    assert list(parity_folder.glob("*.parity"))
    assert listed(parity_folder, layout.SHA256SUMS_NAME) == {layout.INDEX_NAME}
    for drive in drives[:1] + drives[2:]:  # the data drives share a disk: filled in turn, d2 not needed
        assert sha256sum_check(transfer_folder(drive)).returncode == 0


def test_resumed_pack_rewrites_sha256sums_that_check(cli, tmp_path, random_file, tmpfs):
    from tests.integration.test_resume import interrupted, pack_args
    drives = [tmpfs("5M", "small"), tmpfs("16M", "large")]
    source = random_file(6 * 10**6)
    assert cli("keygen", "--no-passphrase").code == 0
    args = pack_args(source, drives, "--sha256", "--compress", "none", "--no-parallel")
    killed = interrupted("metadata", 3, "SIGKILL", *args)
    assert killed.returncode == -9, killed.stderr
    again = cli(*args)
    assert again.code == 0, again.output
    for drive in drives:
        folder = transfer_folder(drive)
        chunks = {p.name for p in folder.glob("*.chunk")}
        assert chunks and listed(folder, layout.SHA256SUMS_NAME) == chunks | {layout.INDEX_NAME}
        assert sha256sum_check(folder).returncode == 0


@pytest.mark.parametrize("compress", ["none", "zstd"])
def test_verify_compares_the_chunk_sha256_of_the_signed_index(cli, tmp_path, text_file, compress):
    """A chunk whose BLAKE3 matches but whose SHA-256 in the (signed) index does not: exit 4, naming it."""
    assert cli("keygen", "--no-passphrase").code == 0
    drive = tmp_path / "drive"
    drive.mkdir()
    packed = cli("pack", text_file, drive, "--chunk-size", "1MiB", "--sha256", "--compress", compress)
    assert packed.code == 0, packed.output
    assert cli("verify", drive, "--trust", default_public_key()).code == 0

    def wrong_sha256(document):
        chunk = document["chunks"][1]
        chunk["sha256"] = ("0" if chunk["sha256"][0] != "0" else "1") + chunk["sha256"][1:]

    resign(transfer_folder(drive), wrong_sha256)
    run = cli("verify", drive, "--trust", default_public_key())
    assert run.code == EXIT_INTEGRITY and "chunk 2" in run.stderr and "SHA-256" in run.stderr, run.output


def test_verify_checks_identity_age_against_the_signed_index(cli, tmp_path, random_file):
    if not shutil.which("b3sum"):
        pytest.skip("needs b3sum (apt: b3sum)")
    passfile = tmp_path / "pass.txt"
    passfile.write_text("correct horse battery staple\n")
    env = {"AIRGAP_TRANSFER_PASSPHRASE_FILE": str(passfile)}
    assert cli("keygen", "--no-passphrase").code == 0
    drive = tmp_path / "drive"
    drive.mkdir()
    packed = cli("pack", random_file(1_500_000), drive, "--passphrase", "--chunk-size", "1MiB", env=env)
    assert packed.code == 0, packed.output
    folder = transfer_folder(drive)
    identity = folder / layout.IDENTITY_NAME
    assert layout.IDENTITY_NAME in listed(folder, layout.B3SUMS_NAME)
    assert subprocess.run(["b3sum", "-c", layout.B3SUMS_NAME], cwd=folder, capture_output=True).returncode == 0
    assert cli("verify", drive, "--trust", default_public_key()).code == 0
    original = identity.read_bytes()

    flip(identity, at=len(original) - 5)
    run = cli("verify", drive, "--trust", default_public_key())
    assert run.code == EXIT_INTEGRITY and layout.IDENTITY_NAME in run.stderr, run.output
    assert subprocess.run(["b3sum", "-c", layout.B3SUMS_NAME], cwd=folder, capture_output=True).returncode != 0

    identity.unlink()
    run = cli("verify", drive, "--trust", default_public_key())
    assert run.code == EXIT_INTEGRITY and "missing" in run.stderr and layout.IDENTITY_NAME in run.stderr, run.output

    identity.write_bytes(original + b"\0" * 5000)  # overlong: read bounded, refused
    run = cli("verify", drive, "--trust", default_public_key())
    assert run.code == EXIT_INTEGRITY and layout.IDENTITY_NAME in run.stderr, run.output

    identity.write_bytes(original)
    assert cli("verify", drive, "--trust", default_public_key()).code == 0
