"""The click layer: parse options, build a config, call the engine, render.

Everything that can go wrong in an expected way is an AirgapError; ``main``
is the one place that turns it into one line and the exit code from the brief.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path

import click

from . import __version__, inspect_drives, keys, paths
from .errors import EXIT_INTERNAL, EXIT_INTERRUPTED, AirgapError
from .names import printable
from .pack import PackConfig, pack
from .render import Renderer
from .sizes import parse_size_or_auto
from .unpack import UnpackConfig, unpack

_renderer: Renderer | None = None


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


@cli.command("pack")
@click.argument("source")
@click.argument("destinations", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--chunk-size", default="auto", show_default=True, callback=_size,
              help="Chunk size: 16GB (10^9), 16GiB (2^30), bytes, or auto (as large as each drive allows).")
@click.option("--key", "key_path", type=click.Path(path_type=Path), help="Secret key to sign with (default: the config folder's).")
@click.option("--name", help="Bundle name recorded in the index (default: the source's file name).")
@click.option("--no-readback", is_flag=True, help="Skip reading each chunk back from the medium (recorded in the index).")
@click.option("--no-prompt", is_flag=True, help="Never wait for another drive; exit 3 instead.")
@click.option("--compress", type=click.Choice(["auto", "zstd", "none"]), default="auto", show_default=True,
              help="Store chunks as zstd frames; auto samples the source and skips data that does not shrink.")
@_common
def pack_command(source, destinations, chunk_size, key_path, name, no_readback, no_prompt, compress,
                 json_mode, quiet, debug):
    """Pack SOURCE (a file, or - for stdin) onto one or more DEST drives."""
    render = _renderer_for(json_mode, quiet)
    config = PackConfig(source=source, destinations=list(destinations), chunk_size=chunk_size,
                        key_path=key_path, no_prompt=no_prompt, readback=not no_readback, name=name,
                        compress=compress)
    result = pack(config, render)
    render.result(result.to_dict(), [
        f"packed {printable(result.bundle_name)}: {result.bundle_size} bytes, {len(result.chunks)} chunks, "
        f"{len(result.drives)} drive(s)",
        f"compression {result.compression}: {result.stored_size} bytes stored",
        f"transfer {result.transfer_id}, signed by key {result.key_id}",
        f"blake3 {result.bundle_blake3}"])


@cli.command("unpack")
@click.argument("paths_", metavar="SOURCE... OUTPUT_DIR", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", "output_file", type=click.Path(path_type=Path), help="Explicit output file path.")
@click.option("--force", is_flag=True, help="Replace an existing output.")
@click.option("--no-prompt", is_flag=True, help="Never wait for another drive; exit 3 instead.")
@_trust_options
@_common
def unpack_command(paths_, output_file, force, no_prompt, trust, allow_untrusted, transfer_id, json_mode, quiet, debug):
    """Rebuild the bundle from SOURCE drives (any order) into OUTPUT_DIR."""
    if len(paths_) < 2:
        raise click.UsageError("give at least one SOURCE and the OUTPUT_DIR")
    render = _renderer_for(json_mode, quiet)
    config = UnpackConfig(sources=list(paths_[:-1]), output_dir=paths_[-1], output_file=output_file,
                          force=force, trust=list(trust), allow_untrusted=allow_untrusted,
                          transfer_id=transfer_id, no_prompt=no_prompt)
    result = unpack(config, render)
    render.result(result.to_dict(), [
        f"wrote {result.output} ({result.size} bytes), every chunk and the whole verified",
        f"signed by key {result.key_id}" + ("" if result.trusted else " (NOT trusted: --allow-untrusted)")])


def _survey_lines(survey: inspect_drives.Survey) -> list[str]:
    lines = [f"transfer {survey.transfer_id}: {printable(survey.bundle_name)}, {survey.bundle_size} bytes, "
             f"{len(survey.chunks)} chunks, key {survey.key_id}" + ("" if survey.trusted else " (untrusted)"),
             f"drives: {', '.join(survey.drives)}"]
    if not survey.final_index:
        lines.append("only a partial index was found: the final index is on the last drive written")
    for chunk in survey.chunks:
        where = ", ".join(chunk.drives) if chunk.drives else "; ".join(chunk.problems) or "-"
        lines.append(f"  chunk {chunk.seq:>6}  {chunk.state:<8} {where}")
    counts = ", ".join(f"{survey.count(s)} {s}" for s in ("good", "present", "missing", "corrupt") if survey.count(s))
    lines.append(f"{counts}; " + ("complete" if survey.complete else "incomplete"))
    return lines


@cli.command("verify")
@click.argument("sources", nargs=-1, required=True, type=click.Path(path_type=Path))
@_trust_options
@_common
def verify_command(sources, trust, allow_untrusted, transfer_id, json_mode, quiet, debug):
    """Check every chunk on the SOURCE drives against the signed index."""
    render = _renderer_for(json_mode, quiet)
    config = inspect_drives.InspectConfig(list(sources), list(trust), allow_untrusted, transfer_id)
    result = inspect_drives.verify(config, render)
    render.result(result.to_dict(), _survey_lines(result))


@cli.command("status")
@click.argument("sources", nargs=-1, required=True, type=click.Path(path_type=Path))
@_trust_options
@_common
def status_command(sources, trust, allow_untrusted, transfer_id, json_mode, quiet, debug):
    """Which chunks are present, missing or wrong-sized, and on which drive."""
    render = _renderer_for(json_mode, quiet)
    config = inspect_drives.InspectConfig(list(sources), list(trust), allow_untrusted, transfer_id,
                                          hash_chunks=False)
    result = inspect_drives.survey(config, render)
    render.result(result.to_dict(), _survey_lines(result))


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


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        code = cli.main(args=args, prog_name="airgap-transfer", standalone_mode=False)
        return code if isinstance(code, int) else 0
    except click.exceptions.Abort:
        _report_error(EXIT_INTERRUPTED, "interrupted")
        return EXIT_INTERRUPTED
    except click.ClickException as exc:
        exc.show()
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
    (_renderer or Renderer()).error(code, message)


def entry_point() -> None:
    sys.exit(main())

