"""Options several commands share, size-option callbacks, and the renderer each command builds.

The renderer is kept here (not per command) so that ``app.main`` can print an
error raised after a command started through the same renderer (JSON or not).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from airgap_transfer.cli.render import Renderer
from airgap_transfer.cli.sizes import parse_size, parse_size_or_auto
from airgap_transfer.errors import AirgapError

F = TypeVar("F", bound=Callable[..., Any])


class _State:
    renderer: Renderer | None = None
    json_requested = False  # errors before a command built its renderer still honour --json
    # pack or unpack finished its work: a Ctrl-C while the result is shown (or Python exits) is no
    # interruption, and "run the same command again" would pack a second transfer
    work_done = False


state = _State()


def renderer_for(json_mode: bool, quiet: bool) -> Renderer:
    state.renderer = Renderer(json_mode=json_mode, quiet=quiet)
    return state.renderer


def common(func: F) -> F:
    func = click.option("--json", "json_mode", is_flag=True,
                        help="Machine-readable output on stdout (JSON lines).")(func)
    func = click.option("--quiet", "-q", is_flag=True, help="Only warnings and errors.")(func)
    func = click.option("--debug", is_flag=True, hidden=True, help="Show tracebacks.")(func)
    return func


def trust_options(func: F) -> F:
    func = click.option("--trust", multiple=True, metavar="PUBKEY",
                        help="Trust this public key (file or base64 line); repeatable.")(func)
    func = click.option("--allow-untrusted", is_flag=True,
                        help="Accept an index signed by an untrusted key; prints its key id.")(func)
    func = click.option("--transfer", "transfer_id", metavar="ID",
                        help="Which transfer, when the sources hold several (a prefix is enough).")(func)
    return func


def actor_options(func: F) -> F:
    func = click.option("--title", metavar="TITLE", help="The operator's title or role, for the custody log.")(func)
    func = click.option("--operator", metavar="NAME",
                        help="Who operates, for the custody log (default: the login user).")(func)
    return func


def size_or_auto(_ctx: click.Context, _param: click.Parameter, value: str) -> int | None:
    try:
        return parse_size_or_auto(value)
    except AirgapError as exc:
        raise click.BadParameter(exc.one_line()) from None


def size_or_none(_ctx: click.Context, _param: click.Parameter, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return parse_size(value)
    except AirgapError as exc:
        raise click.BadParameter(exc.one_line()) from None
