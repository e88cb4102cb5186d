"""Waiting for the operator to insert the next drive (the one-port workflow).

A new drive is noticed two ways: a block device's mount point that appears
while we wait (polling psutil, as desktop automounters create them), or a path
the operator types on stdin.  End of input means nobody will insert anything: give up.
This module reads stdin and polls; it never prints (the CLI renders events).
"""

from __future__ import annotations

import os
import select
import sys
import time
from pathlib import Path
from typing import Callable, TextIO

from airgap_transfer.media import probe

POLL_SECONDS = 1.0
MAX_LINE = 4096


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
            if typed is EOF:
                return None
            if typed is not None and accept(typed):
                return typed
            current = probe.drive_mount_points()
            for point in sorted(current - known):
                if accept(Path(point)):
                    return Path(point)
            known = current  # a drive unmounted and remounted at the same place counts as new

    def _typed_path(self):
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
        line = self.stdin.readline(MAX_LINE)
        if line == "":
            return EOF
        text = line.strip()
        return Path(os.path.expanduser(text)) if text else None


class _Eof:
    pass


EOF = _Eof()
