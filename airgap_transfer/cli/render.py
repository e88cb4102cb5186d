"""Turn engine events into what a person or a program reads.

Human text goes to stdout on a terminal and to stderr when stdout is a pipe,
so stdout stays clean for ``--json``.  Progress is drawn only on a TTY and at
most ten times a second (see ``progress``); with ``--json`` it becomes JSON
lines at most once a second instead.
"""

from __future__ import annotations

import errno
import json
import os
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any, TextIO

from airgap_transfer.cli import progress
from airgap_transfer.events import Event
from airgap_transfer.format.names import escape_controls

PROGRESS_INTERVAL = 0.1


def terminal_safe(text: str) -> str:
    """The one gate for text on its way to a terminal: every control character escaped.

    Drive roots, folder and bundle names come from the drive and reach messages,
    results, errors and the progress line; none may carry ESC or BEL through.
    """
    return escape_controls(text)


JSON_PROGRESS_INTERVAL = 1.0


def say(stream: TextIO, text: str, end: str = "\n") -> None:
    """Write and flush; a reader that went away (``| head``) is not a failure of the command.

    The work goes on, and finishes, without an audience: the closed stream is
    pointed at /dev/null so later writes, and Python's own flush at exit,
    pass quietly (no traceback, no exit 1, no half-written transfer).
    """
    try:
        stream.write(text + end)
        stream.flush()
    except (BrokenPipeError, ValueError):   # ValueError: the stream was closed
        _silence(stream)
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            raise
        _silence(stream)


def _silence(stream: TextIO) -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


class Renderer:
    def __init__(self, json_mode: bool = False, quiet: bool = False) -> None:
        self.json_mode = json_mode
        self.quiet = quiet
        self.human: TextIO = sys.stdout if sys.stdout.isatty() and not json_mode else sys.stderr
        self.tty = self.human.isatty()
        self.last_draw = 0.0
        self.progress_shown = False
        self.meter = progress.RateMeter()
        self.rate = 0.0

    def __call__(self, event: Event) -> None:
        if event.level == "progress":
            self._progress(event)
            return
        self._clear_progress()
        if self.json_mode:
            self.emit_json(event.to_dict())
        if self.quiet and event.level != "warning":
            return
        prefix = "warning: " if event.level == "warning" else ""
        if event.message and not (self.json_mode and event.level != "warning"):
            say(self.human, terminal_safe(f"{prefix}{event.message}"))

    def emit_json(self, document: dict[str, Any]) -> None:
        say(sys.stdout, json.dumps(document, sort_keys=False, default=str))

    def result(self, document: dict[str, Any] | Callable[[], dict[str, Any]],
               human_lines: Iterable[str] | Callable[[], Iterable[str]]) -> None:
        """The command's outcome; either form may be given as a callable, built only if it is shown."""
        self._clear_progress()
        if self.json_mode:
            self.emit_json({"event": "result", **(document() if callable(document) else document)})
        elif not self.quiet:
            for line in human_lines() if callable(human_lines) else human_lines:
                say(self.human if not sys.stdout.isatty() else sys.stdout, terminal_safe(line))

    def error(self, code: int, message: str) -> None:
        self._clear_progress()
        if self.json_mode:
            self.emit_json({"event": "error", "exit_code": code, "message": message})
        say(sys.stderr, terminal_safe(f"airgap-transfer: error: {message}"))

    def _progress(self, event: Event) -> None:
        now = time.monotonic()
        if self.json_mode:  # JSON lines, never drawing: stdout may share the terminal
            if now - self.last_draw >= JSON_PROGRESS_INTERVAL:
                self.last_draw = now
                self.emit_json(event.to_dict())
            return
        if "done" in event.data:
            self.rate = self.meter.add(now, event.data["done"])
        if self.quiet or not self.tty or now - self.last_draw < PROGRESS_INTERVAL:
            return
        self.last_draw = now
        line = progress.fit(terminal_safe(progress.progress_line(event.data, self.rate)),
                            progress.terminal_width(self.human))
        say(self.human, progress.ERASE_LINE + line, end="")
        self.progress_shown = True

    def _clear_progress(self) -> None:
        """Erase a drawn progress line before anything else is printed, so none is left half-drawn."""
        if self.progress_shown:
            say(self.human, progress.ERASE_LINE, end="")
            self.progress_shown = False
