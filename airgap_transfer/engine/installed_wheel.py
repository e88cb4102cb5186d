"""The tool's own wheel, rebuilt from the installed distribution (no source tree needed).

A ``pip install .`` (or an install from a bootstrap folder) leaves no source
tree behind, only the installed files and their ``*.dist-info`` metadata.
That is everything a wheel holds: the package files listed in RECORD (each
with its sha256, which we check, so a locally modified install is refused
rather than carried across the gap), METADATA, WHEEL and entry_points.txt.
Files RECORD places outside site-packages (the man page under
``share/man/man1``) go back into the wheel's ``.data/data`` folder; scripts
are left out, because the installer writes them from entry_points.txt.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import os
import sys
import zipfile
from importlib import metadata
from pathlib import Path, PurePosixPath

from airgap_transfer import limits
from airgap_transfer.errors import AirgapError
from airgap_transfer.media import fsio

DIST_NAME = "airgap-transfer"
PACKAGE = "airgap_transfer"
# Written by the installer about this installation, not part of the wheel.
INSTALLER_FILES = {"INSTALLER", "REQUESTED", "RECORD", "direct_url.json"}


def _our_distribution() -> metadata.Distribution:
    """The installed distribution that holds the running package, not another copy on sys.path."""
    here = Path(sys.modules[PACKAGE].__file__ or "").resolve()
    for dist in metadata.distributions(name=DIST_NAME):
        if dist.read_text("RECORD") is None:
            continue  # egg-info of a source checkout: no RECORD, nothing to rebuild from
        try:
            located = Path(str(dist.locate_file(f"{PACKAGE}/__init__.py"))).resolve()
        except OSError:
            continue
        if located == here:
            return dist
    raise AirgapError("this installation of airgap-transfer has no installed-distribution record (RECORD)",
                      hint="install it with pip (pip install . or from a bootstrap folder), then run bootstrap again")


def _record_rows(dist: metadata.Distribution) -> list[tuple[str, str]]:
    text = dist.read_text("RECORD") or ""
    if len(text) > limits.MAX_RECORD_BYTES:
        raise AirgapError("the installation's RECORD file is implausibly large", hint="reinstall airgap-transfer")
    rows = []
    for row in csv.reader(io.StringIO(text)):
        if row and row[0]:
            rows.append((row[0], row[1] if len(row) > 1 else ""))
    return rows


def _sha256_field(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _archive_name(recorded: str, dist_info: str, data_dir: str, site: Path) -> str | None:
    """Where a RECORD path goes in the wheel, or None to leave it out."""
    path = PurePosixPath(recorded)
    if path.suffix == ".pyc" or "__pycache__" in path.parts:
        return None
    if path.parts and path.parts[0] == dist_info:
        return None if path.name in INSTALLER_FILES else recorded
    if path.parts and path.parts[0] == PACKAGE:
        return recorded
    if ".." in path.parts:  # outside site-packages: the data files (man page); scripts are regenerated
        absolute = Path(os.path.normpath(site / recorded))
        try:
            relative = absolute.relative_to(Path(sys.prefix))
        except ValueError:
            return None
        if relative.parts and relative.parts[0] == "bin":
            return None
        return f"{data_dir}/data/{relative.as_posix()}"
    return None


def build(folder: Path) -> Path:
    """Write ``airgap_transfer-VERSION-py3-none-any.whl`` into ``folder``; return its path."""
    dist = _our_distribution()
    version = dist.version
    base = f"{PACKAGE}-{version}"
    dist_info, data_dir = f"{base}.dist-info", f"{base}.data"
    site = Path(str(dist.locate_file("")))
    entries: list[tuple[str, bytes]] = []
    for recorded, hash_field in _record_rows(dist):
        name = _archive_name(recorded, dist_info, data_dir, site)
        if name is None:
            continue
        source = site / recorded
        try:
            data = source.read_bytes()
        except OSError as exc:
            raise AirgapError(f"installed file {source} cannot be read ({exc.strerror})",
                              hint="reinstall airgap-transfer, then run bootstrap again") from None
        if hash_field and hash_field != _sha256_field(data):
            raise AirgapError(f"installed file {source} differs from what was installed (RECORD digest)",
                              hint="reinstall airgap-transfer so that an unmodified copy is carried across")
        entries.append((name, data))
    names = {name for name, _ in entries}
    for required in (f"{dist_info}/METADATA", f"{dist_info}/WHEEL", f"{PACKAGE}/__init__.py"):
        if required not in names:
            raise AirgapError(f"the installation lacks {required}", hint="reinstall airgap-transfer")
    entries.sort(key=lambda item: (item[0].startswith(dist_info), item[0]))  # dist-info last, as wheels do
    record = "".join(f"{name},{_sha256_field(data)},{len(data)}\n" for name, data in entries)
    record += f"{dist_info}/RECORD,,\n"
    buffer = io.BytesIO()  # a few hundred kB: built in memory, then written durably in one go
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as wheel:
        for name, data in entries:
            wheel.writestr(_zip_info(name), data)
        wheel.writestr(_zip_info(f"{dist_info}/RECORD"), record)
    target = folder / f"{base}-py3-none-any.whl"
    fsio.atomic_write_bytes(target, buffer.getvalue())
    return target


def _zip_info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))  # reproducible: same install, same bytes
    info.external_attr = 0o644 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    return info
