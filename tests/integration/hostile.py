"""Helpers for the hostile-drive tests: a packed template, and ways to spoil it.

Two transfers (A and B, same bundle name, same signing key, 3 chunks each) are
packed once per test module; every case works on its own copy, with the
signing key installed and trusted in the test's isolated config folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import msgpack

from airgap_transfer.format import layout
from airgap_transfer.state import paths
from airgap_transfer.trust import keys, minisign
from tests.conftest import _cli_command, write_random

BUNDLE_SIZE = 2 * 2**20 + 12345
CHUNK = "1MiB"


def pack_template(root: Path) -> Path:
    """Pack transfers A and B into root/A and root/B with a key in root/config."""
    env = {**os.environ, "XDG_CONFIG_HOME": str(root / "config"), "XDG_STATE_HOME": str(root / "state")}
    for name in ("A", "B"):
        (root / f"src-{name}").mkdir()
        source = write_random(root / f"src-{name}" / "bundle.bin", BUNDLE_SIZE)
        (root / name).mkdir()
        subprocess.run(_cli_command() + ["pack", str(source), str(root / name), "--chunk-size", CHUNK, "-q"],
                       env=env, check=True, capture_output=True)
    return root


@dataclass
class Drives:
    """The copies one test works on; ``a``/``b`` are the transfer folders."""

    root: Path
    drive: Path      # the drive holding transfer A (what unpack reads)
    other: Path      # a drive holding transfer B (not given to unpack unless a case adds it)
    out: Path
    key: minisign.SecretKey

    @property
    def a(self) -> Path:
        return next(self.drive.glob("airgap-*"))

    @property
    def b(self) -> Path:
        return next(self.other.glob("airgap-*"))

    def chunk(self, seq: int, folder: Path | None = None) -> Path:
        folder = folder or self.a
        return next(folder.glob(f"*-{seq:06d}.chunk"))

    def index_dict(self, folder: Path | None = None) -> dict:
        data = ((folder or self.a) / layout.INDEX_NAME).read_bytes()
        return msgpack.unpackb(data, raw=False)

    def write_index(self, data: bytes, *, sign_with: minisign.SecretKey | None = None,
                    folder: Path | None = None) -> None:
        """Replace the index with ``data``, signed by the trusted key (or ``sign_with``)."""
        folder = folder or self.a
        (folder / layout.INDEX_NAME).write_bytes(data)
        transfer_id = folder.name.removeprefix(layout.FOLDER_PREFIX)
        signature = keys.sign_index(data, sign_with or self.key, transfer_id, True)
        (folder / layout.SIGNATURE_NAME).write_text(signature)

    def rewrite(self, change) -> None:
        """Load the index, let ``change`` edit the dict, sign the result."""
        document = self.index_dict()
        change(document)
        self.write_index(msgpack.packb(document, use_bin_type=True))


def install(template: Path, tmp_path: Path) -> Drives:
    """Copy the template drives and trust its key in this test's config folder."""
    drive, other = tmp_path / "drive-a", tmp_path / "drive-b"
    shutil.copytree(template / "A", drive, symlinks=True)
    shutil.copytree(template / "B", other, symlinks=True)
    config = paths.config_dir()
    (config / "trusted").mkdir(parents=True)
    shutil.copy2(template / "config" / "airgap-transfer" / "signing.key", config / "signing.key")
    shutil.copy2(template / "config" / "airgap-transfer" / "signing.pub", config / "trusted" / "sender.pub")
    key = minisign.SecretKey.from_file(config / "signing.key")
    return Drives(tmp_path, drive, other, tmp_path / "out", key)


def tree(root: Path) -> set[str]:
    """Every path under root (no symlinks followed), for before/after comparison."""
    found = set()
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            found.add(os.path.relpath(os.path.join(folder, name), root))
    return found
