"""--compress through the installed CLI, on real mounts, checked with stock tools."""

from __future__ import annotations

import shutil
import subprocess

import blake3
import pytest
import zstandard

from tests.conftest import default_public_key, transfer_folder, write_random

TEXT = b"".join(b"%d GET /v2/library/ollama/manifests/0.15.%d 200 1234 \"docker/24.0\"\n" % (n, n % 9)
                for n in range(150_000))


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "deploy.log"
    path.write_bytes(TEXT * 2)
    return path


def test_compressed_chunks_restore_with_stock_zstd_and_b3sum(cli, tmp_path, text_file):
    if not shutil.which("zstd"):
        pytest.skip("needs the zstd tool (Debian package zstd)")
    drive = tmp_path / "drive"
    drive.mkdir()
    run = cli("pack", text_file, drive, "--chunk-size", "3MB", "--compress", "zstd")
    assert run.code == 0, run.output
    folder = transfer_folder(drive)
    chunks = sorted(folder.glob("*.chunk.zst"))
    assert len(chunks) >= 2 and not list(folder.glob("*.chunk"))
    restored = subprocess.run(["zstd", "-dcq", *map(str, chunks)], capture_output=True, check=True).stdout
    assert restored == text_file.read_bytes()
    if shutil.which("b3sum"):
        check = subprocess.run(["b3sum", "-c", "B3SUMS"], cwd=folder, capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
    out = tmp_path / "out"
    run = cli("unpack", drive, out, "--trust", default_public_key())
    assert run.code == 0, run.output
    assert (out / "deploy.log").read_bytes() == text_file.read_bytes()
    assert cli("verify", drive, "--trust", default_public_key()).code == 0


def test_auto_leaves_random_data_plain(cli, tmp_path):
    source = write_random(tmp_path / "weights.bin", 3 * 2**20)
    drive = tmp_path / "drive"
    drive.mkdir()
    run = cli("pack", source, drive, "--compress", "auto")
    assert run.code == 0, run.output
    folder = transfer_folder(drive)
    assert list(folder.glob("*.chunk")) and not list(folder.glob("*.zst"))


def _swap_first_chunk(drive, payload: bytes) -> None:
    chunk = sorted(transfer_folder(drive).glob("*.chunk.zst"))[0]
    chunk.write_bytes(payload)


def test_a_zstd_bomb_on_the_drive_is_refused_with_exit_4(cli, tmp_path, text_file):
    drive = tmp_path / "drive"
    drive.mkdir()
    assert cli("pack", text_file, drive, "--chunk-size", "3MB", "--compress", "zstd").code == 0
    _swap_first_chunk(drive, zstandard.ZstdCompressor(level=19).compress(bytes(64 * 2**20)))
    out = tmp_path / "out"
    run = cli("unpack", drive, out, "--trust", default_public_key())
    assert run.code == 4, run.output
    assert "longer than" in run.output
    assert not list(out.glob("*")) if out.exists() else True
    assert cli("verify", drive, "--trust", default_public_key()).code == 4


def test_an_overlong_frame_is_refused_with_exit_4(cli, tmp_path, text_file):
    drive = tmp_path / "drive"
    drive.mkdir()
    assert cli("pack", text_file, drive, "--chunk-size", "3MB", "--compress", "zstd").code == 0
    # the right bytes, and then more: a frame that keeps going past the signed length
    first = sorted(transfer_folder(drive).glob("*.chunk.zst"))[0]
    plain = zstandard.ZstdDecompressor().decompressobj().decompress(first.read_bytes())
    _swap_first_chunk(drive, zstandard.ZstdCompressor().compress(plain + b"extra"))
    run = cli("unpack", drive, tmp_path / "out", "--trust", default_public_key())
    assert run.code == 4, run.output


def test_incompressible_data_with_zstd_never_overflows_a_small_drive(cli, tmpfs, tmp_path):
    first, second = tmpfs("6M"), tmpfs("16M")
    source = write_random(tmp_path / "noise.bin", 12 * 2**20)
    run = cli("pack", source, first, second, "--compress", "zstd", "--no-prompt")
    assert run.code == 0, run.output
    # the worst-case frame was planned for: no chunk had to be moved after hitting ENOSPC
    assert "filled up" not in run.output
    assert list(transfer_folder(first).glob("*.chunk.zst")) and list(transfer_folder(second).glob("*.chunk.zst"))
    out = tmp_path / "out"
    run = cli("unpack", first, second, out, "--trust", default_public_key())
    assert run.code == 0, run.output
    assert blake3.blake3((out / "noise.bin").read_bytes()).digest() == blake3.blake3(source.read_bytes()).digest()


def test_pack_json_reports_the_decision_and_the_stored_size(cli, tmp_path, text_file):
    import json
    drive = tmp_path / "drive"
    drive.mkdir()
    run = cli("pack", text_file, drive, "--json")
    assert run.code == 0, run.output
    result = [json.loads(line) for line in run.stdout.splitlines() if line.strip()][-1]
    assert result["compression"] == "auto:zstd"
    stored = sum(p.stat().st_size for p in transfer_folder(drive).glob("*.chunk.zst"))
    assert result["stored_size"] == stored < result["size"] / 3


def test_verify_decodes_compressed_chunks(cli, tmp_path, text_file):
    """verify proves a compressed chunk by decoding it, and names a bomb for what it is."""
    drive = tmp_path / "drive"
    drive.mkdir()
    assert cli("pack", text_file, drive, "--chunk-size", "3MB", "--compress", "zstd").code == 0
    good = cli("verify", drive, "--trust", default_public_key(), "--json")
    assert good.code == 0, good.output
    _swap_first_chunk(drive, zstandard.ZstdCompressor(level=19).compress(bytes(64 * 2**20)))
    bad = cli("verify", drive, "--trust", default_public_key())
    assert bad.code == 4
    assert "longer than" in bad.output
