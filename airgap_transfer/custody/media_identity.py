"""Media identity for the custody log: probe.describe, in the shape events carry."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from airgap_transfer import limits
from airgap_transfer.media import probe


def media_identity(path: Path) -> dict[str, Any]:
    """Mount, device, file system, label, UUID and serial of the medium holding ``path``."""
    described = probe.describe(path).to_dict()
    identity: dict[str, Any] = {"path": os.path.abspath(path)[:limits.MAX_FIELD_CHARS]}
    for key in ("mount_point", "device", "fs_type", "label", "fs_uuid", "serial", "model", "capacity"):
        value = described.get(key)
        if value is not None:
            identity[key] = value[:limits.MAX_FIELD_CHARS] if isinstance(value, str) else value
    return identity
