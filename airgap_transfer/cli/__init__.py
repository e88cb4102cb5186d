"""The command line: thin click commands that build a config, call the engine and render its events.

Nothing is imported here until it is used: the console script's first act is
to load the command line (click, humanize, the commands' modules; about a tenth
of a second), and a Ctrl-C inside that load must be exit 130 with one line, like
a Ctrl-C anywhere later, not Python's traceback.
"""

from __future__ import annotations

import sys
from typing import Any

from airgap_transfer.errors import EXIT_INTERRUPTED

INTERRUPTED = "interrupted — run the same command again"


def entry_point() -> None:
    """The ``airgap-transfer`` console script."""
    try:
        from airgap_transfer.cli.app import entry_point as run
    except BaseException as exc:
        if not from_ctrl_c(exc):
            raise
        # --json is not honoured this early: the renderer is part of what was being loaded
        print(f"airgap-transfer: error: {INTERRUPTED}", file=sys.stderr, flush=True)
        raise SystemExit(EXIT_INTERRUPTED) from None
    run()


def from_ctrl_c(exc: BaseException) -> bool:
    """Whether ``exc`` is a Ctrl-C, or wraps one (an import interrupted inside ``__set_name__``)."""
    seen: BaseException | None = exc
    for _ in range(8):  # a short chain: cause or context
        if isinstance(seen, KeyboardInterrupt):
            return True
        seen = (seen.__cause__ or seen.__context__) if seen is not None else None
    return False


def __getattr__(name: str) -> Any:
    if name == "main":  # ``cli.main(argv)`` for embedding and tests, loaded on first use
        from airgap_transfer.cli.app import main
        return main
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["entry_point", "main"]
