"""Real file systems for the direct-I/O tests: ext4 on a loop device (a block device, as a USB disk is)."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.conftest import IS_ROOT


def mount(tmp_path: Path, made: list, *command: str) -> Path:
    point = tmp_path / f"mnt-{uuid.uuid4().hex[:6]}"
    point.mkdir()
    result = subprocess.run([*command, str(point)], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount {command[1:3]} here: {result.stderr.strip()}")
    made.append(("umount", point))
    return point


@pytest.fixture
def ext4(tmp_path):
    """An ext4 image on a loop device: a file system on a block device, as a USB disk is."""
    if not IS_ROOT:
        pytest.skip("needs root for loop devices")
    if not (shutil.which("mkfs.ext4") and shutil.which("losetup")):
        pytest.skip("needs mkfs.ext4 (e2fsprogs) and losetup")
    made: list = []
    image = tmp_path / "ext4.img"
    subprocess.run(["truncate", "-s", "32M", str(image)], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], check=True, capture_output=True)
    loop = subprocess.run(["losetup", "-f", "--show", str(image)], capture_output=True, text=True)
    if loop.returncode != 0:
        pytest.skip(f"no loop device available: {loop.stderr.strip()}")
    made.append(("losetup", loop.stdout.strip()))
    point = mount(tmp_path, made, "mount", "-t", "ext4", loop.stdout.strip())
    yield point, image
    for kind, what in reversed(made):
        subprocess.run(["umount", str(what)] if kind == "umount" else ["losetup", "-d", what], capture_output=True)
