"""Where an exported report goes: a new regular file, an old one only when asked, or stdout.

A report is written as root on machines full of things that must not be
replaced: a device node, a drive's index, an earlier report kept as evidence.
So an existing path is refused unless it is a regular file and --force says so,
and every failure to write is a usage error naming the path (exit 2), or no
space (exit 6), never a traceback.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from airgap_transfer.errors import NoSpaceError, UsageError
from airgap_transfer.media import fsio

STDOUT = Path("-")


def check(output: Path, force: bool) -> None:
    """Refuse, before any work, a path the report must not take."""
    if output == STDOUT:
        return
    if os.path.lexists(output):
        if output.is_symlink() or not output.is_file():
            raise UsageError(f"{output} exists and is not a regular file; a report never replaces it",
                             hint="give another -o FILE")
        if not force:
            raise UsageError(f"{output} already exists", hint="pass --force to replace it, or give another -o FILE")
    elif os.path.lexists(output.parent) and not output.parent.is_dir():
        raise UsageError(f"{output.parent} is not a folder", hint="give another -o FILE")


def write(output: Path, text: str, force: bool) -> None:
    """Write ``text`` to ``output`` atomically (temp name, fsync, rename), checked again just before."""
    check(output, force)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        fsio.atomic_write_bytes(output, text.encode("utf-8"))
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise NoSpaceError(f"no space left for the report {output}",
                               hint="free space, or give -o FILE on another disk") from None
        raise UsageError(f"cannot write the report to {output} ({exc.strerror or exc})",
                         hint="give -o FILE in a folder you can write to") from None
