"""I/O faults at chosen offsets: a fault-injecting wrapper around the engine's file I/O.

The wrappers replace os.write / os.readv / os.pwrite for the test, firing only
for file descriptors whose path matches, in whichever thread does the I/O.

Each fault must give a clear error naming the drive, the documented exit code,
nothing partial under a final name, and a run of the same command afterwards
must finish with identical bytes.
"""

from __future__ import annotations

import errno
import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from airgap_transfer.engine.pack.packer import PackConfig, pack
from airgap_transfer.engine.unpack.unpacker import UnpackConfig, unpack
from airgap_transfer.errors import DriveIOError, IntegrityError, NoSpaceError
from tests.conftest import default_public_key, only_resumable_partials, transfer_folder

MB = 10**6


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fd_path(fd: int) -> str:
    return os.readlink(f"/proc/self/fd/{fd}")


class FaultAt:
    """Wraps a write or read function; at the Nth byte to a matching file, does ``action`` once."""

    def __init__(self, real, at_byte: int, match: str, action, bytes_arg: int = 1):
        self.real, self.at_byte, self.match, self.action, self.bytes_arg = real, at_byte, match, action, bytes_arg
        self.seen, self.fired = 0, False

    def __call__(self, fd, *args):
        data = args[self.bytes_arg - 1]
        size = len(data) if not isinstance(data, list) else sum(len(b) for b in data)
        if not self.fired and self.match in fd_path(fd):
            self.seen += size
            if self.seen >= self.at_byte:
                self.fired = True
                self.action()
        return self.real(fd, *args)


def raise_errno(code):
    def action():
        raise OSError(code, os.strerror(code))
    return action


@pytest.mark.parametrize("at_byte", [1, 1_500_000, 3_999_999])
def test_eio_while_packing_is_exit_3_naming_the_drive_and_resumes(at_byte, tmpfs, random_file, monkeypatch, tmp_path):
    source = random_file(6 * MB)
    drive = tmpfs("32M")
    fault = FaultAt(os.write, at_byte, str(drive), raise_errno(errno.EIO))
    monkeypatch.setattr(os, "write", fault)
    config = PackConfig(source=str(source), destinations=[drive], chunk_size=MB)
    with pytest.raises(DriveIOError) as info:
        pack(config)
    assert info.value.exit_code == 3 and str(drive) in info.value.one_line()
    assert "resume" in info.value.one_line()
    assert not [p for p in drive.rglob(".*tmp-*")], "partial chunk left behind"
    monkeypatch.setattr(os, "write", fault.real)
    result = pack(config)
    out = unpack(UnpackConfig([drive], tmp_path / "out", trust=[str(default_public_key())]))
    assert sha(out.output) == sha(source) and result.bundle_size == 6 * MB


def test_drive_pulled_mid_chunk_then_resumed_on_a_fresh_drive(tmpfs, random_file, monkeypatch, tmp_path):
    """umount -l while chunk 3 is being written: the folder vanishes under the open file."""
    source = random_file(6 * MB)
    drive = tmpfs("32M", "stick")

    def pull():
        subprocess.run(["umount", "-l", str(drive)], check=True)

    fault = FaultAt(os.write, 2 * MB + 10, str(drive), pull)
    monkeypatch.setattr(os, "write", fault)
    config = PackConfig(source=str(source), destinations=[drive], chunk_size=MB)
    with pytest.raises(DriveIOError) as info:
        pack(config)
    assert info.value.exit_code == 3 and str(drive) in info.value.one_line()
    monkeypatch.setattr(os, "write", fault.real)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32M", "tmpfs", str(drive)], check=True)
    events = []
    pack(config, events.append)
    assert any(e.kind == "resume-chunk-redo" for e in events), "the new drive's missing chunks were not noticed"
    out = unpack(UnpackConfig([drive], tmp_path / "out", trust=[str(default_public_key())]))
    assert sha(out.output) == sha(source)


