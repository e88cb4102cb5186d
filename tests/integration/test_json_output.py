"""With --json, stdout of every command is JSON only, ending in a result or error document."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.conftest import _cli_command, default_public_key


def json_lines(stdout: str) -> list[dict]:
    lines = stdout.splitlines()
    assert lines, "no JSON on stdout"
    return [json.loads(line) for line in lines]  # raises on any non-JSON line


def test_every_command_speaks_json(cli, tmp_path, random_file):
    bundle = random_file(3 * 2**20)
    drive = tmp_path / "drive"
    drive.mkdir()
    out = tmp_path / "out"
    trust = ("--trust", default_public_key())
    runs = {
        "keygen": cli("keygen", "--no-passphrase", "--json"),
        "pack": cli("pack", bundle, drive, "--chunk-size", "1MiB", "--json"),
        "status": cli("status", drive, *trust, "--json"),
        "verify": cli("verify", drive, *trust, "--json"),
        "unpack": cli("unpack", drive, out, *trust, "--json"),
    }
    for name, run in runs.items():
        assert run.code == 0, (name, run.output)
        documents = json_lines(run.stdout)
        assert documents[-1]["event"] == "result", name
    pack_events = [d["event"] for d in json_lines(runs["pack"].stdout)]
    assert pack_events.count("chunk-written") == 3 and "pack-started" in pack_events
    assert json_lines(runs["verify"].stdout)[-1]["counts"]["good"] == 3
    assert json_lines(runs["unpack"].stdout)[-1]["output"] == str(out / "bundle.bin")


def test_errors_are_json_documents_too(cli, tmp_path):
    cases = [
        (("pack", tmp_path / "missing.bin", tmp_path, "--json"), 2),
        (("pack", "--bogus-option", "--json"), 2),
        (("verify", tmp_path, "--json"), 3),
        (("bootstrap", tmp_path / "nowhere", "--json"), 2),
    ]
    for args, code in cases:
        run = cli(*args)
        assert run.code == code, (args, run.output)
        last = json_lines(run.stdout)[-1]
        assert last["event"] == "error" and last["exit_code"] == code, (args, last)
        assert "airgap-transfer: error:" in run.stderr or "Error:" in run.stderr, run.stderr


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_a_reader_that_goes_away_does_not_stop_or_break_the_command(tmp_path, random_file, stream):
    """`pack --json | head -2`: the rest of the output has nowhere to go, the transfer must still finish."""
    drive = tmp_path / "drive"
    drive.mkdir()
    args = _cli_command() + ["pack", str(random_file(20 * 10**6)), str(drive), "--chunk-size", "2MB", "--no-prompt"]
    args += ["--json"] if stream == "stdout" else []
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    watched, other = (proc.stdout, proc.stderr) if stream == "stdout" else (proc.stderr, proc.stdout)
    watched.readline()
    watched.close()                     # as head does after its lines
    rest = other.read().decode(errors="replace")
    assert proc.wait(timeout=300) == 0, rest
    assert "Traceback" not in rest and "Broken pipe" not in rest
    status = subprocess.run(_cli_command() + ["status", str(drive), "--trust", default_public_key()],
                            capture_output=True, text=True)
    assert status.returncode == 0, status.stderr     # the whole transfer is on the drive, index and all
