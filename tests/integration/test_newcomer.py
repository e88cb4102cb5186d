"""A new user follows the README literally, on a fresh clone in fresh venvs.

The README's first command installs the tool (not editable) and packs a
bundle; from that installation (no source tree) `man airgap-transfer` finds
the page and `bootstrap` writes a folder that installs offline into yet
another venv. The second command installs the test extra; the suite it would
run is this one, so the test runs one small file of it instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README_COMMANDS = 2


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = text.split("```sh\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()][:README_COMMANDS]


def _fresh_clone(target: Path) -> Path:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs git and a git checkout of the project to clone")
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode != 0:
        pytest.skip(f"cannot read the checkout's HEAD: {head.stderr.strip()}")
    subprocess.run(["git", "clone", "-q", "--no-checkout", str(ROOT), str(target)], check=True)
    subprocess.run(["git", "-C", str(target), "checkout", "-q", head.stdout.strip()], check=True)
    return target


def _shell(command: str, cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", command], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})


def test_readme_first_two_commands_in_a_fresh_clone(tmp_path, tmpfs, package_index):
    if shutil.which("python3") is None or shutil.which("man") is None:
        pytest.skip("needs python3 (with venv) and man on PATH, as a newcomer's machine has")
    install_and_pack, install_and_test = _readme_commands()
    assert install_and_pack.startswith("python3 -m venv .venv && ") and "pip install -e" not in install_and_pack
    assert install_and_test.endswith("-m pytest -q")
    clone = _fresh_clone(tmp_path / "clone")
    source = clone / "deploy"
    source.mkdir()
    (source / "weights.bin").write_bytes(os.urandom(3 * 2**20))
    with tarfile.open(clone / "bundle.tar.gz", "w:gz") as tar:
        tar.add(source, arcname="deploy")
    usb = tmpfs("32M", "usb")

    first = _shell(install_and_pack.replace("/media/usb", str(usb)), clone)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "packed bundle.tar.gz" in first.stderr
    assert list(usb.glob("airgap-*/index.agt"))

    bin_dir = clone / ".venv" / "bin"
    page = subprocess.run(["man", "-w", "airgap-transfer"], capture_output=True, text=True,
                          env={**os.environ, "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}", "MANPATH": ""})
    assert page.returncode == 0 and page.stdout.strip() == str(clone / ".venv/share/man/man1/airgap-transfer.1")

    # No source tree behind this installation: bootstrap rebuilds the tool's wheel from the installed files.
    shutil.rmtree(clone / "build", ignore_errors=True)
    drive = tmp_path / "drive"
    drive.mkdir()
    made = subprocess.run([str(bin_dir / "airgap-transfer"), "bootstrap", str(drive)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=900)
    assert made.returncode == 0, made.stdout + made.stderr
    assert "rebuilt airgap_transfer-" in made.stderr
    folder = drive / "airgap-transfer-bootstrap"
    assert subprocess.run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=folder).returncode == 0
    offline = tmp_path / "offline"
    installed = _shell(f"python3 -m venv {offline} && {offline}/bin/pip install -q --no-index --find-links "
                       f"{folder} airgap-transfer && {offline}/bin/airgap-transfer --version", tmp_path)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert (offline / "share/man/man1/airgap-transfer.1").is_file()
    unpacked = subprocess.run([str(offline / "bin/airgap-transfer"), "unpack", str(usb), str(tmp_path / "out"),
                               "--no-prompt"], capture_output=True, text=True)
    assert unpacked.returncode == 0, unpacked.stderr  # the local signing key is trusted on its own machine
    assert (tmp_path / "out" / "bundle.tar.gz").read_bytes() == (clone / "bundle.tar.gz").read_bytes()

    # The second command, as written, up to the suite it would start (which is this one).
    install = install_and_test.rsplit(" && ", 1)[0]
    second = _shell(f"{install} && .venv/bin/python -m pytest -q -p no:cacheprovider tests/unit/cli/test_sizes.py",
                    clone)
    assert second.returncode == 0, second.stdout + second.stderr
    assert " passed" in second.stdout
