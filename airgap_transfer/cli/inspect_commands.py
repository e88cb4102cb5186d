"""``airgap-transfer verify`` and ``status``: what is on the drives, and whether it is intact."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import click
import humanize

from airgap_transfer.cli.options import actor_options, common, renderer_for, trust_options
from airgap_transfer.custody.recorder import Actor
from airgap_transfer.custody.steps import verify_recorded
from airgap_transfer.engine.unpack import inspect
from airgap_transfer.errors import IncompleteError, IntegrityError
from airgap_transfer.format.names import count_of, printable


@click.command("verify")
@click.argument("sources", nargs=-1, required=True, type=click.Path(path_type=Path, readable=False))
@trust_options
@actor_options
@common
def verify_command(sources: tuple[Path, ...], trust: tuple[str, ...], allow_untrusted: bool,
                   transfer_id: str | None, operator: str | None, title: str | None, json_mode: bool,
                   quiet: bool, debug: bool) -> None:
    """Check every chunk on the SOURCE drives against the signed index; exit 3 if chunks are missing."""
    render = renderer_for(json_mode, quiet)
    config = inspect.InspectConfig(list(sources), list(trust), allow_untrusted, transfer_id)
    result = verify_recorded(config, Actor(operator, title), render)
    render.result(result.to_dict, lambda: survey_lines(result, list(sources)))
    gap = incomplete([result])
    if gap:
        raise gap


@click.command("status")
@click.argument("sources", nargs=-1, required=True, type=click.Path(path_type=Path, readable=False))
@trust_options
@common
def status_command(sources: tuple[Path, ...], trust: tuple[str, ...], allow_untrusted: bool,
                   transfer_id: str | None, json_mode: bool, quiet: bool, debug: bool) -> None:
    """What is on the SOURCE drives (even unverified): chunks present, missing or wrong-sized, per drive.

    Sizes only: `verify` reads the contents.  Exit 3 when chunks or the final index are missing, 4 when a
    chunk has only wrong-sized copies (and parity cannot rebuild it).
    """
    render = renderer_for(json_mode, quiet)
    config = inspect.InspectConfig(list(sources), list(trust), allow_untrusted, transfer_id,
                                   hash_chunks=False, show_unverified=True)
    surveys, unindexed = inspect.survey_all(config, render)
    if len(surveys) == 1:
        only = surveys[0]
        render.result(only.to_dict, lambda: survey_lines(only, list(sources)))
    else:
        def every() -> Iterator[str]:
            yield f"{len(surveys)} transfers on these drives (choose one with --transfer ID):"
            for survey in surveys:
                yield ""
                yield from survey_lines(survey, list(sources), several=True)
        render.result(lambda: {"transfers": [s.to_dict() for s in surveys]}, every)
    problem = wrong_sized(surveys) or incomplete(surveys, unindexed)
    if problem:
        raise problem


def survey_lines(survey: inspect.Survey, sources: list[Path], several: bool = False) -> Iterator[str]:
    """The human report, a line at a time (a survey of 10^5 chunks is not built as one list).

    ``several``: the sources hold other transfers too, so a command suggested must name this one.
    """
    size = humanize.naturalsize
    if survey.final_index:
        extent = f"{survey.bundle_size} bytes ({size(survey.bundle_size, binary=True)})"
    else:
        extent = (f"size not known yet (the partial index found lists {len(survey.chunks)} chunks, "
                  f"{survey.listed_size} bytes)")
    yield (f"transfer {survey.transfer_id}: {printable(survey.bundle_name)}, {extent}, "
           f"{count_of(len(survey.chunks), 'chunk')}, packed {survey.created or 'at an unknown time'}")
    if survey.trusted:
        yield f"signed by trusted key {survey.key_id}"
    else:
        yield (f"UNVERIFIED: signed by key {survey.key_id}, which is not trusted here; compare this key id "
               "with the sender's, then pass --trust SENDER.pub (or `trust add`)")
    if survey.encrypted:
        yield (f"encrypted (age) to {survey.encrypted} recipient(s): name and plaintext digests are sealed; "
               "the chunks are checked by their stored bytes")
    for drive in survey.media:
        yield (f"drive {drive['path']}: {drive['label'] or '(no label)'}, {drive['fs_type'] or 'unknown fs'}, "
               f"UUID {drive['fs_uuid'] or '-'}, serial {drive['serial'] or '-'}, "
               f"{size(drive['free'], binary=True)} free of {size(drive['capacity'], binary=True)}")
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
    if not survey.hashed:
        which = f" --transfer {survey.transfer_id[:12]}" if several else ""
        yield ("status checked presence and sizes only, not contents: run `airgap-transfer verify "
               f"{' '.join(map(str, sources))}{which}` to find corrupt chunks")


def wrong_sized(surveys: list[inspect.Survey]) -> IntegrityError | None:
    """Exit 4 when a chunk has only wrong-sized copies and parity cannot rebuild it (verify: 4 when corrupt)."""
    gaps = []
    for survey in surveys:
        if survey.rebuildable:
            continue
        bad = [c for c in survey.chunks if c.state == "corrupt"]
        if bad:
            shown = "; ".join(f"chunk {c.seq} ({', '.join(c.problems or [])})" for c in bad[:5])
            gaps.append(f"transfer {survey.transfer_id[:12]} ({printable(survey.bundle_name)}): "
                        f"{count_of(len(bad), 'chunk')} with no good copy: {shown}{'; ...' if len(bad) > 5 else ''}")
    if not gaps:
        return None
    return IntegrityError("; ".join(gaps), hint="bring a good copy of those chunks (another drive, or the sender), "
                                                "then run the same command again")


def incomplete(surveys: list[inspect.Survey], unindexed: Sequence[str] = ()) -> IncompleteError | None:
    """Exit 3 when chunks (beyond what parity rebuilds) or a final index are missing (the README's table)."""
    gaps = [f"transfer {transfer_id[:12]}: no index on these drives" for transfer_id in unindexed]
    for survey in surveys:
        if survey.rebuildable:
            continue  # chunks missing, but parity rebuilds them: unpack will succeed
        missing = [c.seq for c in survey.missing]
        what = []
        if missing:
            shown = ", ".join(map(str, missing[:20])) + (", ..." if len(missing) > 20 else "")
            what.append(f"{count_of(len(missing), 'chunk')} missing ({shown})")
        if not survey.final_index:
            what.append("the final index is missing")
        if what:
            gaps.append(f"transfer {survey.transfer_id[:12]} ({printable(survey.bundle_name)}): {' and '.join(what)}")
    if not gaps:
        return None
    return IncompleteError("incomplete: " + "; ".join(gaps),
                           hint="insert the other drives of the transfer (the final index is on the last drive "
                                "written) and run the same command again")


def _local_lines(survey: inspect.Survey) -> list[str]:
    """What this machine's journals say of the transfer: a pack or unpack under way or done here."""
    lines = []
    packing, unpacking = survey.local.get("pack"), survey.local.get("unpack")
    if packing:
        state = "finished" if packing["complete"] else "unfinished (run the same pack command to resume)"
        # a folder is packed as a tar stream: its own size (a directory entry) says nothing of the stream's
        total = "" if os.path.isdir(packing["source"]) else f" of {packing['size']}"
        lines.append(f"pack on this machine: {count_of(packing['chunks'], 'chunk')}, {packing['bytes']}{total} "
                     f"bytes of {packing['source']} proven on drives; {state}")
    if unpacking:
        lines.append(f"unpack on this machine: {unpacking['chunks']} of {len(survey.chunks)} chunks "
                     f"({unpacking['bytes']} bytes) already in {unpacking['partial']}")
    return lines
