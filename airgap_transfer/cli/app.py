"""The click layer: parse options, build a config, call the engine, render.

Everything that can go wrong in an expected way is an AirgapError; ``main``
is the one place that turns it into one line and the exit code from the brief.
"""

from __future__ import annotations

import dataclasses
import signal
import sys
import traceback
from pathlib import Path

import click
import humanize

from airgap_transfer import __version__, limits
from airgap_transfer.cli.render import Renderer
from airgap_transfer.cli.sizes import parse_size, parse_size_or_auto
from airgap_transfer.cli.waiting import DriveWaiter
from airgap_transfer.custody import recorder as custody_record
from airgap_transfer.custody import report
from airgap_transfer.engine import bootstrap
from airgap_transfer.engine.io import compression
from airgap_transfer.engine.pack.packer import DriveRequest, PackConfig, pack
from airgap_transfer.engine.pack.preflight import dry_run_plan, parity_need, split_parity, why_in_turn
from airgap_transfer.engine.pack.preflight import more_drives as dry_run_more
from airgap_transfer.engine.pack.source import open_source
from airgap_transfer.engine.unpack import inspect
from airgap_transfer.engine.unpack.unpacker import SourceRequest, UnpackConfig, unpack
from airgap_transfer.errors import (
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    AirgapError,
    IncompleteError,
    NoSpaceError,
    UsageError,
)
from airgap_transfer.events import Event
from airgap_transfer.format.names import count_of, printable
from airgap_transfer.state import paths
from airgap_transfer.trust import keys

_renderer: Renderer | None = None
_json_requested = False  # errors before a command built its renderer still honour --json


def _common(func):
    func = click.option("--json", "json_mode", is_flag=True, help="Machine-readable output on stdout (JSON lines).")(func)
    func = click.option("--quiet", "-q", is_flag=True, help="Only warnings and errors.")(func)
    func = click.option("--debug", is_flag=True, hidden=True, help="Show tracebacks.")(func)
    return func


def _renderer_for(json_mode: bool, quiet: bool) -> Renderer:
    global _renderer
    _renderer = Renderer(json_mode=json_mode, quiet=quiet)
    return _renderer


def _trust_options(func):
    func = click.option("--trust", multiple=True, metavar="PUBKEY",
                        help="Trust this public key (file or base64 line); repeatable.")(func)
    func = click.option("--allow-untrusted", is_flag=True,
                        help="Accept an index signed by an untrusted key; prints its key id.")(func)
    func = click.option("--transfer", "transfer_id", metavar="ID",
                        help="Which transfer, when the sources hold several (a prefix is enough).")(func)
    return func


def _actor_options(func):
    func = click.option("--title", metavar="TITLE", help="The operator's title or role, for the custody log.")(func)
    func = click.option("--operator", metavar="NAME", help="Who operates, for the custody log (default: the login user).")(func)
    return func


def _size(ctx, param, value):
    try:
        return parse_size_or_auto(value)
    except AirgapError as exc:
        raise click.BadParameter(exc.one_line()) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="airgap-transfer")
@click.option("--debug", is_flag=True, help="Show tracebacks on internal errors.")
def cli(debug: bool) -> None:
    """Carry large bundles across an air gap on removable drives."""


def _size_or_none(ctx, param, value):
    if value is None:
        return None
    try:
        return parse_size(value)
    except AirgapError as exc:
        raise click.BadParameter(exc.one_line()) from None


def _drive_prompt(render: Renderer, use_stdin: bool):
    waiter = DriveWaiter(use_stdin=use_stdin)

    def next_drive(request: DriveRequest) -> Path | None:
        left = "the rest" if request.remaining is None else humanize.naturalsize(request.remaining, binary=True)
        how = "type its mount path and Enter, or just mount it" if use_stdin else "mount it"
        room = (f"; it must take a file of {humanize.naturalsize(request.need, binary=True)}" if request.need
                else "")
        what = (f"insert drive {request.ordinal} for parity ({request.parity} parity drive(s) still to write)"
                if request.parity else f"insert drive {request.ordinal} ({left} still to write{room})")
        render(Event("waiting-for-drive", f"{what}: {how}",
                     {"ordinal": request.ordinal, "remaining": request.remaining, "need": request.need,
                      "parity": request.parity}, level="warning"))
        return waiter.wait()
    return next_drive


