"""What a destination really is: mount point, file system, capacity, identity.

psutil finds the mount; ``blkid`` (a probe of the device itself) and
``lsblk``/``/sys`` add the label, file-system UUID, serial and the real type
behind ``fuseblk``.  Every external call is bounded in time and output; any
of them may be missing, and then the field is simply unknown.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil

if TYPE_CHECKING:
    from psutil._ntuples import sdiskpart

from airgap_transfer import limits

TOOL_TIMEOUT = 5.0
FUSE_TYPES = {"fuseblk", "fuse"}


@dataclass
class Medium:
    path: str
    mount_point: str | None
    device: str | None
    fs_type: str | None
    capacity: int
    free: int
    label: str | None = None
    fs_uuid: str | None = None
    serial: str | None = None
    model: str | None = None
    removable: bool | None = None

    @property
    def max_file_size(self) -> int:
        return limits.max_file_size(self.fs_type)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "max_file_size": self.max_file_size}

    @property
    def display_name(self) -> str:
        """What an operator would call this drive: its label, else where it is mounted."""
        return self.label or self.mount_point or self.path

    def describe(self) -> str:
        parts = [self.label and f"'{self.label}'", self.fs_type, self.fs_uuid and f"UUID {self.fs_uuid}",
                 self.serial and f"serial {self.serial}"]
        return ", ".join(p for p in parts if p) or "unknown medium"


def _run(args: list[str]) -> str:
    if not shutil.which(args[0]):
        return ""
    try:
        result = subprocess.run(args, capture_output=True, timeout=TOOL_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return result.stdout[:limits.MAX_TOOL_OUTPUT].decode("utf-8", errors="replace")


def _mount_of(path: Path) -> sdiskpart | None:
    real = os.path.realpath(path)
    best = None
    for part in psutil.disk_partitions(all=True):
        point = part.mountpoint
        inside = real == point or real.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) > len(best.mountpoint)):
            best = part
    return best


def _udev_link(folder: str, device: str) -> str | None:
    """The name in /dev/disk/<folder>/ that links to ``device`` (present where udev runs)."""
    try:
        with os.scandir(f"/dev/disk/{folder}") as entries:
            for entry in entries:
                if os.path.realpath(entry.path) == device:
                    return entry.name.replace("\\x20", " ")[:256]
    except OSError:
        return None
    return None


def _blkid(device: str) -> dict[str, str]:
    fields = {}
    for line in _run(["blkid", "-o", "export", device]).splitlines():
        key, _, value = line.partition("=")
        if key in ("TYPE", "LABEL", "UUID") and value:
            fields[key] = value
    return fields


@dataclass(frozen=True)
class _DiskInfo:
    serial: str | None = None
    model: str | None = None
    removable: bool | None = None


def _sys_block(device: str) -> _DiskInfo:
    """Serial, model and removable flag from /sys for the disk holding ``device``."""
    name = os.path.basename(os.path.realpath(device))
    block = Path("/sys/class/block") / name
    if not block.exists():
        return _DiskInfo()
    disk = block.resolve()
    if (disk / "partition").exists():
        disk = disk.parent

    def read(relative: str) -> str | None:
        try:
            return (disk / relative).read_text()[:256].strip() or None
        except OSError:
            return None

    removable = read("removable")
    return _DiskInfo(serial=read("device/serial") or read("serial"), model=read("device/model"),
                     removable=None if removable is None else removable == "1")


def _lsblk_serial(device: str) -> str | None:
    for line in _run(["lsblk", "-dno", "SERIAL", device]).splitlines():
        if line.strip():
            return line.strip()
    return None


def describe(path: Path) -> Medium:
    """Everything the OS tells about the medium ``path`` lives on."""
    usage = shutil.disk_usage(path)
    part = _mount_of(path)
    medium = Medium(path=str(path), mount_point=part.mountpoint if part else None,
                    device=part.device if part else None, fs_type=part.fstype if part else None,
                    capacity=usage.total, free=usage.free)
    if medium.device and medium.device.startswith("/dev/"):
        device = os.path.realpath(medium.device)
        probed = _blkid(device)
        medium.label = _udev_link("by-label", device) or probed.get("LABEL")
        medium.fs_uuid = _udev_link("by-uuid", device) or probed.get("UUID")
        if medium.fs_type in FUSE_TYPES or not medium.fs_type:
            medium.fs_type = probed.get("TYPE", medium.fs_type)
        info = _sys_block(medium.device)
        medium.serial = info.serial or _lsblk_serial(medium.device) or _udev_link("by-id", device)
        medium.model = info.model
        medium.removable = info.removable
    return medium


def disk_of(path: Path) -> str:
    """What two destinations written at once must not share: the disk behind them.

    Partitions of one disk compete for its bandwidth, and folders of one file
    system for its free space; anything without a block device (tmpfs, a
    network mount) is told apart by its file system.
    """
    part = _mount_of(path)
    if part and part.device.startswith("/dev/"):
        block = Path("/sys/class/block") / os.path.basename(os.path.realpath(part.device))
        if block.exists():
            disk = block.resolve()
            if (disk / "partition").exists():
                disk = disk.parent
            return f"disk {disk.name}"
    return f"file system {os.stat(path).st_dev}"


def drive_mount_points() -> set[str]:
    """Mount points of block devices, for noticing a newly inserted drive.

    A tmpfs, overlay or network mount appearing while pack waits is not a
    drive someone inserted; those can still be given by typing their path.
    """
    return {part.mountpoint for part in psutil.disk_partitions(all=True) if part.device.startswith("/dev/")}
