"""Asking the operator for the next drive (the one-port workflow).

A new drive is noticed two ways: a block device's mount point that appears
while we wait (polling psutil, as desktop automounters create them), or a path
the operator types on stdin.  End of input means nobody will insert anything: give up.
The waiter reads stdin and polls; what the operator is told goes through the
renderer as a ``waiting-for-drive`` event.
"""

from __future__ import annotations

import getpass
import os
import select
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import humanize

from airgap_transfer import limits
from airgap_transfer.cli.render import Renderer
from airgap_transfer.errors import UsageError
from airgap_transfer.events import Event, Kind
from airgap_transfer.media import probe

if TYPE_CHECKING:  # annotations only: importing both engines here would load them for every command
    from airgap_transfer.engine.pack.drives import DriveRequest
    from airgap_transfer.engine.unpack.needed import SourceRequest

POLL_SECONDS = 1.0


class DriveWaiter:
    def __init__(self, stdin: TextIO | None = None, use_stdin: bool = True,
                 poll_seconds: float = POLL_SECONDS) -> None:
        self.stdin = stdin or sys.stdin
        self.use_stdin = use_stdin and not self.stdin.closed
        self.poll_seconds = poll_seconds

    def wait(self, accept: Callable[[Path], bool] = lambda _p: True) -> Path | None:
        """Block until a new mount or a typed path is accepted; None on end of input."""
        known = probe.drive_mount_points()
        while True:
            typed = self._typed_path()
            if isinstance(typed, _Eof):
                return None
            if typed is not None and accept(typed):
                return typed
            current = probe.drive_mount_points()
            for point in sorted(current - known):
                if accept(Path(point)):
                    return Path(point)
            known = current  # a drive unmounted and remounted at the same place counts as new

    def _typed_path(self) -> Path | _Eof | None:
        if not self.use_stdin:
            time.sleep(self.poll_seconds)
            return None
        try:
            ready, _, _ = select.select([self.stdin], [], [], self.poll_seconds)
        except (ValueError, OSError):
            self.use_stdin = False
            return None
        if not ready:
            return None
        line = self.stdin.readline(limits.MAX_TYPED_LINE)
        if line == "":
            return EOF
        text = line.strip()
        return Path(os.path.expanduser(text)) if text else None


class _Eof:
    pass


EOF = _Eof()


def drive_prompt(render: Renderer, use_stdin: bool) -> Callable[[DriveRequest], Path | None]:
    """What pack calls when the drives given are full: tell the operator, wait for the next."""
    waiter = DriveWaiter(use_stdin=use_stdin)

    def next_drive(request: DriveRequest) -> Path | None:
        left = "the rest" if request.remaining is None else humanize.naturalsize(request.remaining, binary=True)
        how = "type its mount path and Enter, or just mount it" if use_stdin else "mount it"
        room = (f"; it must take a file of {humanize.naturalsize(request.need, binary=True)}" if request.need
                else "")
        what = (f"insert drive {request.ordinal} for parity ({request.parity} parity drive(s) still to write)"
                if request.parity else f"insert drive {request.ordinal} ({left} still to write{room})")
        render(Event(Kind.WAITING_FOR_DRIVE, f"{what}: {how}",
                     {"ordinal": request.ordinal, "remaining": request.remaining, "need": request.need,
                      "parity": request.parity}, level="warning"))
        return waiter.wait()
    return next_drive


def source_prompt(render: Renderer) -> Callable[[SourceRequest], Path | None]:
    """What unpack calls when chunks are still missing: tell the operator, wait for a drive."""
    waiter = DriveWaiter()

    def next_source(request: SourceRequest) -> Path | None:
        render(Event(Kind.WAITING_FOR_DRIVE, f"still needed: {request.missing}; insert the drive and type its "
                     "mount path and Enter, or just mount it",
                     {"missing_chunks": request.missing_chunks, "need_final_index": request.need_final_index},
                     level="warning"))
        return waiter.wait(lambda path: path.is_dir())
    return next_source


def ask_passphrase(prompt: str, confirm: bool) -> str | None:
    """Read a secret key's passphrase on the terminal, never echoed; None when there is no terminal."""
    if not sys.stdin.isatty():
        return None
    try:
        first = getpass.getpass(prompt)
        if confirm and getpass.getpass("the same passphrase again: ") != first:
            raise UsageError("the two passphrases differ", hint="run the command again")
    except EOFError:  # Ctrl-D, or the terminal's input ended: nothing was typed, nothing was interrupted
        raise UsageError("no passphrase was typed (end of input)",
                         hint="run the command again and type it, or name a file holding it in "
                              "AIRGAP_TRANSFER_PASSPHRASE_FILE") from None
    return first