@cli.command("pack")
@click.argument("source")
@click.argument("destinations", metavar="DEST...", nargs=-1, type=click.Path(path_type=Path))
@click.option("--chunk-size", default="auto", show_default=True, callback=_size,
              help="Chunk size: 16GB (10^9), 16GiB (2^30), bytes, or auto (as large as each drive and its "
                   "file system allow).")
@click.option("--key", "key_path", type=click.Path(path_type=Path), help="Secret key to sign with (default: the config folder's).")
@click.option("--name", help="Bundle name recorded in the index (default: the source's file name).")
@click.option("--no-readback", is_flag=True, help="Skip reading each chunk back from the medium (recorded in the index).")
@click.option("--no-prompt", is_flag=True, help="Never wait for another drive; exit 3 (or 6 up front) instead.")
@click.option("--dry-run", is_flag=True, help="Only say how many chunks and drives the bundle needs; write nothing.")
@click.option("--drive-size", callback=_size_or_none, metavar="SIZE",
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
              help="The last check of each finished drive re-reads every chunk whole instead of samples of each.")
@click.option("--parity", type=click.IntRange(0, limits.MAX_PARITY), default=0, show_default=True, metavar="N",
              help="Write N drives' worth of parity (on the last N DESTs, or drives asked for at the end): any N "
                   "drives, or damaged chunks on up to N drives, may then be lost and unpack still rebuilds the bundle.")
@_actor_options
@_common
def pack_command(source, destinations, chunk_size, key_path, name, no_readback, no_prompt, dry_run,
                 drive_size, fs_type, sha256, compress, resume, restart, no_parallel, full_recheck, parity, operator,
                 title,
                 json_mode, quiet, debug):
    """Pack SOURCE (a file, a folder, or - for stdin) onto one or more DEST drives."""
    render = _renderer_for(json_mode, quiet)
    config = PackConfig(source=source, destinations=list(destinations), chunk_size=chunk_size,
                        key_path=key_path, no_prompt=no_prompt, readback=not no_readback, name=name,
                        sha256=sha256, compress=compress, resume=resume, restart=restart,
                        parallel=not no_parallel, full_recheck=full_recheck, parity=parity)
    if resume and restart:
        raise click.UsageError("--resume and --restart exclude each other")
    if not destinations and not (dry_run and drive_size is not None):
        raise click.UsageError("give at least one DEST drive (only --dry-run --drive-size SIZE plans without one)")
    if dry_run:
        _dry_run(config, render, drive_size, fs_type)
        return
    if drive_size is not None or fs_type is not None:
        raise click.UsageError("--drive-size and --fs-type go with --dry-run")
    if not no_prompt:
        config.next_drive = _drive_prompt(render, use_stdin=source != "-")
    recorder = custody_record.Recorder(render, custody_record.Actor(operator, title), key_path=key_path)
    with recorder.failures():
        result = pack(config, recorder)
    render.result(result.to_dict(), [  # the pack-finished event said what was packed where
        f"{compression.describe(result.compression)}: {result.stored_size} bytes on the drives",
        *([f"parity on {', '.join(result.parity_drives)}: any {result.parity} drive(s) may be lost"]
          if result.parity else []),
        f"transfer {result.transfer_id}, signed by key {result.key_id}",
        f"blake3 {result.bundle_blake3}"])


