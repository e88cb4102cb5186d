"""Media identity for the custody log: which physical medium holds a path.

One function, ``media_identity``, on purpose: media.py (issue 3) describes
destinations for pack, and once merged this should answer from
``media.describe(path).to_dict()``.  Until then: psutil finds the mount, udev's
/dev/disk links or util-linux ``blkid`` give label and UUID, sysfs the serial.
Every external call is bounded in time and output.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import psutil

MAX_FIELD_CHARS = 256


def _link_device(folder: str, device: str) -> str | None:
    """The name in /dev/disk/<folder>/ whose link resolves to ``device``."""
    try:
        with os.scandir(f"/dev/disk/{folder}") as entries:
            for entry in entries:
                if os.path.realpath(entry.path) == device:
                    return entry.name.replace("\\x20", " ")[:MAX_FIELD_CHARS]
    except OSError:
        return None
    return None


def _blkid(device: str) -> dict[str, str]:
    """LABEL/UUID/TYPE from util-linux blkid, where udev's /dev/disk links are absent."""
    tool = shutil.which("blkid")
    if not tool:
        return {}
    try:
        done = subprocess.run([tool, "-o", "export", "--", device], capture_output=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return {}
    found = {}
    for line in done.stdout[:8192].decode("utf-8", "replace").splitlines():
        key, _, value = line.partition("=")
        if key in ("LABEL", "UUID", "TYPE") and value:
            found[key] = value[:MAX_FIELD_CHARS]
    return found


def _sysfs(device: str) -> dict[str, str]:
    """Serial of the disk (USB/SATA/NVMe report one) and a loop device's backing file."""
    name = os.path.basename(device)
    found = {}
    for key, relative in (("serial", "device/serial"), ("serial", "device/wwid"), ("backing_file", "loop/backing_file")):
        try:
            with open(f"/sys/class/block/{name}/{relative}", "rb") as handle:
                value = handle.read(MAX_FIELD_CHARS).decode("utf-8", "replace").strip()
        except OSError:
            continue
        if value and key not in found:
            found[key] = value
    return found


def _device_identity(device: str) -> dict[str, str]:
    identity = {}
    for key, folder in (("label", "by-label"), ("fs_uuid", "by-uuid"), ("serial", "by-id")):
        value = _link_device(folder, device)
        if value:
            identity[key] = value
    if "label" not in identity or "fs_uuid" not in identity:
        probed = _blkid(device)
        for key, probe in (("label", "LABEL"), ("fs_uuid", "UUID"), ("fs_format", "TYPE")):
            if probe in probed:
                identity.setdefault(key, probed[probe])
    for key, value in _sysfs(device).items():
        identity.setdefault(key, value)
    return identity


def media_identity(path: Path) -> dict[str, Any]:
    """What the OS tells about the medium holding ``path``: mount, device, label, UUID, serial.

    One function on purpose: once media.py (issue 3) lands, it answers here.
    """
    real = os.path.realpath(path)
    identity: dict[str, Any] = {"path": os.path.abspath(path)[:MAX_FIELD_CHARS]}
    best = None
    try:
        for part in psutil.disk_partitions(all=True):
            mount = part.mountpoint
            if (real == mount or real.startswith(mount.rstrip("/") + "/")) and (
                    best is None or len(mount) > len(best.mountpoint)):
                best = part
    except OSError:
        best = None
    if best is not None:
        identity.update(mount_point=best.mountpoint, device=best.device, fs_type=best.fstype)
        if best.device.startswith("/dev/"):
            identity.update(_device_identity(os.path.realpath(best.device)))
    try:
        stats = os.statvfs(path)
        identity["fsid"] = f"{stats.f_fsid:016x}"
        identity["capacity"] = stats.f_blocks * stats.f_frsize
    except OSError:
        pass
    return identity
