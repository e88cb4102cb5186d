"""Each command imports only what it runs: a cold start is a third of a second of a small unpack."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest

from airgap_transfer.cli.app import COMMANDS, cli


def test_every_registered_name_loads_its_own_command() -> None:
    ctx = click.Context(cli)
    assert cli.list_commands(ctx) == sorted(COMMANDS)
    for name in COMMANDS:
        command = cli.get_command(ctx, name)
        assert isinstance(command, click.Command) and command.name == name
    assert cli.get_command(ctx, "no-such-command") is None


@pytest.mark.parametrize("command", ["pack", "unpack", "verify", "status", "report", "custody", "trust"])
def test_a_command_without_parity_does_not_load_numpy(command: str) -> None:
    """numpy (parity's codec) is a quarter of a cold start; only a parity pack or a rebuild needs it."""
    probe = ("import sys, click\n"
             "from airgap_transfer.cli.app import cli\n"
             f"cli.get_command(click.Context(cli), {command!r})\n"
             "print(sorted(m for m in ('numpy', 'airgap_transfer.engine.parity.codec') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


def test_unpack_does_not_load_the_pack_engine() -> None:
    probe = ("import sys, click\n"
             "from airgap_transfer.cli.app import cli\n"
             "cli.get_command(click.Context(cli), 'unpack')\n"
             "print(sorted(m for m in sys.modules if m.startswith('airgap_transfer.engine.pack')))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
