"""The README's command table names every command and option the CLI has (a merge once dropped rows)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import click

from airgap_transfer.cli.app import cli

README = Path(__file__).resolve().parents[3] / "README.md"
# Said once under the table: "Every command takes --json and -q/--quiet; --debug shows tracebacks."
EVERYWHERE = {"--json", "-q", "--quiet", "-h", "--help", "--debug"}


def _commands(group: click.Group, ctx: click.Context, prefix: str = "") -> Iterator[tuple[str, click.Command]]:
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        if isinstance(command, click.Group):
            yield from _commands(command, ctx, f"{prefix}{name} ")
        else:
            yield f"{prefix}{name}", command


def _table() -> str:
    text = README.read_text()
    section = text.split("\n## Commands\n", 1)[1].split("\n## ", 1)[0]
    return "\n".join(line for line in section.splitlines() if line.startswith("| `"))


def _row(table: str, name: str) -> str:
    """The row of command NAME ("trust add" is in the row of `trust add|list|remove`)."""
    group, _, sub = name.rpartition(" ")
    for line in table.splitlines():
        head = line.split("`")[1].split(" ")
        words = [w for w in head if re.fullmatch(r"[a-z][a-z|\\-]*", w)]
        if not group and words[:1] == [name]:
            return line
        if group and words[:-1] == group.split() and sub in words[-1].replace("\\", "").split("|"):
            return line
    raise AssertionError(f"`{name}` has no row in the README's command table")


def _names(row: str, option: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", row) is not None


def test_every_command_and_option_has_its_place_in_the_readme_table():
    table = _table()
    ctx = cli.make_context("airgap-transfer", [], resilient_parsing=True)
    missing = []
    for name, command in _commands(cli, ctx):
        row = _row(table, name)
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden:
                if EVERYWHERE.isdisjoint(param.opts) and not any(_names(row, opt) for opt in param.opts):
                    missing.append(f"{name} {max(param.opts, key=len)}")
    assert missing == [], f"options missing from the README's command table: {missing}"


def test_the_passphrase_file_is_named_in_the_table():
    assert "AIRGAP_TRANSFER_PASSPHRASE_FILE" in _table()
