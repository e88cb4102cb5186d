"""``airgap-transfer custody handover`` and ``report``: the chain of custody."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from airgap_transfer.cli.options import actor_options, common, renderer_for
from airgap_transfer.cli.render import say
from airgap_transfer.custody import report
from airgap_transfer.custody.recorder import Actor
from airgap_transfer.custody.report_file import STDOUT
from airgap_transfer.custody.steps import HandoverConfig, handover


@click.group("custody")
def custody_group() -> None:
    """Record the physical steps of the chain of custody."""


@custody_group.command("handover")
@click.argument("sources", metavar="SOURCE...", nargs=-1, required=True,
                type=click.Path(path_type=Path, readable=False))
@click.option("--from", "from_name", required=True, metavar="NAME", help="Who hands the drives over.")
@click.option("--to", "to_name", required=True, metavar="NAME", help="Who receives them.")
@click.option("--seal", metavar="NUMBER", help="Tamper-evident seal or bag number.")
@click.option("--purpose", metavar="TEXT", help="Why the drives change hands.")
@click.option("--location", metavar="TEXT", help="Where the handover takes place.")
@click.option("--key", "key_path", type=click.Path(path_type=Path),
              help="Secret key to sign the log's head with (default: this host's key).")
@click.option("--transfer", "transfer_id", metavar="ID", help="Which transfer, when the drives hold several.")
@click.option("--trust", multiple=True, metavar="PUBKEY",
              help="Also accept custody heads signed by this key (e.g. the sender's); repeatable.")
@actor_options
@common
def handover_command(sources: tuple[Path, ...], from_name: str, to_name: str, seal: str | None,
                     purpose: str | None, location: str | None, key_path: Path | None, transfer_id: str | None,
                     trust: tuple[str, ...], operator: str | None, title: str | None, json_mode: bool, quiet: bool,
                     debug: bool) -> None:
    """Record that the drives at SOURCE changed hands (on the drives and locally)."""
    render = renderer_for(json_mode, quiet)
    config = HandoverConfig(list(sources), from_name, to_name, seal, purpose, location,
                            transfer_id, key_path, Actor(operator, title), list(trust))
    result = handover(config, render)
    render.result(result, [f"handover recorded as event {result['seq']} of transfer {result['transfer_id']}, "
                           f"head signed by key {result['signer']}"])


@click.command("report")
@click.argument("source", metavar="SOURCE|TRANSFER_ID")
@click.option("--format", "fmt", type=click.Choice(report.FORMATS), default="json", show_default=True,
              help="json (complete), csv (one row per event), html (printable), intoto (DSSE-signed Statement).")
@click.option("-o", "--output", type=click.Path(path_type=Path), metavar="FILE",
              help="Write the report to FILE (a regular file: an earlier one is replaced; - for stdout).")
@click.option("--verify", "verify_only", is_flag=True,
              help="Check the hash chain and signed heads; exit 4 (broken chain) or 5 (bad signature).")
@click.option("--key", "key_path", type=click.Path(path_type=Path), help="Secret key that signs the in-toto envelope.")
@click.option("--trust", multiple=True, metavar="PUBKEY", help="Also accept heads signed by this key; repeatable.")
@click.option("--transfer", "transfer_id", metavar="ID", help="Which transfer, when SOURCE holds several.")
@actor_options
@common
def report_command(source: str, fmt: str, output: Path | None, verify_only: bool, key_path: Path | None,
                   trust: tuple[str, ...], transfer_id: str | None, operator: str | None, title: str | None,
                   json_mode: bool, quiet: bool, debug: bool) -> None:
    """Export or verify the chain-of-custody report of a transfer."""
    render = renderer_for(json_mode, quiet)
    if output is None and not verify_only:
        raise click.UsageError("give -o FILE for the report (- for stdout), or --verify")
    if output == STDOUT and json_mode:
        raise click.UsageError("-o - and --json both want stdout: give -o FILE")
    config = report.ReportConfig(source, list(trust), transfer_id, key_path, Actor(operator, title))
    lines = []
    document: dict[str, Any] = {}
    if output is not None:
        document, text = report.export(config, fmt, output, render)
        if output == STDOUT:
            say(sys.stdout, text, end="")
        lines.append(f"{fmt} report of transfer {document['transfer']['transfer_id']} "
                     f"({len(document['events'])} events) written to {'stdout' if output == STDOUT else output}")
    if verify_only:
        document = report.verify(config, render)
        lines.append(f"custody chain verified: {len(document['events'])} events, head {document['head']}")
    summary = {"transfer_id": document["transfer"]["transfer_id"], "events": len(document["events"]),
               "head": document["head"], "verified": document["verification"]["ok"],
               "output": str(output) if output else None}
    render.result(summary, lines)
