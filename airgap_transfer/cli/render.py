"""Turn engine events into what a person or a program reads.

Human text goes to stdout on a terminal and to stderr when stdout is a pipe,
so stdout stays clean for ``--json``.  Progress is drawn only on a TTY and at
most ten times a second (see ``progress``); with ``--json`` it becomes JSON
lines at most once a second instead.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any, TextIO

from airgap_transfer.cli import progress
from airgap_transfer.events import Event
from airgap_transfer.format.names import escape_controls

PROGRESS_INTERVAL = 0.1
JSON_PROGRESS_INTERVAL = 1.0


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
            print(escape_controls(f"{prefix}{event.message}"), file=self.human, flush=True)

    def emit_json(self, document: dict[str, Any]) -> None:
        print(json.dumps(document, sort_keys=False, default=str), file=sys.stdout, flush=True)

    def result(self, document: dict[str, Any] | Callable[[], dict[str, Any]],
               human_lines: Iterable[str] | Callable[[], Iterable[str]]) -> None:
        """The command's outcome; either form may be given as a callable, built only if it is shown."""
        self._clear_progress()
        if self.json_mode:
            self.emit_json({"event": "result", **(document() if callable(document) else document)})
        elif not self.quiet:
            for line in human_lines() if callable(human_lines) else human_lines:
                print(escape_controls(line), file=self.human if not sys.stdout.isatty() else sys.stdout, flush=True)

    def error(self, code: int, message: str) -> None:
        self._clear_progress()
        if self.json_mode:
            self.emit_json({"event": "error", "exit_code": code, "message": message})
        print(escape_controls(f"airgap-transfer: error: {message}"), file=sys.stderr, flush=True)

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
        line = progress.fit(progress.progress_line(event.data, self.rate), progress.terminal_width(self.human))
        self.human.write(progress.ERASE_LINE + line)
        self.human.flush()
        self.progress_shown = True

    def _clear_progress(self) -> None:
        """Erase a drawn progress line before anything else is printed, so none is left half-drawn."""
        if self.progress_shown:
            self.human.write(progress.ERASE_LINE)
            self.human.flush()
            self.progress_shown = False
