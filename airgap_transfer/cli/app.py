"""The click group, its commands, and ``main``: the one place errors become a line and an exit code.

Each command group lives in its own module (pack_command, unpack_command,
inspect_commands, custody_commands, keys_commands, bootstrap_command) and is
registered here.  Everything that can go wrong in an expected way is an
AirgapError; ``main`` turns it into one line and the exit code from the brief.
"""

from __future__ import annotations

import signal
import sys
import traceback
from types import FrameType

import click

from airgap_transfer import __version__
from airgap_transfer.cli.bootstrap_command import bootstrap_command
from airgap_transfer.cli.custody_commands import custody_group, report_command
from airgap_transfer.cli.inspect_commands import status_command, verify_command
from airgap_transfer.cli.keys_commands import keygen_command, trust_group
from airgap_transfer.cli.options import state
from airgap_transfer.cli.pack_command import pack_command
from airgap_transfer.cli.render import Renderer
from airgap_transfer.cli.unpack_command import unpack_command
from airgap_transfer.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, AirgapError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="airgap-transfer")
@click.option("--debug", is_flag=True, help="Show tracebacks on internal errors.")
def cli(debug: bool) -> None:
    """Carry large bundles across an air gap on removable drives."""


for _command in (pack_command, unpack_command, verify_command, status_command, custody_group, report_command,
                 keygen_command, trust_group, bootstrap_command):
    cli.add_command(_command)


def _terminate_like_ctrl_c(_signum: int, _frame: FrameType | None) -> None:
    # SIGTERM (a shutdown, `kill`) takes the same path as Ctrl-C: finish or
    # discard the chunk in flight, keep the journal, exit 130 with a hint.
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _terminate_like_ctrl_c)
    args = sys.argv[1:] if argv is None else argv
    state.json_requested = "--json" in args
    debug = "--debug" in args
    try:
        code = cli.main(args=args, prog_name="airgap-transfer", standalone_mode=False)
        return code if isinstance(code, int) else 0
    except click.exceptions.Abort:
        _report_error(EXIT_INTERRUPTED, "interrupted")
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
        _report_error(EXIT_INTERRUPTED, "interrupted")
        return EXIT_INTERRUPTED
    except Exception as exc:  # a bug: one clear line, traceback only on request
        if debug:
            traceback.print_exc()
        _report_error(EXIT_INTERNAL, f"internal error: {type(exc).__name__}: {exc} "
                      "(this is a bug; run with --debug for the traceback and report it)")
        return EXIT_INTERNAL


def _report_error(code: int, message: str) -> None:
    (state.renderer or Renderer(json_mode=state.json_requested)).error(code, message)


def entry_point() -> None:
    sys.exit(main())