def _dry_run(config: PackConfig, render: Renderer, drive_size: int | None, fs_type: str | None) -> None:
    if fs_type is not None and drive_size is None:
        raise click.UsageError("--fs-type goes with --drive-size")
    if fs_type is not None and fs_type.lower() not in limits.MAX_FILE_SIZE:
        raise click.BadParameter(f"unknown file system {fs_type!r}; known: {', '.join(sorted(limits.MAX_FILE_SIZE))}",
                                 param_hint="--fs-type")
    data, reserved = split_parity(config) if drive_size is None else (config.destinations, [])
    data_config = dataclasses.replace(config, destinations=data)
    with open_source(config.source, config.name) as source:
        if source.size is None:
            raise UsageError("--dry-run needs a source whose size is known (a file, not stdin)")
        encoding = compression.decide(config.compress, source.name,
                                      source.sample(compression.SAMPLE_SIZE)).encoding
        may_share = why_in_turn(source, encoding, data, config.parallel) is None
        plan, at_once = dry_run_plan(source.size, data_config, drive_size, fs_type, at_once=may_share)
    size = humanize.naturalsize
    used = sum(1 for d in plan.drives if d.chunks)
    lines = [f"{printable(source.name)}: {size(plan.size, binary=True)} in {_count(plan.chunk_count, 'chunk')} on "
             f"{_count(used, 'drive')}" + (", written at once" if at_once else "")
             + ("" if not plan.unplaced else ", for the part that fits")]
    for drive in plan.drives:
        if drive.chunks:
            lines.append(f"  {drive.name}: {_count(len(drive.chunks), 'chunk')}, "
                         f"{size(sum(drive.chunks), binary=True)} (chunk limit {size(drive.chunk_limit, binary=True)}, {drive.fs_type or 'unknown fs'})")
    document = {"dry_run": True, "bundle": source.name, "at_once": at_once, **plan.to_dict(), "parity": None}
    if plan.unplaced and drive_size is not None:
        render.result(document, lines)
        raise NoSpaceError(f"drives of {size(drive_size, binary=True)} cannot hold a chunk of this bundle",
                           hint="plan with a larger --drive-size")
    if plan.unplaced:
        more = dry_run_more(plan.unplaced, data, config.chunk_size)
        if more is None:
            render.result(document, lines)
            raise NoSpaceError(f"{size(plan.unplaced, binary=True)} of {printable(source.name)} do not fit on the "
                               "drives given, and empty drives of their size could not hold a chunk either",
                               hint="use larger drives, or plan for them with --drive-size SIZE --fs-type TYPE")
        count, like, capacity = more
        document["more_drives"] = count
        lines.append(f"the other {size(plan.unplaced, binary=True)} need {_count(count, 'more drive')} like {like} "
                     f"({size(capacity, binary=True)}, empty)")
    if config.parity:
        need = parity_need(plan)
        places = ", ".join(map(str, reserved)) or "drives asked for at the end"
        lines.append(f"parity: {config.parity} more drive(s) of at least {size(need, binary=True)} each "
                     f"({places}); {used + config.parity} drives in all, any {config.parity} of which may be lost")
        document["parity"] = {"drives": config.parity, "bytes_per_drive": need,
                              "destinations": [str(d) for d in reserved], "drives_in_all": used + config.parity}
    render.result(document, lines)


def _source_prompt(render: Renderer):
    waiter = DriveWaiter()

    def next_source(request: SourceRequest) -> Path | None:
        render(Event("waiting-for-drive", f"still needed: {request.missing}; insert the drive and type its "
                     "mount path and Enter, or just mount it",
                     {"missing_chunks": request.missing_chunks, "need_final_index": request.need_final_index},
                     level="warning"))
        return waiter.wait(lambda path: path.is_dir())
    return next_source


