"""``airgap-transfer verify`` and ``status``: what is on the drives, and whether it is intact."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click
import humanize

from airgap_transfer.cli.options import actor_options, common, renderer_for, trust_options
from airgap_transfer.custody.recorder import Actor
from airgap_transfer.custody.steps import verify_recorded
from airgap_transfer.engine.unpack import inspect
from airgap_transfer.format.names import printable


@click.command("verify")
@click.argument("sources", nargs=-1, required=True, type=click.Path(path_type=Path))
@trust_options
@actor_options
@common
def verify_command(sources: tuple[Path, ...], trust: tuple[str, ...], allow_untrusted: bool,
                   transfer_id: str | None, operator: str | None, title: str | None, json_mode: bool,
                   quiet: bool, debug: bool) -> None:
    """Check every chunk on the SOURCE drives against the signed index."""
    render = renderer_for(json_mode, quiet)
    config = inspect.InspectConfig(list(sources), list(trust), allow_untrusted, transfer_id)
    result = verify_recorded(config, Actor(operator, title), render)
    render.result(result.to_dict, lambda: survey_lines(result))


@click.command("status")
@click.argument("sources", nargs=-1, required=True, type=click.Path(path_type=Path))
@trust_options
@common
def status_command(sources: tuple[Path, ...], trust: tuple[str, ...], allow_untrusted: bool,
                   transfer_id: str | None, json_mode: bool, quiet: bool, debug: bool) -> None:
    """Which chunks are present, missing or wrong-sized, and on which drive."""
    render = renderer_for(json_mode, quiet)
    config = inspect.InspectConfig(list(sources), list(trust), allow_untrusted, transfer_id, hash_chunks=False)
    result = inspect.survey(config, render)
    render.result(result.to_dict, lambda: survey_lines(result))


def survey_lines(survey: inspect.Survey) -> Iterator[str]:
    """The human report, a line at a time (a survey of 10^5 chunks is not built as one list)."""
    yield (f"transfer {survey.transfer_id}: {printable(survey.bundle_name)}, {survey.bundle_size} bytes, "
           f"{len(survey.chunks)} chunks, key {survey.key_id}" + ("" if survey.trusted else " (untrusted)"))
    if survey.encrypted:
        yield (f"encrypted (age) to {survey.encrypted} recipient(s): name and plaintext digests are sealed; "
               "the chunks are checked by their stored bytes")
    for drive in survey.media:
        yield (f"drive {drive['path']}: {drive['label'] or '(no label)'}, {drive['fs_type'] or 'unknown fs'}, "
               f"UUID {drive['fs_uuid'] or '-'}, serial {drive['serial'] or '-'}, "
               f"{humanize.naturalsize(drive['free'], binary=True)} free of "
               f"{humanize.naturalsize(drive['capacity'], binary=True)}")
    if not survey.final_index:
        yield "only a partial index was found: the final index is on the last drive written"
    yield from _local_lines(survey)
    for chunk in survey.chunks:
        where = ", ".join(chunk.drives) if chunk.drives else "; ".join(chunk.problems or []) or "-"
        yield f"  chunk {chunk.seq:>6}  {chunk.state:<8} {where}"
    counts = ", ".join(f"{survey.count(s)} {s}" for s in ("good", "present", "missing", "corrupt") if survey.count(s))
    yield f"{counts}; " + ("complete" if survey.complete else "incomplete")
    if survey.parity is not None:
        for item in survey.parity["files"]:
            if item["state"] in ("missing", "corrupt"):
                where = "; ".join(item["problems"]) or "-"
                yield f"  parity {item['file']}  {item['state']:<8} {where}"
        yield f"parity ({survey.parity['m']} drive(s)' worth): {survey.parity['summary']}"


def _local_lines(survey: inspect.Survey) -> list[str]:
    """What this machine's journals say of the transfer: a pack or unpack under way or done here."""
    lines = []
    packing, unpacking = survey.local.get("pack"), survey.local.get("unpack")
    if packing:
        state = "finished" if packing["complete"] else "unfinished (run the same pack command to resume)"
        lines.append(f"pack on this machine: {packing['chunks']} chunks, {packing['bytes']} of "
                     f"{packing['size']} bytes of {packing['source']} proven on drives; {state}")
    if unpacking:
        lines.append(f"unpack on this machine: {unpacking['chunks']} of {len(survey.chunks)} chunks "
                     f"({unpacking['bytes']} bytes) already in {unpacking['partial']}")
    return lines
