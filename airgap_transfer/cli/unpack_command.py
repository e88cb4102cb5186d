"""``airgap-transfer unpack``: options -> UnpackConfig -> the engine -> rendered result."""

from __future__ import annotations

from pathlib import Path

import click

from airgap_transfer.cli import encryption
from airgap_transfer.cli.options import actor_options, common, renderer_for, state, trust_options
from airgap_transfer.cli.prompts import source_prompt
from airgap_transfer.custody.recorder import Actor, Recorder
from airgap_transfer.engine.unpack.unpacker import UnpackConfig, unpack
from airgap_transfer.format.names import printable


@click.command("unpack")
@click.argument("paths_", metavar="SOURCE... OUTPUT_DIR", nargs=-1, required=True,
                type=click.Path(path_type=Path, readable=False))  # an unreadable drive: our message, exit 3
@click.option("-o", "--output", "output_file", type=click.Path(path_type=Path), help="Explicit output file path.")
@click.option("--force", is_flag=True, help="Replace an existing output (nothing else).")
@click.option("--allow-rollback", is_flag=True,
              help="Accept an index older than one already accepted for the same bundle and signer "
                   "(recorded in the custody log).")
@click.option("--no-prompt", is_flag=True, help="Never wait for another drive; exit 3 naming what is missing.")
@click.option("--sha256/--no-sha256", "sha256", default=True, show_default=True,
              help="Hash the whole output with SHA-256 too, for the in-toto export; --no-sha256 skips it when "
                   "pack did not record one (faster; no in-toto export then).")
@click.option("--restart", is_flag=True,
              help="Drop the partial output of an earlier interrupted unpack instead of continuing it.")
@encryption.unpack_options
@trust_options
@actor_options
@common
def unpack_command(paths_: tuple[Path, ...], output_file: Path | None, force: bool, allow_rollback: bool,
                   no_prompt: bool, sha256: bool, restart: bool, identity_files: tuple[Path, ...],
                   trust: tuple[str, ...], allow_untrusted: bool,
                   transfer_id: str | None, operator: str | None, title: str | None, json_mode: bool,
                   quiet: bool, debug: bool) -> None:
    """Rebuild the bundle from SOURCE drives (any order) into OUTPUT_DIR."""
    if len(paths_) < 2:
        raise click.UsageError("give at least one SOURCE and the OUTPUT_DIR")
    render = renderer_for(json_mode, quiet)
    config = UnpackConfig(sources=list(paths_[:-1]), output_dir=paths_[-1], output_file=output_file,
                          force=force, allow_rollback=allow_rollback, trust=list(trust),
                          allow_untrusted=allow_untrusted,
                          transfer_id=transfer_id, no_prompt=no_prompt, sha256=sha256, restart=restart,
                          next_source=None if no_prompt else source_prompt(render),
                          identities=encryption.identities(identity_files),
                          passphrase=encryption.passphrase_from_file(), ask_passphrase=encryption.ask_passphrase)
    recorder = Recorder(render, Actor(operator, title), sources=config.sources, trust=config.trust)
    with recorder.failures():
        result = unpack(config, recorder)
    state.work_done = True
    lines = [f"wrote {result.output} ({result.size} bytes), every chunk and the whole verified",
             f"signed by key {result.key_id}" + ("" if result.trusted else " (NOT trusted: --allow-untrusted)")]
    if result.refused_members:
        lines.append(f"{len(result.refused_members)} member(s) of the folder bundle REFUSED and not extracted "
                     f"(first: {printable(result.refused_members[0]['member'])}: "
                     f"{result.refused_members[0]['reason']})")
    render.result(result.to_dict(), lines)
