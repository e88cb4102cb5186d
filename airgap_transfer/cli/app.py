"""The click group, its commands, and ``main``: the one place errors become a line and an exit code.

Each command group lives in its own module (pack_command, unpack_command,
inspect_commands, custody_commands, keys_commands, bootstrap_command) and is
registered here by name, imported only when it runs: a command pays for its
own engine, not for every other one (parity's numpy, the report's HTML,
bootstrap's wheel builder), which is a third of a second of a cold start.
Everything that can go wrong in an expected way is an AirgapError; ``main``
turns it into one line and the exit code from the brief.
"""

from __future__ import annotations

import importlib
import signal
import sys
import traceback
from types import FrameType

import click

from airgap_transfer import __version__
from airgap_transfer.cli import INTERRUPTED, from_ctrl_c
from airgap_transfer.cli.options import state
from airgap_transfer.cli.prompts import ask_passphrase
from airgap_transfer.cli.render import Renderer
from airgap_transfer.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, AirgapError
from airgap_transfer.trust import passphrase

# Command name -> "module:attribute" below airgap_transfer.cli (--help lists them sorted, as click does).
COMMANDS = {
    "pack": "pack_command:pack_command",
    "unpack": "unpack_command:unpack_command",
    "verify": "inspect_commands:verify_command",
    "status": "inspect_commands:status_command",
    "custody": "custody_commands:custody_group",
    "report": "custody_commands:report_command",
    "keygen": "keys_commands:keygen_command",
    "trust": "keys_commands:trust_group",
    "bootstrap": "bootstrap_command:bootstrap_command",
}


class LazyGroup(click.Group):
    """A group whose commands are imported when they are looked up (click's documented lazy pattern)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attribute = target.split(":")
        command = getattr(importlib.import_module(f"airgap_transfer.cli.{module_name}"), attribute)
        if not isinstance(command, click.Command) or command.name != cmd_name:
            raise TypeError(f"COMMANDS[{cmd_name!r}] names {target}, which is not the {cmd_name} command")
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="airgap-transfer")
@click.option("--debug", is_flag=True, help="Show tracebacks on internal errors.")
def cli(debug: bool) -> None:
    """Carry large bundles across an air gap on removable drives."""


def _terminate_like_ctrl_c(_signum: int, _frame: FrameType | None) -> None:
    # SIGTERM (a shutdown, `kill`) takes the same path as Ctrl-C: finish or
    # discard the chunk in flight, keep the journal, exit 130 with a hint.
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _terminate_like_ctrl_c)
    passphrase.set_prompt(ask_passphrase)
    args = sys.argv[1:] if argv is None else argv
    state.json_requested = "--json" in args
    state.work_done = False
    debug = "--debug" in args
    try:
        code = cli.main(args=args, prog_name="airgap-transfer", standalone_mode=False)
        return code if isinstance(code, int) else 0
    except click.exceptions.Abort:  # click's form of a Ctrl-C
        if state.work_done:
            return 0
        _report_error(EXIT_INTERRUPTED, INTERRUPTED)
        return EXIT_INTERRUPTED
    except click.ClickException as exc:
        exc.show()
        if state.json_requested:  # stdout stays JSON even when the command line itself is wrong
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
        if state.work_done:
            return 0
        _report_error(EXIT_INTERRUPTED, INTERRUPTED)
        return EXIT_INTERRUPTED
    except Exception as exc:  # a bug: one clear line, traceback only on request
        if from_ctrl_c(exc):  # Ctrl-C while a module was still being imported arrives wrapped (RuntimeError)
            _report_error(EXIT_INTERRUPTED, INTERRUPTED)
            return EXIT_INTERRUPTED
        if debug:
            traceback.print_exc()
        _report_error(EXIT_INTERNAL, f"internal error: {type(exc).__name__}: {exc} "
                      "(this is a bug; run with --debug for the traceback and report it)")
        return EXIT_INTERNAL


def _report_error(code: int, message: str) -> None:
    (state.renderer or Renderer(json_mode=state.json_requested)).error(code, message)


def entry_point() -> None:
    code = main()
    if state.work_done:  # a Ctrl-C while Python shuts down would end it by the signal: 130 after a success
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sys.exit(code)
