"""Where the tool keeps its own files: config (keys, trust) and state (journals)."""

from __future__ import annotations

import os
from pathlib import Path

APP = "airgap-transfer"


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / APP


def state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / APP


def trusted_dir() -> Path:
    return config_dir() / "trusted"


def custody_only_dir() -> Path:
    """Witness keys (couriers, handover desks): trusted for custody heads, never for a bundle."""
    return trusted_dir() / "custody-only"


def default_secret_key() -> Path:
    return config_dir() / "signing.key"


def default_public_key() -> Path:
    return config_dir() / "signing.pub"
