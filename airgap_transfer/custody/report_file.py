"""Where an exported report goes: a regular file (a new one, or an earlier report it replaces), or stdout.

A report is written as root on machines full of things that must not be
replaced: a device node, a link to somewhere else, a drive's own files.  So
only a path that is absent or a regular file is taken, never one inside a
transfer folder, and every failure to write is a usage error naming the path
(exit 2), or no space (exit 6), never a traceback.  An earlier report at the
path is replaced, as an export does; the caller is told so.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from airgap_transfer.errors import NoSpaceError, UsageError
from airgap_transfer.format import layout
from airgap_transfer.media import fsio

STDOUT = Path("-")


def check(output: Path) -> bool:
    """Refuse, before any work, a path the report must not take; True when it replaces a file."""
    if output == STDOUT:
        return False
    if layout.FOLDER_RE.fullmatch(output.absolute().parent.name):
        raise UsageError(f"{output} is inside a transfer folder; a report is never written among a drive's files",
                         hint="give -o FILE outside the airgap-... folder")
    if os.path.lexists(output):
        if output.is_symlink() or not output.is_file():
            raise UsageError(f"{output} exists and is not a regular file; a report never replaces it",
                             hint="give another -o FILE")
        return True
    if os.path.lexists(output.parent) and not output.parent.is_dir():
        raise UsageError(f"{output.parent} is not a folder", hint="give another -o FILE")
    return False


def write(output: Path, text: str) -> None:
    """Write ``text`` to ``output`` atomically (temp name, fsync, rename), checked again just before."""
    check(output)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        fsio.atomic_write_bytes(output, text.encode("utf-8"))
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise NoSpaceError(f"no space left for the report {output}",
                               hint="free space, or give -o FILE on another disk") from None
        raise UsageError(f"cannot write the report to {output} ({exc.strerror or exc})",
                         hint="give -o FILE in a folder you can write to") from None
