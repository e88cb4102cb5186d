"""Member checks of directory bundles: a table of hostile members, and a realpath-overflow link chain."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from airgap_transfer.engine.unpack import tarcheck
from airgap_transfer.engine.unpack.dirrestore import restore_directory
from airgap_transfer.events import Reporter


def member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


OK = [member("top", tarfile.DIRTYPE), member("top/a.txt"), member("top/sub", tarfile.DIRTYPE),
      member("top/sub/b.txt"), member("top/link", tarfile.SYMTYPE, "sub/b.txt"),
      member("top/sub/up", tarfile.SYMTYPE, "../a.txt"),
      member("top/hard", tarfile.LNKTYPE, "top/a.txt")]


def test_ordinary_members_pass():
    kept, refused = tarcheck.check_members(OK, "top")
    assert refused == [] and kept == OK


@pytest.mark.parametrize("bad, reason", [
    (member("/top/x"), "absolute"),
    (member("top/../x"), "'..'"),
    (member("top/./x"), "'.'"),
    (member("top//x"), "empty"),
    (member("other/x"), "outside the folder"),
    (member("top/" + "d" * 256), "longer than 255 bytes"),
    (member("top/" + "/".join(["d" * 200] * 6)), "longer than 1024"),
    (member("top/dev", tarfile.CHRTYPE), "device"),
    (member("top/fifo", tarfile.FIFOTYPE), "device, pipe"),
    (member("top/a.txt"), "second member of the same name"),
    (member("top/link/c.txt"), "below the symlink top/link"),
    (member("top/abs", tarfile.SYMTYPE, "/etc/passwd"), "absolute path"),
    (member("top/out", tarfile.SYMTYPE, "../../etc"), "outside the bundle's folder"),
    (member("top/sibling", tarfile.SYMTYPE, "../other"), "outside the bundle's folder"),
    (member("top/sub/sibling", tarfile.SYMTYPE, "../../other/x"), "outside the bundle's folder"),
    (member("top/chain", tarfile.SYMTYPE, "link"), "through the symlink top/link"),
    (member("top/chain2", tarfile.SYMTYPE, "link/../sub"), "through the symlink top/link"),
    (member("top/h2", tarfile.LNKTYPE, "top/link"), "hard link to something other"),
    (member("top/h3", tarfile.LNKTYPE, "/etc/passwd"), "hard link to something other"),
], ids=lambda v: v if isinstance(v, str) else v.name[:30])
def test_hostile_members_are_refused_with_the_reason(bad, reason):
    kept, refused = tarcheck.check_members(OK + [bad], "top")
    assert kept == OK
    assert [r.name for r in refused] == [bad.name] and reason in refused[0].reason, refused


def build_realpath_overflow_chain(path: Path, top: str, outside: Path, dest: Path) -> Path:
    """A link chain in the way of CVE-2025-4517: nested links whose expansion exceeds PATH_MAX.

    os.path.realpath stops resolving past PATH_MAX, so the data filter of an
    unpatched Python sees `escape` as inside; through it a hard link reaches
    `outside/flag` and a second member of the same name overwrites it.
    """
    steps = "abcdefghijklmnop"
    # Deep folders that fit in PATH_MAX below ``dest`` (where tarfile extracts), but not once expanded.
    component = "d" * ((4096 - len(str(dest)) - 1 - len(top) - 1) // (len(steps) + 1))
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as archive:
        def add(info: tarfile.TarInfo, data: bytes = b"") -> None:
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data) if data else None)
        add(member(top, tarfile.DIRTYPE))
        deep, chain = top, top
        for step in steps:
            add(member(f"{deep}/{component}", tarfile.DIRTYPE))
            add(member(f"{deep}/{step}", tarfile.SYMTYPE, component))
            deep, chain = f"{deep}/{component}", f"{chain}/{step}"
        long_link = f"{chain}/{'l' * 254}"
        add(member(long_link, tarfile.SYMTYPE, "/".join([".."] * len(steps))))
        ups = os.path.relpath(outside, dest)
        add(member(f"{top}/escape", tarfile.SYMTYPE, f"{long_link[len(top) + 1:]}/../{ups}"))
        add(member(f"{top}/flaglink", tarfile.LNKTYPE, f"{top}/escape/flag"))
        add(member(f"{top}/flaglink"), b"overwritten")
        add(member(f"{top}/escape/newfile"), b"new")
    return path


def test_a_realpath_overflow_link_chain_writes_nothing_outside(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "flag").write_bytes(b"original")
    # restore_directory extracts into out/.top.agt-extract-PID: the shortest such name sizes the chain
    tar = build_realpath_overflow_chain(tmp_path / "b.tar", "top", outside, tmp_path / "out" / ".top.agt-extract-1")
    (tmp_path / "out").mkdir()
    events: list = []
    restored = restore_directory(tar, tmp_path / "out" / "top", "top", False, Reporter(events.append))
    assert (outside / "flag").read_bytes() == b"original"
    assert sorted(p.name for p in outside.iterdir()) == ["flag"]
    reasons = {r.name.rsplit("/", 1)[-1][:8]: r.reason for r in restored.refused}
    assert "escape" in reasons and "flaglink" in reasons and "newfile" in reasons
    assert any(e.kind == "member-skipped" for e in events)


def test_a_link_to_a_sibling_of_the_bundle_folder_is_not_extracted(tmp_path):
    """tarfile's data filter allows it (the target stays inside the staging folder), our check does not.

    Once renamed into place, ``top/sibling -> ../other`` would name the
    receiver's own ``other`` beside the output.
    """
    out = tmp_path / "out"
    out.mkdir()
    tar = tmp_path / "b.tar"
    with tarfile.open(tar, "w", format=tarfile.PAX_FORMAT) as archive:
        for info in (member("top", tarfile.DIRTYPE), member("top/sibling", tarfile.SYMTYPE, "../other")):
            archive.addfile(info)
    restored = restore_directory(tar, out / "top", "top", False, Reporter(None))
    assert not os.path.lexists(out / "top" / "sibling")
    assert [(r.name, r.reason) for r in restored.refused] == [
        ("top/sibling", "a link pointing outside the bundle's folder")]
