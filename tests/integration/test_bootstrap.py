"""bootstrap writes a folder the air-gapped side installs from with no network."""

from __future__ import annotations

import json
import subprocess
import venv

from airgap_transfer import __version__


def test_offline_install_into_a_fresh_venv(cli, tmp_path, package_index):
    drive = tmp_path / "drive"
    drive.mkdir()
    made = cli("bootstrap", drive, "--json")
    assert made.code == 0, made.output
    result = json.loads(made.stdout.splitlines()[-1])
    folder = drive / "airgap-transfer-bootstrap"
    assert result["event"] == "result" and result["folder"] == str(folder)
    assert (folder / "INSTALL.txt").read_text().count("--no-index --find-links") == 1
    check = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=folder, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr

    env_dir = tmp_path / "fresh"
    venv.create(env_dir, with_pip=True, system_site_packages=False)
    install = subprocess.run([str(env_dir / "bin" / "pip"), "install", "--no-index", "--find-links", str(folder),
                              "--disable-pip-version-check", "airgap-transfer"],
                             capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stdout + install.stderr
    version = subprocess.run([str(env_dir / "bin" / "airgap-transfer"), "--version"],
                             capture_output=True, text=True)
    assert version.returncode == 0, version.stderr
    assert __version__ in version.stdout


def test_wheels_for_another_platform_and_python(cli, tmp_path, package_index):
    made = cli("bootstrap", tmp_path, "--platform", "manylinux2014_aarch64", "--python-version", "3.12", "-q")
    assert made.code == 0, made.output
    wheels = [p.name for p in (tmp_path / "airgap-transfer-bootstrap").glob("*.whl")]
    compiled = [w for w in wheels if w.startswith(("blake3", "zstandard", "msgpack"))]
    assert len(compiled) == 3
    assert all("aarch64" in w and "cp312" in w for w in compiled), compiled
    assert "Python 3.12 on manylinux2014_aarch64" in (tmp_path / "airgap-transfer-bootstrap" / "INSTALL.txt").read_text()


def test_missing_destination_is_a_usage_error(cli, tmp_path):
    run = cli("bootstrap", tmp_path / "nowhere")
    assert run.code == 2 and "is not a folder" in run.stderr
