"""Shared fixtures: isolated config/state folders, real mounts, the installed CLI.

Mount fixtures need root and the stock tools; where either is missing they
skip with the reason (CI installs them, so there they run).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory, monkeypatch):
    """Every test gets its own config and state folders (keys, trust, journals)."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / "state"))
    return home


def write_random(path: Path, size: int, block: int = 2**20) -> Path:
    with open(path, "wb") as handle:
        left = size
        while left:
            n = min(block, left)
            handle.write(os.urandom(n))
            left -= n
    return path


@pytest.fixture
def random_file(tmp_path):
    def make(size: int, name: str = "bundle.bin") -> Path:
        return write_random(tmp_path / name, size)
    return make


def _cli_command() -> list[str]:
    """The tool installed for the interpreter running pytest: never a stale one elsewhere on PATH."""
    script = Path(sys.executable).with_name("airgap-transfer")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-m", "airgap_transfer"]


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@pytest.fixture
def cli():
    """Run the installed airgap-transfer as a subprocess; returns Run."""
    def run(*args, input: bytes | None = None, timeout: float = 600, env: dict | None = None) -> Run:
        proc = subprocess.run(_cli_command() + [str(a) for a in args], input=input,
                              capture_output=True, timeout=timeout, env={**os.environ, **(env or {})})
        return Run(proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace"))
    return run


@pytest.fixture
def tmpfs(tmp_path):
    """Factory: a size-limited tmpfs mount, unmounted at teardown."""
    if not IS_ROOT:
        pytest.skip("needs root to mount tmpfs")
    mounted: list[Path] = []

    def mount(size: str, name: str | None = None) -> Path:
        point = tmp_path / (name or f"tmpfs-{uuid.uuid4().hex[:6]}")
        point.mkdir()
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)],
                                capture_output=True, text=True)
        if result.returncode != 0:
            pytest.skip(f"cannot mount tmpfs here: {result.stderr.strip()}")
        mounted.append(point)
        return point

    yield mount
    for point in reversed(mounted):
        subprocess.run(["umount", "-l", str(point)], capture_output=True)


@pytest.fixture
def exfat(tmp_path):
    """Factory: an exFAT image on a loop device, mounted with exfat-fuse."""
    missing = [tool for tool in ("mkfs.exfat", "losetup", "mount.exfat-fuse") if not shutil.which(tool)]
    if not IS_ROOT:
        pytest.skip("needs root for loop devices")
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (exfatprogs, exfat-fuse)")
    made: list[tuple[Path, str]] = []

    def make(size: str, label: str = "AGTEST") -> Path:
        image = tmp_path / f"exfat-{uuid.uuid4().hex[:6]}.img"
        subprocess.run(["truncate", "-s", size, str(image)], check=True)
        subprocess.run(["mkfs.exfat", "-L", label, str(image)], check=True, capture_output=True)
        loop = subprocess.run(["losetup", "-f", "--show", str(image)], capture_output=True, text=True)
        if loop.returncode != 0:
            pytest.skip(f"no loop device available: {loop.stderr.strip()}")
        device = loop.stdout.strip()
        point = tmp_path / f"mnt-{image.stem}"
        point.mkdir()
        mounted = subprocess.run(["mount.exfat-fuse", device, str(point)], capture_output=True, text=True)
        if mounted.returncode != 0:
            subprocess.run(["losetup", "-d", device])
            pytest.skip(f"exfat-fuse cannot mount here: {mounted.stderr.strip()}")
        made.append((point, device))
        return point

    yield make
    for point, device in reversed(made):
        subprocess.run(["umount", str(point)], capture_output=True)
        subprocess.run(["losetup", "-d", device], capture_output=True)


@pytest.fixture(scope="session")
def package_index(tmp_path_factory):
    """Skip (with the reason) when pip cannot reach the package index from here."""
    probe = tmp_path_factory.mktemp("probe")
    try:
        run = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--dest", str(probe),
                              "--disable-pip-version-check", "humanize"],
                             capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.skip("pip could not reach the package index within 120 s")
    if run.returncode != 0:
        pytest.skip(f"pip cannot reach the package index: {run.stderr.strip().splitlines()[-1:]}")


def transfer_folder(drive: Path) -> Path:
    folders = sorted(drive.glob("airgap-*"))
    assert len(folders) == 1, f"expected one transfer folder on {drive}, found {folders}"
    return folders[0]


def default_public_key() -> Path:
    return Path(os.environ["XDG_CONFIG_HOME"]) / "airgap-transfer" / "signing.pub"


def only_resumable_partials(folder) -> bool:
    """After a failed unpack, OUTPUT_DIR may hold only the hidden partial output kept for resume."""
    return not folder.exists() or all(p.name.startswith(".") and ".agt-partial-" in p.name for p in folder.iterdir())