@cli.command("unpack")
@click.argument("paths_", metavar="SOURCE... OUTPUT_DIR", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", "output_file", type=click.Path(path_type=Path), help="Explicit output file path.")
@click.option("--force", is_flag=True, help="Replace an existing output; accept an index older than one already accepted (rollback).")
@click.option("--no-prompt", is_flag=True, help="Never wait for another drive; exit 3 naming what is missing.")
@click.option("--no-sha256", is_flag=True,
              help="Skip SHA-256 of the whole when pack did not record one (faster; no in-toto export then).")
@click.option("--restart", is_flag=True,
              help="Drop the partial output of an earlier interrupted unpack instead of continuing it.")
@_trust_options
@_actor_options
@_common
def unpack_command(paths_, output_file, force, no_prompt, no_sha256, restart, trust, allow_untrusted, transfer_id,
                   operator, title, json_mode, quiet, debug):
    """Rebuild the bundle from SOURCE drives (any order) into OUTPUT_DIR."""
    if len(paths_) < 2:
        raise click.UsageError("give at least one SOURCE and the OUTPUT_DIR")
    render = _renderer_for(json_mode, quiet)
    config = UnpackConfig(sources=list(paths_[:-1]), output_dir=paths_[-1], output_file=output_file,
                          force=force, trust=list(trust), allow_untrusted=allow_untrusted,
                          transfer_id=transfer_id, no_prompt=no_prompt, sha256=not no_sha256, restart=restart)
    if not no_prompt:
        config.next_source = _source_prompt(render)
    recorder = custody_record.Recorder(render, custody_record.Actor(operator, title), sources=config.sources)
    with recorder.failures():
        result = unpack(config, recorder)
    render.result(result.to_dict(), [
        f"wrote {result.output} ({result.size} bytes), every chunk and the whole verified",
        f"signed by key {result.key_id}" + ("" if result.trusted else " (NOT trusted: --allow-untrusted)")])


def _survey_lines(survey: inspect.Survey, sources: list[Path]) -> list[str]:
    size = humanize.naturalsize
    if survey.final_index:
        extent = f"{survey.bundle_size} bytes ({size(survey.bundle_size, binary=True)})"
    else:
        extent = (f"size not known yet (the partial index found lists {len(survey.chunks)} chunks, "
                  f"{survey.listed_size} bytes)")
    lines = [f"transfer {survey.transfer_id}: {printable(survey.bundle_name)}, {extent}, "
             f"{_count(len(survey.chunks), 'chunk')}, packed {survey.created or 'at an unknown time'}"]
    if survey.trusted:
        lines.append(f"signed by trusted key {survey.key_id}")
    else:
        lines.append(f"UNVERIFIED: signed by key {survey.key_id}, which is not trusted here; compare this key id "
                     "with the sender's, then pass --trust SENDER.pub (or `trust add`)")
    for drive in survey.media:
        lines.append(f"drive {drive['path']}: {drive['label'] or '(no label)'}, {drive['fs_type'] or 'unknown fs'}, "
                     f"UUID {drive['fs_uuid'] or '-'}, serial {drive['serial'] or '-'}, "
                     f"{size(drive['free'], binary=True)} free of "
                     f"{size(drive['capacity'], binary=True)}")
    if not survey.final_index:
        lines.append("only a partial index was found: the final index is on the last drive written")
    packing, unpacking = survey.local.get("pack"), survey.local.get("unpack")
    if packing:
        state = "finished" if packing["complete"] else "unfinished (run the same pack command to resume)"
        lines.append(f"pack on this machine: {_count(packing['chunks'], 'chunk')}, {packing['bytes']} of "
                     f"{packing['size']} bytes of {packing['source']} proven on drives; {state}")
    if unpacking:
        lines.append(f"unpack on this machine: {unpacking['chunks']} of {len(survey.chunks)} chunks "
                     f"({unpacking['bytes']} bytes) already in {unpacking['partial']}")
    for chunk in survey.chunks:
        where = ", ".join(chunk.drives) if chunk.drives else "; ".join(chunk.problems) or "-"
        lines.append(f"  chunk {chunk.seq:>6}  {chunk.state:<8} {where}")
    counts = ", ".join(f"{survey.count(s)} {s}" for s in ("good", "present", "missing", "corrupt") if survey.count(s))
    lines.append(f"{counts}; " + ("complete" if survey.complete else "incomplete"))
    if survey.parity is not None:
        for item in survey.parity["files"]:
            if item["state"] in ("missing", "corrupt"):
                where = "; ".join(item["problems"]) or "-"
                lines.append(f"  parity {item['file']}  {item['state']:<8} {where}")
        lines.append(f"parity ({survey.parity['m']} drive(s)' worth): {survey.parity['summary']}")
    if not survey.hashed:
        lines.append("status checked presence and sizes only, not contents: run `airgap-transfer verify "
                     f"{' '.join(map(str, sources))}` to find corrupt chunks")
    return lines


_count = count_of


def _incomplete(surveys: list[inspect.Survey]) -> IncompleteError | None:
    """Exit 3 when chunks or a final index are missing (the README's table)."""
    gaps = []
    for survey in surveys:
        if survey.rebuildable:
            continue  # chunks missing, but parity rebuilds them: unpack will succeed
        missing = [c.seq for c in survey.missing]
        what = []
        if missing:
            shown = ", ".join(map(str, missing[:20])) + (", ..." if len(missing) > 20 else "")
            what.append(f"{_count(len(missing), 'chunk')} missing ({shown})")
        if not survey.final_index:
            what.append("the final index is missing")
        if what:
            gaps.append(f"transfer {survey.transfer_id[:12]} ({printable(survey.bundle_name)}): {' and '.join(what)}")
    if not gaps:
        return None
    return IncompleteError("incomplete: " + "; ".join(gaps),
                           hint="insert the other drives of the transfer (the final index is on the last drive "
                                "written) and run the same command again")


@cli.command("verify")
@click.argument("sources", nargs=-1, required=True, type=click.Path(path_type=Path))
@_trust_options
@_actor_options
@_common
def verify_command(sources, trust, allow_untrusted, transfer_id, operator, title, json_mode, quiet, debug):
    """Check every chunk on the SOURCE drives against the signed index; exit 3 if chunks are missing."""
    render = _renderer_for(json_mode, quiet)
    config = inspect.InspectConfig(list(sources), list(trust), allow_untrusted, transfer_id)
    result = custody_record.verify_recorded(config, custody_record.Actor(operator, title), render)
    render.result(result.to_dict(), _survey_lines(result, list(sources)))
    gap = _incomplete([result])
    if gap:
        raise gap


@cli.command("status")
@click.argument("sources", nargs=-1, required=True, type=click.Path(path_type=Path))
@_trust_options
@_common
def status_command(sources, trust, allow_untrusted, transfer_id, json_mode, quiet, debug):
    """What is on the SOURCE drives (even unverified): chunks present, missing or wrong-sized, per drive.

    Sizes only: `verify` reads the contents.  Exit 3 when chunks or the final index are missing.
    """
    render = _renderer_for(json_mode, quiet)
    config = inspect.InspectConfig(list(sources), list(trust), allow_untrusted, transfer_id,
                                   hash_chunks=False, show_unverified=True)
    surveys = inspect.survey_all(config, render)
    if len(surveys) == 1:
        render.result(surveys[0].to_dict(), _survey_lines(surveys[0], list(sources)))
    else:
        lines = [f"{len(surveys)} transfers on these drives (choose one with --transfer ID):"]
        for survey in surveys:
            lines += ["", *_survey_lines(survey, list(sources))]
        render.result({"transfers": [s.to_dict() for s in surveys]}, lines)
    gap = _incomplete(surveys)
    if gap:
        raise gap


@cli.group("custody")
def custody_group() -> None:
    """Record the physical steps of the chain of custody."""


@custody_group.command("handover")
@click.argument("sources", metavar="SOURCE...", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--from", "from_name", required=True, metavar="NAME", help="Who hands the drives over.")
@click.option("--to", "to_name", required=True, metavar="NAME", help="Who receives them.")
@click.option("--seal", metavar="NUMBER", help="Tamper-evident seal or bag number.")
@click.option("--purpose", metavar="TEXT", help="Why the drives change hands.")
@click.option("--location", metavar="TEXT", help="Where the handover takes place.")
@click.option("--key", "key_path", type=click.Path(path_type=Path),
              help="Secret key to sign the log's head with (default: this host's key).")
@click.option("--transfer", "transfer_id", metavar="ID", help="Which transfer, when the drives hold several.")
@_actor_options
@_common
def handover_command(sources, from_name, to_name, seal, purpose, location, key_path, transfer_id,
                     operator, title, json_mode, quiet, debug):
    """Record that the drives at SOURCE changed hands (on the drives and locally)."""
    render = _renderer_for(json_mode, quiet)
    config = custody_record.HandoverConfig(list(sources), from_name, to_name, seal, purpose, location,
                                           transfer_id, key_path, custody_record.Actor(operator, title))
    result = custody_record.handover(config, render)
    render.result(result, [f"handover recorded as event {result['seq']} of transfer {result['transfer_id']}, "
                           f"head signed by key {result['signer']}"])


@cli.command("report")
@click.argument("source", metavar="SOURCE|TRANSFER_ID")
@click.option("--format", "fmt", type=click.Choice(report.FORMATS), default="json", show_default=True,
              help="json (complete), csv (one row per event), html (printable), intoto (DSSE-signed Statement).")
@click.option("-o", "--output", type=click.Path(path_type=Path), metavar="FILE", help="Write the report to FILE.")
@click.option("--verify", "verify_only", is_flag=True,
              help="Check the hash chain and signed heads; exit 4 (broken chain) or 5 (bad signature).")
@click.option("--key", "key_path", type=click.Path(path_type=Path), help="Secret key that signs the in-toto envelope.")
@click.option("--trust", multiple=True, metavar="PUBKEY", help="Also accept heads signed by this key; repeatable.")
@click.option("--transfer", "transfer_id", metavar="ID", help="Which transfer, when SOURCE holds several.")
@_actor_options
@_common
def report_command(source, fmt, output, verify_only, key_path, trust, transfer_id, operator, title,
                   json_mode, quiet, debug):
    """Export or verify the chain-of-custody report of a transfer."""
    render = _renderer_for(json_mode, quiet)
    if output is None and not verify_only:
        raise click.UsageError("give -o FILE for the report, or --verify")
    config = report.ReportConfig(source, list(trust), transfer_id, key_path, custody_record.Actor(operator, title))
    lines = []
    if output is not None:
        document = report.export(config, fmt, output, render)
        lines.append(f"{fmt} report of transfer {document['transfer']['transfer_id']} "
                     f"({len(document['events'])} events) written to {output}")
    if verify_only:
        document = report.verify(config, render)
        lines.append(f"custody chain verified: {len(document['events'])} events, head {document['head']}")
    summary = {"transfer_id": document["transfer"]["transfer_id"], "events": len(document["events"]),
               "head": document["head"], "verified": document["verification"]["ok"],
               "output": str(output) if output else None}
    render.result(summary, lines)


@cli.command("keygen")
@click.option("--secret-key", type=click.Path(path_type=Path), help="Where to write the secret key.")
@click.option("--public-key", type=click.Path(path_type=Path), help="Where to write the public key.")
@_common
def keygen_command(secret_key, public_key, json_mode, quiet, debug):
    """Make an Ed25519 signing key pair (minisign-compatible files)."""
    render = _renderer_for(json_mode, quiet)
    secret_path = secret_key or paths.default_secret_key()
    public_path = public_key or (secret_path.with_suffix(".pub") if secret_key else paths.default_public_key())
    secret = keys.generate_default_key(secret_path, public_path)
    key_id = secret.public_key().key_id_hex
    render.result({"key_id": key_id, "secret_key": str(secret_path), "public_key": str(public_path)}, [
        f"key id {key_id}", f"secret key: {secret_path} (keep it on the sending side)",
        f"public key: {public_path} (give it to receivers: unpack --trust {public_path})"])


@cli.command("bootstrap")
@click.argument("destination", type=click.Path(path_type=Path))
@click.option("--platform", "platforms", multiple=True, metavar="TAG",
              help="Wheels for this pip platform tag instead of this machine's "
                   "(e.g. manylinux2014_x86_64); repeatable.")
@click.option("--python-version", metavar="X.Y", help="Wheels for this Python version instead of the running one.")
@_common
def bootstrap_command(destination, platforms, python_version, json_mode, quiet, debug):
    """Write the tool and its dependencies as wheels to DESTINATION for offline install."""
    render = _renderer_for(json_mode, quiet)
    result = bootstrap.bootstrap(bootstrap.BootstrapConfig(destination, list(platforms), python_version), render)
    render.result(result.to_dict(), [  # the bootstrap-finished event said how many wheels, where
        f"on the air-gapped side: pip install --no-index --find-links {result.folder} airgap-transfer",
        f"(see {result.folder / bootstrap.NOTE_NAME})"])


def _terminate_like_ctrl_c(_signum, _frame) -> None:
    # SIGTERM (a shutdown, `kill`) takes the same path as Ctrl-C: finish or
    # discard the chunk in flight, keep the journal, exit 130 with a hint.
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    global _json_requested
    signal.signal(signal.SIGTERM, _terminate_like_ctrl_c)
    args = sys.argv[1:] if argv is None else argv
    _json_requested = "--json" in args
    debug = "--debug" in args
    try:
        code = cli.main(args=args, prog_name="airgap-transfer", standalone_mode=False)
        return code if isinstance(code, int) else 0
    except click.exceptions.Abort:
        _report_error(EXIT_INTERRUPTED, "interrupted")
        return EXIT_INTERRUPTED
    except click.ClickException as exc:
        exc.show()
        if _json_requested:  # stdout stays JSON even when the command line itself is wrong
            Renderer(json_mode=True).emit_json({"event": "error", "exit_code": exc.exit_code,
                                                "message": exc.format_message()})
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except AirgapError as exc:
        if debug:
            traceback.print_exc()
        _report_error(exc.exit_code, exc.one_line())
        return exc.exit_code
    except KeyboardInterrupt:
        _report_error(EXIT_INTERRUPTED, "interrupted")
        return EXIT_INTERRUPTED
    except Exception as exc:  # a bug: one clear line, traceback only on request
        if debug:
            traceback.print_exc()
        _report_error(EXIT_INTERNAL, f"internal error: {type(exc).__name__}: {exc} "
                      "(this is a bug; run with --debug for the traceback and report it)")
        return EXIT_INTERNAL


def _report_error(code: int, message: str) -> None:
    (_renderer or Renderer(json_mode=_json_requested)).error(code, message)


def entry_point() -> None:
    sys.exit(main())


# `trust add|list|remove` live in their own module; registered here, last, so
# that adding them touches no other line of this file.
from airgap_transfer.cli import trust_commands

trust_commands.register(cli, _common, _renderer_for)
