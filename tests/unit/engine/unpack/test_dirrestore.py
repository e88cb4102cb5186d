"""Restoring a directory bundle never writes outside the output folder."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from airgap_transfer.engine.unpack.dirrestore import restore_directory
from airgap_transfer.errors import FormatError, IntegrityError, UsageError
from airgap_transfer.events import Reporter


def build_tar(path: Path, entries: list[tuple[str, bytes, str]]) -> Path:
    """entries: (name, data, linkname); a linkname makes a symlink, a name ending in / a folder."""
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as archive:
        for name, data, link in entries:
            info = tarfile.TarInfo(name.rstrip("/"))
            if link:
                info.type, info.linkname = tarfile.SYMTYPE, link
            elif name.endswith("/"):
                info.type, info.mode = tarfile.DIRTYPE, 0o755
            else:
                info.size = len(data)
            archive.addfile(info, io.BytesIO(data) if data else None)
    return path


def collect():
    events = []
    return events, Reporter(events.append)


def test_hostile_members_are_skipped_with_warnings(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    tar = build_tar(tmp_path / "b.tar", [
        ("top/", b"", ""), ("top/ok.txt", b"fine", ""),
        ("top/../../escape.txt", b"x", ""), ("/abs.txt", b"x", ""),
        ("top/out-link", b"", "../../../etc/passwd"), ("top/abs-link", b"", "/etc/passwd"),
        ("other/file", b"x", ""), ("top/in-link", b"", "ok.txt")])
    events, report = collect()
    restore_directory(tar, out / "top", "top", False, report)
    assert (out / "top" / "ok.txt").read_bytes() == b"fine"
    assert (out / "top" / "in-link").is_symlink()
    assert sorted(p.name for p in (out / "top").iterdir()) == ["in-link", "ok.txt"]
    assert sorted(p.name for p in out.iterdir()) == ["top"]
    assert not (tmp_path / "escape.txt").exists()
    skipped = [e.data["member"] for e in events if e.kind == "member-skipped"]
    assert len(skipped) == 5 and all(e.level == "warning" for e in events if e.kind == "member-skipped")


def test_a_tar_without_the_bundle_folder_is_refused(tmp_path):
    tar = build_tar(tmp_path / "b.tar", [("elsewhere/", b"", ""), ("elsewhere/f", b"x", "")])
    with pytest.raises(IntegrityError, match="no folder named"):
        restore_directory(tar, tmp_path / "top", "top", False, Reporter(None))
    assert [p.name for p in tmp_path.iterdir()] == ["b.tar"]  # no staging folder left behind


def test_existing_output_needs_force(tmp_path):
    tar = build_tar(tmp_path / "b.tar", [("top/", b"", ""), ("top/new.txt", b"new", "")])
    final = tmp_path / "top"
    final.mkdir()
    (final / "old.txt").write_bytes(b"old")
    with pytest.raises(UsageError, match="already exists"):
        restore_directory(tar, final, "top", False, Reporter(None))
    assert (final / "old.txt").exists()
    restore_directory(tar, final, "top", True, Reporter(None))
    assert sorted(p.name for p in final.iterdir()) == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.tar", "top"]


@pytest.mark.parametrize("top", ["..", ".", "", "a/b", "../top", "to\0p"])
def test_a_bundle_folder_name_that_is_not_one_plain_name_is_refused_before_anything_is_written(tmp_path, top):
    tar = build_tar(tmp_path / "b.tar", [("top/", b"", ""), ("top/f", b"x", "")])
    (tmp_path / "out").mkdir()
    with pytest.raises(FormatError, match="not a single plain name"):
        restore_directory(tar, tmp_path / "out" / "top", top, True, Reporter(None))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.tar", "out"]
    assert list((tmp_path / "out").iterdir()) == []
