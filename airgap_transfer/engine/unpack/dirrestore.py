"""Turn a proven directory bundle (a tar stream) back into a folder, safely.

Only called once the whole tar has matched the signed digest, yet extraction
still treats it as untrusted: ``tarcheck`` judges every member by its names
first (it does not depend on the Python version, see there), then tarfile's
``data`` filter refuses absolute paths, ``..``, device files and links that
point outside.  Each refused member is skipped with a warning rather than
aborting the whole restore, and the result names them.
Everything is extracted into a staging folder beside the final one and renamed
into place only when complete, so a half-written tree never carries the final
name.
"""

from __future__ import annotations

import os
import shutil
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from airgap_transfer.engine.unpack import tarcheck
from airgap_transfer.errors import FormatError, IntegrityError, UsageError
from airgap_transfer.events import Kind, Reporter
from airgap_transfer.format.names import printable
from airgap_transfer.media import fsio

SAFE_MODE_MASK = 0o755  # what a restored file or folder may keep of its recorded mode


def _skip(refused: list[tarcheck.Refused], report: Reporter, name: str, reason: str) -> None:
    refused.append(tarcheck.Refused(name, reason))
    report.warning(Kind.MEMBER_SKIPPED, f"skipped {printable(name)}: {reason}", member=name, reason=reason)


def _member_filter(top: str, report: Reporter,
                   refused: list[tarcheck.Refused]) -> Callable[[tarfile.TarInfo, str], tarfile.TarInfo | None]:
    def check(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo | None:
        if member.name.rstrip("/") != top and not member.name.startswith(top + "/"):
            _skip(refused, report, member.name, "outside the bundle folder")
            return None
        try:
            return tarfile.data_filter(member, dest)
        except tarfile.FilterError as exc:
            _skip(refused, report, member.name, str(exc))
            return None
    return check


@dataclass
class Restored:
    entries: int
    refused: list[tarcheck.Refused] = field(default_factory=list)


def restore_directory(tar_path: Path, final: Path, top: str, force: bool, report: Reporter,
                      placing: Callable[[], None] = lambda: None) -> Restored:
    """Extract ``tar_path`` (members under ``top/``) as the folder ``final``; says what it refused.

    ``placing`` is called once the tree is complete, just before it takes the final name.
    """
    if top != os.path.basename(top) or top in ("", ".", "..") or "\0" in top:
        raise FormatError(f"folder bundle name {top!r} is not a single plain name")  # never a path elsewhere
    tag = f"{os.getpid()}"
    staging = final.with_name(f".{final.name}.agt-extract-{tag}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(mode=0o700)
    try:
        refused: list[tarcheck.Refused] = []
        with tarfile.open(tar_path, "r:") as archive:
            members = archive.getmembers()
            kept, judged = tarcheck.check_members(members, top)
            for item in judged:
                _skip(refused, report, item.name, item.reason)
            archive.extractall(staging, members=kept, filter=_member_filter(top, report, refused))
        _restore_folder_modes(staging, members, top)
        os.sync()  # tarfile does not fsync; make the tree durable before it gets its final name
        tree = staging / top
        if tree.is_symlink() or not tree.is_dir():
            raise IntegrityError(f"the bundle holds no folder named {printable(top)}",
                                 hint="this directory bundle was not made by airgap-transfer pack")
        placing()
        _move_into_place(tree, final, force)
    except tarfile.TarError as exc:
        raise IntegrityError(f"the directory bundle is not a readable tar archive: {exc}",
                             hint="re-run verify on each drive") from None
    finally:
        if staging.exists():
            shutil.rmtree(staging, onerror=_writable_again)
    fsio.fsync_dir(final.parent)
    done = len(members) - len(refused)
    report.info(Kind.DIRECTORY_RESTORED, f"restored folder {final} ({done} entries"
                + (f", {len(refused)} REFUSED)" if refused else ")"),
                output=str(final), entries=done, refused=len(refused))
    return Restored(done, refused)


def _restore_folder_modes(staging: Path, members: list[tarfile.TarInfo], top: str) -> None:
    """Give files and folders back their recorded modes, masked to 0755.

    The data filter extracts files u+rw and leaves folders at the default
    mode, so a read-only file (0444) or folder (0555) would come back
    writable.  The recorded mode is restored with the filter's limits: no
    set-id or sticky bit and no group/other write (mask 0755).  Files first,
    then folders deepest first, so extraction itself never met a read-only one.
    """
    chosen = []
    for member in members:
        name = member.name.rstrip("/")
        if (member.isdir() or member.isreg()) and (name == top or name.startswith(top + "/")) \
                and ".." not in name.split("/"):
            chosen.append((name.count("/"), member.isdir(), staging / name, member.mode & SAFE_MODE_MASK))
    for _, _, path, mode in sorted((c for c in chosen if not c[1]), key=lambda c: c[0]):
        if path.is_file() and not path.is_symlink():
            os.chmod(path, mode)
    for _, _, path, mode in sorted((c for c in chosen if c[1]), key=lambda c: -c[0]):
        if path.is_dir() and not path.is_symlink():
            os.chmod(path, mode)


def _writable_again(function: Callable[[str], object], path: str, _exc_info: object) -> None:
    """rmtree of a tree with read-only folders (restored 0555): make the parent writable and retry."""
    parent = os.path.dirname(path)
    os.chmod(parent, os.stat(parent).st_mode | 0o700)
    function(path)


def _move_into_place(tree: Path, final: Path, force: bool) -> None:
    if not os.path.lexists(final):
        os.rename(tree, final)
        return
    if not force:
        raise UsageError(f"output {final} already exists; left untouched",
                         hint="pass --force to replace it, or -o for another path")
    old = final.with_name(f".{final.name}.agt-replaced-{os.getpid()}")
    os.rename(final, old)
    os.rename(tree, final)
    if old.is_dir() and not old.is_symlink():
        shutil.rmtree(old, onerror=_writable_again)
    else:
        old.unlink()