def test_eio_reading_a_chunk_is_exit_3_not_integrity(tmpfs, random_file, monkeypatch, tmp_path):
    source = random_file(4 * MB)
    drive = tmpfs("32M")
    pack(PackConfig(source=str(source), destinations=[drive], chunk_size=MB))
    victim = sorted(transfer_folder(drive).glob("*.chunk"))[2]
    fault = FaultAt(os.readv, 1, victim.name, raise_errno(errno.EIO))
    monkeypatch.setattr(os, "readv", fault)
    out_dir = tmp_path / "out"
    with pytest.raises(DriveIOError) as info:
        unpack(UnpackConfig([drive], out_dir, trust=[str(default_public_key())]))
    assert info.value.exit_code == 3 and "chunk 3" in info.value.one_line()
    assert only_resumable_partials(out_dir)
    monkeypatch.setattr(os, "readv", fault.real)
    events = []
    out = unpack(UnpackConfig([drive], out_dir, trust=[str(default_public_key())]), events.append)
    assert any(e.kind == "resume" for e in events), "chunks 1-2 were read from the drive again"
    assert sha(out.output) == sha(source)


def test_output_disk_fills_up_during_unpack_on_real_tmpfs(tmpfs, random_file, monkeypatch, tmp_path):
    source = random_file(8 * MB)
    drive = tmpfs("32M")
    pack(PackConfig(source=str(source), destinations=[drive], chunk_size=2 * MB))
    out_disk = tmpfs("12M", "outdisk")
    filler = out_disk / "filler.bin"

    def fill():
        with open(filler, "wb") as handle:
            try:
                while True:
                    handle.write(b"\0" * 2**20)
                    handle.flush()
            except OSError as exc:
                assert exc.errno == errno.ENOSPC

    fault = FaultAt(os.pwrite, 3 * MB, "agt-partial", fill)
    monkeypatch.setattr(os, "pwrite", fault)
    config = UnpackConfig([drive], out_disk / "deploy", trust=[str(default_public_key())])
    with pytest.raises(NoSpaceError) as info:
        unpack(config)
    assert info.value.exit_code == 6
    assert only_resumable_partials(out_disk / "deploy")
    monkeypatch.setattr(os, "pwrite", fault.real)
    filler.unlink()
    out = unpack(config)
    assert sha(out.output) == sha(source)


def test_a_medium_that_alters_data_fails_read_back_when_drives_are_written_at_once(tmpfs, random_file,
                                                                                     monkeypatch):
    """The second stick returns one flipped byte per read of a chunk: read-back must catch it at once too."""
    source = random_file(6 * MB)
    drives = [tmpfs("16M", "at-once-1"), tmpfs("16M", "at-once-2")]
    real = os.readv

    def lying(fd, buffers):
        count = real(fd, buffers)
        path = fd_path(fd)
        if count > 0 and "at-once-2" in path and ".chunk" in path:
            buffers[0][0] ^= 0xFF
        return count

    monkeypatch.setattr(os, "readv", lying)
    events = []
    with pytest.raises(IntegrityError) as info:
        pack(PackConfig(source=str(source), destinations=drives, chunk_size=MB), events.append)
    assert any(e.kind == "drives-at-once" for e in events), [e.kind for e in events]
    assert info.value.exit_code == 4 and "read-back" in info.value.one_line()
    assert not list(transfer_folder(drives[1]).glob("*.chunk")), "a chunk that failed read-back kept its name"


@pytest.mark.parametrize("medium", ["tmpfs", "exfat"])
def test_a_rejected_copy_leaves_none_of_its_bytes_in_the_partial_output(medium, tmpfs, exfat, random_file, cli,
                                                                       tmp_path):
    """Its bytes were written before the digest failed; forged (say, a valid age file for the recipient), they
    must not stay in the hidden partial output even though nothing adopts them."""
    source = random_file(3 * 10**6)
    drive = tmp_path / "drive"
    drive.mkdir()
    assert cli("pack", source, drive, "--chunk-size", "1MB", "--compress", "none").code == 0
    victim = sorted(transfer_folder(drive).glob("*-000002.chunk"))[0]
    forged = bytes(b ^ 0x5A for b in victim.read_bytes())   # a recognisable pattern, none of it zero
    victim.write_bytes(forged)
    out = tmpfs("16M", "out") if medium == "tmpfs" else exfat("64M")
    run = cli("unpack", drive, out, "--trust", default_public_key(), "--no-prompt")
    assert run.code == 4, run.output
    assert only_resumable_partials(out)
    partial = [p for p in out.iterdir() if ".agt-partial-" in p.name and p.is_file()]
    assert len(partial) == 1, list(out.iterdir())
    data = partial[0].read_bytes()
    assert data[10**6:2 * 10**6] == bytes(10**6), "the rejected copy's bytes are still in the partial output"
    assert data[:10**6] == source.read_bytes()[:10**6]        # the proven chunk before it is kept for the resume
