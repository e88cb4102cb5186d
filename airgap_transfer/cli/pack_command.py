"""``airgap-transfer pack``: options -> PackConfig (or DryRunConfig) -> the engine -> rendered result."""

from __future__ import annotations

from pathlib import Path

import click
import humanize

from airgap_transfer import limits
from airgap_transfer.cli import encryption
from airgap_transfer.cli.options import actor_options, common, renderer_for, size_or_auto, size_or_none, state
from airgap_transfer.cli.prompts import drive_prompt
from airgap_transfer.cli.render import Renderer
from airgap_transfer.custody.recorder import Actor, Recorder
from airgap_transfer.engine.io import compression
from airgap_transfer.engine.pack.dry_run import DryRunConfig, dry_run
from airgap_transfer.engine.pack.packer import PackConfig, pack
from airgap_transfer.errors import NoSpaceError
from airgap_transfer.events import Event, Kind
from airgap_transfer.format.names import count_of, printable


@click.command("pack")
@click.argument("source")
@click.argument("destinations", metavar="DEST...", nargs=-1, type=click.Path(path_type=Path, readable=False))
@click.option("--chunk-size", default="auto", show_default=True, callback=size_or_auto,
              help="Chunk size: 16GB (10^9), 16GiB (2^30), bytes, or auto (as large as each drive and its "
                   "file system allow).")
@click.option("--key", "key_path", type=click.Path(path_type=Path),
              help="Secret key to sign with (default: the config folder's).")
@click.option("--name", help="Bundle name recorded in the index (default: the source's file name).")
@click.option("--no-readback", is_flag=True,
              help="Skip reading each chunk back from the medium (recorded in the index).")
@click.option("--no-prompt", is_flag=True, help="Never wait for another drive; exit 3 (or 6 up front) instead.")
@click.option("--dry-run", is_flag=True, help="Only say how many chunks and drives the bundle needs; write nothing.")
@click.option("--drive-size", callback=size_or_none, metavar="SIZE",
              help="With --dry-run: plan for drives of this size instead of the DESTs present.")
@click.option("--fs-type", metavar="TYPE", help="With --drive-size: their file system (vfat, exfat, ntfs, ext4, ...).")
@click.option("--sha256", is_flag=True, help="Also record SHA-256 of every chunk and the whole (FIPS-approved).")
@click.option("--compress", type=click.Choice(["auto", "zstd", "none"]), default="auto", show_default=True,
              help="Store chunks as zstd frames; auto samples the source and skips data that does not shrink.")
@click.option("--resume", is_flag=True,
              help="Continue the unfinished pack of SOURCE (also done without this flag); fail if there is none.")
@click.option("--restart", is_flag=True, help="Forget an unfinished pack of SOURCE and start a new transfer.")
@click.option("--no-parallel", is_flag=True,
              help="Fill the DESTs one after another instead of writing those on different disks at once.")
@click.option("--full-recheck", is_flag=True,
              help="The last check of each finished drive re-reads every chunk (and parity file) whole instead of "
                   "samples of each.")
@click.option("--parity", type=click.IntRange(0, limits.MAX_PARITY), default=0, show_default=True, metavar="N",
              help="Write N drives' worth of parity (on the last N DESTs, or drives asked for at the end): any N "
                   "drives, or damaged chunks on up to N drives, may then be lost and unpack still rebuilds "
                   "the bundle.")
