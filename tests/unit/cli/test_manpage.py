"""The committed man page is current, complete, and renders without groff warnings."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import click
import pytest

from airgap_transfer.cli import manpage
from airgap_transfer.cli.app import cli

PAGE = Path(__file__).resolve().parents[3] / "man" / "airgap-transfer.1"
REGENERATE = "python -m airgap_transfer.cli.manpage -o man/airgap-transfer.1"


def test_committed_page_is_current(tmp_path):
    fresh = tmp_path / "airgap-transfer.1"
    assert manpage.main(["-o", str(fresh)]) == 0
    assert PAGE.read_text() == fresh.read_text(), f"man page is stale: run {REGENERATE}"


def test_every_command_and_option_is_covered():
    text = manpage.render()
    ctx = cli.make_context("airgap-transfer", [], resilient_parsing=True)
    for name in cli.list_commands(ctx):
        command = cli.get_command(ctx, name)
        assert f'.SS "{manpage.roff(name)} ' in text
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden:
                for opt in param.opts:
                    assert manpage.roff(opt) in text, f"{name} {opt} missing from the man page"
    for section in ("EXIT STATUS", "FILES", "ENVIRONMENT", "SHELL COMPLETION"):
        assert f".SH {section}" in text
    for needle in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "AIRGAP_TRANSFER_PASSPHRASE_FILE", "trusted/", "bash_source",
                   "\\fB130\\fR"):
        assert needle in text


def test_roff_escapes_leading_dots_and_backslashes():
    assert manpage.roff(".hidden\n'quote\na\\b-c") == "\\&.hidden\n\\&'quote\na\\eb\\-c"


def test_man_renders_without_warnings():
    if not shutil.which("man"):
        pytest.skip("needs man (apt: man-db groff-base)")
    run = subprocess.run(["man", "--warnings", "-l", str(PAGE)], capture_output=True, text=True,
                         env={**os.environ, "MANWIDTH": "80", "MANPAGER": "cat", "PAGER": "cat"})
    assert run.returncode == 0, run.stderr
    assert run.stderr == "", run.stderr
    assert "EXIT STATUS" in run.stdout and "unpack" in run.stdout
