"""RESTORE.txt text: facts, quoting, and the zstd path (chunks issue 7 may compress)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import blake3
import pytest

from airgap_transfer.format.index import Chunk, Index
from airgap_transfer.format.restore_note import COMMAND_PREFIX, restore_text

TRANSFER = "0123456789abcdef0123456789abcdef"


def make_index(name: str, pieces: list[bytes], encodings: list[str], kind: str = "file") -> Index:
    chunks, offset = [], 0
    for seq, (piece, encoding) in enumerate(zip(pieces, encodings), start=1):
        suffix = ".zst" if encoding == "zstd" else ""
        chunks.append(Chunk(seq=seq, offset=offset, length=len(piece), blake3=blake3.blake3(piece).hexdigest(),
                            file=f"{TRANSFER[:12]}-{seq:06d}.chunk{suffix}", drive=1, encoding=encoding))
        offset += len(piece)
    return Index(transfer_id=TRANSFER, bundle_name=name, bundle_size=offset,
                 bundle_blake3=blake3.blake3(b"".join(pieces)).hexdigest(), created="2026-01-01T00:00:00Z",
                 tool="test", signer="0" * 16, final=True, kind=kind, chunks=chunks)


def commands(text: str) -> list[str]:
    return [line[len(COMMAND_PREFIX):] for line in text.splitlines() if line.startswith(COMMAND_PREFIX)]


def test_facts_and_quoting():
    index = make_index("it's a model.bin", [b"a" * 10, b"b" * 5], ["none", "none"])
    text = restore_text(index)
    assert "Size:         15 bytes" in text and f"BLAKE3:       {index.bundle_blake3}" in text
    assert "Chunks:       2 chunk files" in text and "zstd" not in text and "tar -xf" not in text
    assert f"cat -- {TRANSFER[:12]}-*.chunk* > 'it'\"'\"'s a model.bin'" in commands(text)


def test_mixed_plain_and_zstd_chunks_rebuild_with_the_printed_commands(tmp_path):
    if not (shutil.which("zstd") and shutil.which("b3sum")):
        pytest.skip("needs zstd and b3sum (apt: zstd b3sum)")
    pieces = [os.urandom(3000), b"z" * 50_000, os.urandom(777)]
    index = make_index("bundle.bin", pieces, ["none", "zstd", "zstd"])
    for chunk, piece in zip(index.chunks, pieces):
        path = tmp_path / chunk.file
        if chunk.encoding == "zstd":
            path.write_bytes(subprocess.run(["zstd", "-q", "-c"], input=piece, capture_output=True, check=True).stdout)
        else:
            path.write_bytes(piece)
    steps = commands(restore_text(index))
    start = next(i for i, c in enumerate(steps) if c.startswith("for f in"))
    script = "set -euo pipefail\n" + "\n".join(steps[start:])
    run = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert re.search(r"bundle\.bin: OK", run.stdout)
    assert (tmp_path / "bundle.bin").read_bytes() == b"".join(pieces)


def test_a_sealed_drive_gets_steps_one_and_two_and_points_to_the_last_drive():
    index = make_index("x.bin", [b"a" * 3], ["none"])
    index.final, index.bundle_blake3 = False, None
    text = restore_text(index)
    assert "LAST drive written" in text and "None" not in text
    assert "b3sum -c B3SUMS" in commands(text)
    assert not any(c.startswith(("cat", "echo")) for c in commands(text))
    assert "a shell with cat, b3sum and minisign." in text


def test_sha256_alternative_when_the_index_has_one(tmp_path):
    import hashlib
    data = b"q" * 1000
    index = make_index("b.bin", [data], ["none"])
    assert "sha256sum" not in restore_text(index)
    index.bundle_sha256 = index.chunks[0].sha256 = hashlib.sha256(data).hexdigest()
    text = restore_text(index)
    # Every command is a "$ " line: the note says to type those, so an unprefixed one would be skipped.
    assert not [line for line in text.splitlines() if "sha256sum" in line and " -c" in line
                and not line.startswith(COMMAND_PREFIX)]
    assert "sha256sum -c SHA256SUMS" in commands(text)
    line = next(c for c in commands(text) if c.startswith("echo") and "sha256sum -c" in c)
    (tmp_path / "b.bin").write_bytes(data)
    run = subprocess.run(["bash", "-c", line], cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0 and "b.bin: OK" in run.stdout


def test_every_command_looking_line_is_a_dollar_line():
    """The reader types the "$ " lines only: any other line that runs a tool would be skipped."""
    import hashlib
    index = make_index("b.bin", [b"q" * 10, b"z" * 10], ["none", "zstd"], kind="directory")
    index.bundle_sha256 = index.chunks[0].sha256 = hashlib.sha256(b"q" * 10).hexdigest()
    tools = re.compile(r"^\s*(echo|cat|cp|cd|mkdir|export|b3sum|sha256sum|minisign|zstd|tar|for|age) ")
    for line in restore_text(index).splitlines():
        if not line.startswith(COMMAND_PREFIX):
            assert not tools.match(line), line


@pytest.mark.parametrize(("kind", "copies"), [("file", 2), ("directory", 3)])
def test_the_room_asked_for_holds_the_chunk_copies_and_the_result(kind, copies):
    """Step 2 copies every chunk into WORK and step 3 joins them beside it: about 2N (a folder: 3N), not N."""
    pieces = [b"a" * 1000, b"b" * 500]
    index = make_index("b.bin", pieces, ["none", "none"], kind=kind)
    text = restore_text(index)
    assert f"at least {1500 * copies} bytes free" in text
    index.final, index.bundle_blake3 = False, None
    assert ("twice" if copies == 2 else "three times") + " the bundle's full size" in restore_text(index)


def test_the_signature_step_uses_stock_minisign_on_the_drive_files():
    text = restore_text(make_index("b.bin", [b"q"], ["none"]))
    assert 'minisign -V -p "$SENDER_KEY" -m index.agt -x index.agt.minisig' in commands(text)
    assert any(c.startswith("export SENDER_KEY=") for c in commands(text))
