"""Our own checks of a directory bundle's tar members, before tarfile extracts anything.

tarfile's ``data`` filter is the second line, not the first: on the Pythons
this project allows (3.11 and later) it has been bypassed by crafted link
chains (CVE-2025-4517 and its siblings, fixed only in 3.11.13 / 3.12.11 /
3.13.4).  The filter resolves links with ``os.path.realpath``, which gives up
silently past PATH_MAX; these checks never touch the file system and never
resolve a link through another one, so a member is judged on its names alone:

* a name is relative, made of plain components (no ``..``, ``.``, empty or
  NUL), at most MAX_MEMBER_NAME_CHARS long with components of at most 255 bytes,
  and inside the bundle's top folder;
* only files, folders, symlinks and hard links, and a name appears once
  (folders excepted): a second member of the same name would write through
  the first;
* no member lies below a symlink member: links are never followed while
  extracting;
* a symlink's target is relative, stays inside the top folder once joined
  to the link's folder, and does not pass through another symlink (no
  chains); a hard link names an earlier regular file.

A refused member is skipped and named; the caller says so in its result.
"""

from __future__ import annotations

import tarfile
from dataclasses import dataclass

from airgap_transfer.limits import MAX_MEMBER_COMPONENT_BYTES, MAX_MEMBER_NAME_CHARS


@dataclass
class Refused:
    name: str
    reason: str


def _plain(name: str) -> str | None:
    """Why ``name`` is not a plain relative path, or None."""
    if not name or "\0" in name:
        return "empty name or NUL in it"
    if len(name) > MAX_MEMBER_NAME_CHARS:
        return f"name longer than {MAX_MEMBER_NAME_CHARS} characters"
    if name.startswith("/"):
        return "absolute name"
    parts = name.rstrip("/").split("/")
    if any(part in ("", ".", "..") for part in parts):
        return "name with an empty, '.' or '..' component"
    if any(len(part.encode("utf-8", "surrogateescape")) > MAX_MEMBER_COMPONENT_BYTES for part in parts):
        return f"a name component longer than {MAX_MEMBER_COMPONENT_BYTES} bytes"
    return None


def _inside(path: str, top: str) -> bool:
    return path == top or path.startswith(top + "/")


def _through_link(path: str, links: set[str], include_self: bool) -> str | None:
    """The first symlink member that ``path`` (or a folder above it) names, if any."""
    parts = path.split("/")
    ends = range(1, len(parts) + 1) if include_self else range(1, len(parts))
    for end in ends:
        prefix = "/".join(parts[:end])
        if prefix in links:
            return prefix
    return None


def check_members(members: list[tarfile.TarInfo], top: str) -> tuple[list[tarfile.TarInfo], list[Refused]]:
    """The members safe to extract (in order), and the refused ones with the reason."""
    links = {m.name.rstrip("/") for m in members if m.issym()}
    files: set[str] = set()
    seen: set[str] = set()
    kept: list[tarfile.TarInfo] = []
    refused: list[Refused] = []
    for member in members:
        reason = _judge(member, top, links, files, seen)
        name = member.name.rstrip("/")
        if reason is not None:
            refused.append(Refused(member.name, reason))
            continue
        seen.add(name)
        if member.isreg():
            files.add(name)
        kept.append(member)
    return kept, refused


def _judge(member: tarfile.TarInfo, top: str, links: set[str], files: set[str], seen: set[str]) -> str | None:
    problem = _plain(member.name)
    if problem:
        return problem
    name = member.name.rstrip("/")
    if not _inside(name, top):
        return f"outside the folder {top}"
    if not (member.isreg() or member.isdir() or member.issym() or member.islnk()):
        return "not a file, folder or link (device, pipe or unknown type)"
    if name in seen and not member.isdir():
        return "a second member of the same name (it would write through the first)"
    through = _through_link(name, links, include_self=False)
    if through:
        return f"below the symlink {through} (links are never followed)"
    if member.issym():
        return _symlink_problem(name, member.linkname, top, links)
    if member.islnk():
        target = member.linkname.rstrip("/")
        if _plain(target) or target not in files:
            return "a hard link to something other than an earlier regular file of the bundle"
    return None


def _symlink_problem(name: str, target: str, top: str, links: set[str]) -> str | None:
    """Walk the target one component at a time, as the kernel would, never through a symlink member.

    Lexical normalisation is not enough: ``link/..`` is the parent of wherever
    ``link`` points, not the folder holding ``link``.
    """
    if not target or "\0" in target or len(target) > MAX_MEMBER_NAME_CHARS:
        return "an empty, overlong or NUL-holding link target"
    if target.startswith("/"):
        return "a link to an absolute path"
    parts = name.split("/")[:-1]
    for component in target.split("/"):
        if component in ("", "."):
            continue
        if component == "..":
            if not parts:
                return "a link pointing outside the bundle's folder"
            parts.pop()
        else:
            parts.append(component)
        current = "/".join(parts)
        if current in links:
            return f"a link through the symlink {current} (chains of links are refused)"
    if not _inside("/".join(parts), top):
        return "a link pointing outside the bundle's folder"
    return None
