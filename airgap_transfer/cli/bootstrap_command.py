"""``airgap-transfer bootstrap``: the tool and its wheels on a drive, for an offline install."""

from __future__ import annotations

from pathlib import Path

import click

from airgap_transfer.cli.options import common, renderer_for
from airgap_transfer.engine import bootstrap


@click.command("bootstrap")
@click.argument("destination", type=click.Path(path_type=Path))
@click.option("--platform", "platforms", multiple=True, metavar="TAG",
              help="Wheels for this pip platform tag instead of this machine's "
                   "(e.g. manylinux2014_x86_64); repeatable.")
@click.option("--python-version", metavar="X.Y", help="Wheels for this Python version instead of the running one.")
@common
def bootstrap_command(destination: Path, platforms: tuple[str, ...], python_version: str | None,
                      json_mode: bool, quiet: bool, debug: bool) -> None:
    """Write the tool and its dependencies as wheels to DESTINATION for offline install."""
    render = renderer_for(json_mode, quiet)
    result = bootstrap.bootstrap(bootstrap.BootstrapConfig(destination, list(platforms), python_version), render)
    render.result(result.to_dict(), [  # the bootstrap-finished event said how many wheels, where
        f"on the air-gapped side: pip install --no-index --find-links {result.folder} airgap-transfer",
        f"(see {result.folder / bootstrap.NOTE_NAME})"])