@encryption.pack_options
@actor_options
@common
def pack_command(source: str, destinations: tuple[Path, ...], chunk_size: int | None, key_path: Path | None,
                 name: str | None, no_readback: bool, no_prompt: bool, dry_run: bool, drive_size: int | None,
                 fs_type: str | None, sha256: bool, compress: str, resume: bool, restart: bool, no_parallel: bool,
                 full_recheck: bool, parity: int, encrypt_to: tuple[str, ...], use_passphrase: bool,
                 operator: str | None, title: str | None, json_mode: bool, quiet: bool, debug: bool) -> None:
    """Pack SOURCE (a file, a folder, or - for stdin) onto one or more DEST drives."""
    render = renderer_for(json_mode, quiet)
    if resume and restart:
        raise click.UsageError("--resume and --restart exclude each other")
    if not destinations and not (dry_run and drive_size is not None):
        raise click.UsageError("give at least one DEST drive (only --dry-run --drive-size SIZE plans without one)")
    if dry_run:
        _dry_run(DryRunConfig(source=source, destinations=list(destinations), chunk_size=chunk_size, name=name,
                              compress=compress, parallel=not no_parallel, drive_size=drive_size,
                              fs_type=fs_type, parity=parity, encrypted=bool(encrypt_to) or use_passphrase), render)
        return
    if drive_size is not None or fs_type is not None:
        raise click.UsageError("--drive-size and --fs-type go with --dry-run")
    config = PackConfig(source=source, destinations=list(destinations), chunk_size=chunk_size,
                        key_path=key_path, no_prompt=no_prompt, readback=not no_readback, name=name,
                        sha256=sha256, compress=compress, resume=resume, restart=restart,
                        parallel=not no_parallel, parity=parity, full_recheck=full_recheck,
                        recipients=encryption.recipients(encrypt_to),
                        passphrase=encryption.passphrase(confirm=True) if use_passphrase else None,
                        next_drive=None if no_prompt else drive_prompt(render, use_stdin=source != "-"))
    recorder = Recorder(render, Actor(operator, title), key_path=key_path)
    with recorder.failures():
        result = pack(config, recorder)
    state.work_done = True
    render.result(result.to_dict(), [
        f"packed {printable(result.bundle_name)}: {result.bundle_size} bytes, "
        f"{count_of(len(result.chunks), 'chunk')}, {count_of(len(result.drives), 'drive')}",
        f"{compression.describe(result.compression)}: {result.stored_size} bytes on the drives"
        + (f", encrypted (age) to {result.recipients} recipient(s)" if result.recipients else ""),
        *([f"parity on {', '.join(result.parity_drives)}: any {result.parity} drive(s) may be lost"]
          if result.parity else []),
        f"transfer {result.transfer_id}, signed by key {result.key_id}",
        f"blake3 {result.bundle_blake3}"])


def _dry_run(config: DryRunConfig, render: Renderer) -> None:
    if config.fs_type is not None and config.drive_size is None:
        raise click.UsageError("--fs-type goes with --drive-size")
    if config.fs_type is not None and config.fs_type.lower() not in limits.MAX_FILE_SIZE:
        known = ", ".join(sorted(limits.MAX_FILE_SIZE))
        raise click.BadParameter(f"unknown file system {config.fs_type!r}; known: {known}", param_hint="--fs-type")
    result = dry_run(config)
    plan, size = result.plan, humanize.naturalsize
    for drive in plan.drives:   # as pack warns when it opens such a drive
        if drive.chunks and config.chunk_size and drive.chunk_limit < config.chunk_size:
            render(Event(Kind.CHUNK_SIZE_CLAMPED, f"--chunk-size {config.chunk_size} is more than {drive.name} "
                         f"({drive.fs_type or 'unknown fs'}) takes in one file: its chunks would be cut to "
                         f"{drive.chunk_limit} bytes", {"drive": drive.name, "limit": drive.chunk_limit},
                         level="warning"))
    used = sum(1 for d in plan.drives if d.chunks)
    placed = f"{count_of(plan.chunk_count, 'chunk')} on {count_of(used, 'drive')}"
    lines = [f"{printable(result.bundle)}: {size(plan.size, binary=True)} in {placed}" if not plan.unplaced else
             f"{printable(result.bundle)}: {size(plan.size, binary=True)}, of which the drives given take "
             f"{size(plan.size - plan.unplaced, binary=True)} in {placed}"]
    lines[0] += ", written at once" if result.at_once else ""
    for drive in plan.drives:
        if drive.chunks:
            lines.append(f"  {drive.name}: {count_of(len(drive.chunks), 'chunk')}, "
                         f"{size(sum(drive.chunks), binary=True)} (chunk limit "
                         f"{size(drive.chunk_limit, binary=True)}, {drive.fs_type or 'unknown fs'})")
    if result.more:
        count, like, capacity = result.more
        lines.append(f"the other {size(plan.unplaced, binary=True)} need {count_of(count, 'more drive')} like "
                     f"{like} ({size(capacity, binary=True)}, empty)")
    if result.parity:
        places = ", ".join(map(str, result.parity.destinations)) or "drives asked for at the end"
        lines.append(f"parity: {result.parity.drives} more drive(s) of at least "
                     f"{size(result.parity.bytes_per_drive, binary=True)} each ({places}); "
                     f"{result.parity.drives_in_all} drives in all, any {result.parity.drives} of which may be lost")
    render.result(result.to_dict(), lines)
    if result.fits_nowhere and config.drive_size is not None:
        raise NoSpaceError(f"drives of {size(config.drive_size, binary=True)} cannot hold a chunk of this bundle",
                           hint="plan with a larger --drive-size")
    if result.fits_nowhere:
        raise NoSpaceError(f"{size(plan.unplaced, binary=True)} of {printable(result.bundle)} do not fit on the "
                           "drives given, and empty drives of their size could not hold a chunk either",
                           hint="use larger drives, or plan for them with --drive-size SIZE --fs-type TYPE")
