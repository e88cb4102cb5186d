"""bootstrap: put the tool itself on a drive, installable offline.

Runs on the connected side.  Writes ``DEST/airgap-transfer-bootstrap/`` with
the project's wheel, wheels of every dependency (for this machine, or for the
``--platform``/``--python-version`` given), a SHA256SUMS file, and INSTALL.txt.
pip does the building and resolving; we only drive it with fixed arguments.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airgap_transfer import __version__
from airgap_transfer.engine import installed_wheel
from airgap_transfer.errors import AirgapError, UsageError
from airgap_transfer.events import Callback, Kind, Reporter
from airgap_transfer.media import fsio

FOLDER_NAME = "airgap-transfer-bootstrap"
NOTE_NAME = "INSTALL.txt"
SUMS_NAME = "SHA256SUMS"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
PIP_TIMEOUT = 900


@dataclass
class BootstrapConfig:
    destination: Path
    platforms: list[str] = field(default_factory=list)   # pip --platform tags, e.g. manylinux2014_x86_64
    python_version: str | None = None                    # e.g. 3.11


@dataclass
class BootstrapResult:
    folder: Path
    wheels: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"folder": str(self.folder), "wheels": self.wheels}


def _project_source() -> Path | None:
    """The source checkout this copy runs from (an editable install), or None for an installed wheel."""
    if (PROJECT_ROOT / "pyproject.toml").is_file() and (PROJECT_ROOT / "airgap_transfer").is_dir():
        return PROJECT_ROOT
    return None


def _pip(args: list[str], report: Reporter, what: str) -> None:
    command = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    report.info(Kind.BOOTSTRAP_STEP, what, command=command)
    try:
        run = subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise AirgapError(f"pip took longer than {PIP_TIMEOUT} s ({what})",
                          hint="check the connection to the package index and run bootstrap again") from None
    if run.returncode != 0:
        last = (run.stderr.strip().splitlines() or ["no message"])[-1]
        raise AirgapError(f"pip failed ({what}): {last}",
                          hint="check the connection to the package index, the --platform and "
                               "--python-version values, then run bootstrap again")


def _target_flags(config: BootstrapConfig) -> list[str]:
    if not config.platforms and not config.python_version:
        return []
    flags = ["--only-binary=:all:"]
    for platform in config.platforms:
        flags += ["--platform", platform]
    if config.python_version:
        flags += ["--python-version", config.python_version]
    return flags


def install_note(folder_name: str, wheels: list[str], config: BootstrapConfig) -> str:
    target = ", ".join(config.platforms) or "the machine bootstrap ran on"
    python = config.python_version or f"{sys.version_info.major}.{sys.version_info.minor}"
    return "\n".join([
        f"airgap-transfer {__version__}: offline installation",
        "",
        f"These wheels are for Python {python} on {target}.",
        "Check them, then install into a virtual environment, without any network:",
        "",
        f"    cd {folder_name} && sha256sum -c {SUMS_NAME} && cd ..",
        "    python3 -m venv ~/airgap-transfer-venv",
        f"    ~/airgap-transfer-venv/bin/pip install --no-index --find-links {folder_name} airgap-transfer",
        "    ~/airgap-transfer-venv/bin/airgap-transfer --version",
        "",
        "Files:",
        *(f"    {name}" for name in wheels),
        "",
    ])


def bootstrap(config: BootstrapConfig, callback: Callback | None = None) -> BootstrapResult:
    report = Reporter(callback)
    if not config.destination.is_dir():
        raise UsageError(f"destination {config.destination} is not a folder",
                         hint="mount the drive or create the folder")
    source = _project_source()
    folder = config.destination / FOLDER_NAME
    folder.mkdir(exist_ok=True)
    for stale in folder.glob("airgap_transfer-*.whl"):
        stale.unlink()  # an earlier bootstrap's wheel of another version must not be installed instead
    if source is not None:
        _pip(["wheel", "--no-deps", "--wheel-dir", str(folder), str(source)], report,
             f"building the airgap-transfer {__version__} wheel")
    else:
        wheel = installed_wheel.build(folder)
        report.info(Kind.BOOTSTRAP_STEP, f"rebuilt {wheel.name} from the installed files (RECORD digests checked)",
                    wheel=wheel.name)
    own = sorted(folder.glob(f"airgap_transfer-{__version__}-*.whl"))
    if not own:
        raise AirgapError("pip built no airgap-transfer wheel", hint="run bootstrap with a working pip")
    flags = _target_flags(config)
    if flags:
        _pip(["download", "--dest", str(folder), *flags, str(own[-1])], report,
             "downloading dependency wheels for " + " ".join(flags[1:]))
    else:
        _pip(["wheel", "--wheel-dir", str(folder), str(own[-1])], report,
             "collecting dependency wheels for this machine")
    wheels = sorted(p.name for p in folder.iterdir() if p.suffix == ".whl")
    sums = "".join(f"{_sha256(folder / name)}  {name}\n" for name in wheels)
    fsio.atomic_write_bytes(folder / SUMS_NAME, sums.encode())
    fsio.atomic_write_bytes(folder / NOTE_NAME, install_note(FOLDER_NAME, wheels, config).encode())
    report.info(Kind.BOOTSTRAP_FINISHED, f"wrote {len(wheels)} wheels to {folder}", folder=str(folder),
                wheels=wheels)
    return BootstrapResult(folder, wheels)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(2**20):
            digest.update(block)
    return digest.hexdigest()
