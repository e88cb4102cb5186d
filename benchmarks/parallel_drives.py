#!/usr/bin/env python3
"""Drives written at once against the same drives filled one after another.

Runs the installed ``airgap-transfer pack`` on one source and the same
destinations twice per round, with ``--no-parallel`` and without, the source's
pages evicted from the cache before each run, and prints the median wall time
and peak RSS of each and their ratio.  The destinations are emptied between
runs.

    python3 benchmarks/parallel_drives.py /media/usb1 /media/usb2 --size 2GB

Run it on the real drives: the answer depends on whether they share a bus.
With ``--make KIND --drive-size SIZE`` (root) it makes the destinations
itself and removes them at the end:

    exfat   exFAT images on loop devices, through exfat-fuse, as a stick
            formatted elsewhere is mounted here
    ext4    ext4 images on loop devices
    tmpfs   RAM: no drive at all, so only the CPU's work is left to compare
    slow    stand-ins for USB sticks (slowdrive.py): tmpfs served through FUSE
            at --write-rate / --read-rate MB/s each, independent of each other
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from airgap_transfer.cli.sizes import parse_size

BLOCK = 8 * 2**20


def make_source(path: Path, size: int) -> None:
    with open(path, "wb") as handle:
        for _ in range(0, size, BLOCK):
            handle.write(os.urandom(BLOCK))
        handle.truncate(size)


def evict(path: Path) -> None:
    os.sync()
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def wait_for_mount(path: Path) -> None:
    deadline = time.monotonic() + 10
    while not os.path.ismount(path):
        if time.monotonic() > deadline:
            raise SystemExit(f"{path} was not mounted")
        time.sleep(0.05)


def make_drive(kind: str, size: int, scratch: Path, number: int, stack: ExitStack,
               rates: tuple[float, float] = (30, 90)) -> Path:
    mount_point = scratch / f"drive{number}"
    mount_point.mkdir()
    if kind in ("tmpfs", "slow"):
        backing = mount_point if kind == "tmpfs" else scratch / f"backing{number}"
        backing.mkdir(exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(backing)], check=True)
        stack.callback(subprocess.run, ["umount", str(backing)], check=False)
        if kind == "slow":
            server = subprocess.Popen([sys.executable, str(Path(__file__).with_name("slowdrive.py")), str(backing),
                                       str(mount_point), "--write", str(rates[0]), "--read", str(rates[1])])
            stack.callback(server.wait, 10)
            stack.callback(subprocess.run, ["umount", str(mount_point)], check=False)
            wait_for_mount(mount_point)
        return mount_point
    image = scratch / f"drive{number}.img"
    subprocess.run(["truncate", "-s", str(size), str(image)], check=True)
    if kind == "exfat":
        subprocess.run(["mkfs.exfat", "-L", f"BENCH{number}", str(image)], check=True, capture_output=True)
    else:
        subprocess.run(["mkfs.ext4", "-q", "-L", f"BENCH{number}", str(image)], check=True)
    device = subprocess.run(["losetup", "-f", "--show", str(image)], check=True, capture_output=True,
                            text=True).stdout.strip()
    stack.callback(subprocess.run, ["losetup", "-d", device], check=False)
    mount = ["mount.exfat-fuse", device, str(mount_point)] if kind == "exfat" else ["mount", device, str(mount_point)]
    subprocess.run(mount, check=True, capture_output=True)
    stack.callback(subprocess.run, ["umount", str(mount_point)], check=False)
    return mount_point


def empty(drives: list[Path]) -> None:
    for drive in drives:
        for folder in drive.glob("airgap-*"):
            shutil.rmtree(folder)
    os.sync()


def timed_pack(source: Path, drives: list[Path], extra: list[str], env: dict) -> tuple[float, int]:
    command = ["/usr/bin/time", "-f", "%M", "airgap-transfer", "pack", str(source), *map(str, drives),
               "--no-prompt", "--compress", "none", "--quiet", *extra]
    start = time.monotonic()
    run = subprocess.run(command, capture_output=True, text=True, env=env)
    elapsed = time.monotonic() - start
    if run.returncode != 0:
        raise SystemExit(f"pack failed ({run.returncode}): {run.stderr.strip()}")
    return elapsed, int(run.stderr.strip().splitlines()[-1]) * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("drives", type=Path, nargs="*", help="mounted destinations (or use --make)")
    parser.add_argument("--size", default="1GB", help="bundle size (default 1GB)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--make", choices=["exfat", "ext4", "tmpfs", "slow"], help="make the destinations (root)")
    parser.add_argument("--write-rate", type=float, default=30, help="with --make slow: MB/s written (default 30)")
    parser.add_argument("--read-rate", type=float, default=90, help="with --make slow: MB/s read (default 90)")
    parser.add_argument("--count", type=int, default=2, help="with --make: how many drives (default 2)")
    parser.add_argument("--drive-size", default=None, help="with --make: size of each (default: the bundle's)")
    parser.add_argument("--scratch", type=Path, default=Path("/var/tmp"),
                        help="where the source and drive images are made (default /var/tmp)")
    parser.add_argument("--readback", action="store_true", help="keep read-back on (default --no-readback)")
    args = parser.parse_args()
    size = parse_size(args.size)
    with tempfile.TemporaryDirectory(dir=args.scratch, prefix="agt-par-") as scratch, ExitStack() as stack:
        scratch = Path(scratch)
        drives = args.drives
        if args.make:
            drive_size = parse_size(args.drive_size) if args.drive_size else size
            drives = [make_drive(args.make, drive_size, scratch, n + 1, stack, (args.write_rate, args.read_rate))
                      for n in range(args.count)]
        if len(drives) < 2:
            raise SystemExit("give two or more drives, or --make")
        source = scratch / "bundle.bin"
        make_source(source, size)
        env = {**os.environ, "XDG_CONFIG_HOME": str(scratch / "config"), "XDG_STATE_HOME": str(scratch / "state")}
        subprocess.run(["airgap-transfer", "keygen", "--no-passphrase", "--quiet"], check=True, env=env, capture_output=True)
        extra = [] if args.readback else ["--no-readback"]
        results: dict[str, list[tuple[float, int]]] = {"one after another": [], "at once": []}
        for _ in range(args.runs):
            for name, flags in (("one after another", ["--no-parallel"]), ("at once", [])):
                empty(drives)
                evict(source)
                results[name].append(timed_pack(source, drives, extra + flags, env))
        empty(drives)
    what = f"{args.make} x{len(drives)}" if args.make else ", ".join(map(str, drives))
    if args.make == "slow":
        what += f" ({args.write_rate:g} MB/s write, {args.read_rate:g} MB/s read each)"
    print(f"pack of {size} random bytes onto {what}, {'with' if args.readback else 'without'} read-back, "
          f"median of {args.runs}")
    medians = {}
    for name, runs in results.items():
        medians[name] = statistics.median(t for t, _ in runs)
        rss = max(r for _, r in runs)
        print(f"  {name:18} {medians[name]:7.2f} s  {size / medians[name] / 1e6:7.1f} MB/s  "
              f"peak RSS {rss / 2**20:5.1f} MiB")
    print(f"  at once / one after another = {medians['at once'] / medians['one after another']:.2f}")


if __name__ == "__main__":
    main()
