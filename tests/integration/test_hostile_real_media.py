"""Bad copies on real removable-media file systems: exFAT (FUSE) and a size-limited tmpfs."""

from __future__ import annotations

import shutil

from airgap_transfer.errors import EXIT_INTEGRITY
from tests.conftest import default_public_key, only_resumable_partials, transfer_folder


def test_bad_copy_on_exfat_good_copy_on_tmpfs(cli, exfat, tmpfs, random_file) -> None:
    stick, spare = exfat("64M", label="HOSTILE"), tmpfs("16M")
    source = random_file(3 * 2**20 + 777)
    packed = cli("pack", source, stick, "--chunk-size", "1MiB", "-q")
    assert packed.code == 0, packed.output
    folder = transfer_folder(stick)
    chunk = sorted(folder.glob("*.chunk"))[1]
    (spare / folder.name).mkdir()
    shutil.copy(chunk, spare / folder.name / chunk.name)
    with open(chunk, "ab") as handle:  # overlong on the stick
        handle.write(b"\0")
    out = stick.parent / "out"

    alone = cli("unpack", stick, out, "--trust", default_public_key(), "-q")
    assert alone.code == EXIT_INTEGRITY, alone.output
    assert "longer than" in alone.stderr and "Traceback" not in alone.output
    assert only_resumable_partials(out)

    both = cli("unpack", stick, spare, out, "--trust", default_public_key())
    assert both.code == 0, both.output
    assert "is bad: longer than" in both.stderr
    assert (out / source.name).read_bytes() == source.read_bytes()
