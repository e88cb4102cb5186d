#!/usr/bin/env python3
"""Is writing two destinations at once faster than one after the other?

This is the measurement behind pack's choice to fill drives in sequence.  It
writes SIZE bytes to each of two destinations the way pack does (8 MiB
buffer, fsync, page cache dropped, then read back and BLAKE3-hashed), first
one destination after the other, then both at once in two threads, and prints
the median wall time of each over --runs runs and their ratio.

    python3 benchmarks/parallel_drives.py /media/usb1 /media/usb2 --size 1GB

Run it on the real drives: the answer depends on whether they share a bus.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path

import blake3

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from airgap_transfer.sizes import parse_size  # noqa: E402

BUFFER = 8 * 2**20


def write_and_read_back(source: Path, target: Path) -> None:
    buffer = bytearray(BUFFER)
    view = memoryview(buffer)
    with open(source, "rb", buffering=0) as src:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            while got := src.readinto(view):
                os.write(fd, view[:got])
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
    hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
    fd = os.open(target, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        while got := os.readv(fd, [view]):
            hasher.update(view[:got])
    finally:
        os.close(fd)


def drop_caches() -> None:
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError:
        pass  # not root: the source may come from the page cache in both modes alike


def one_after_other(sources: list[Path], targets: list[Path]) -> None:
    for source, target in zip(sources, targets):
        write_and_read_back(source, target)


def at_once(sources: list[Path], targets: list[Path]) -> None:
    threads = [threading.Thread(target=write_and_read_back, args=pair) for pair in zip(sources, targets)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dest1", type=Path)
    parser.add_argument("dest2", type=Path)
    parser.add_argument("--size", default="512MB", help="bytes per destination (default 512MB)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scratch", type=Path, default=Path("/var/tmp"),
                        help="where the source files are made (default /var/tmp)")
    args = parser.parse_args()
    size = parse_size(args.size)
    sources = [args.scratch / f"agt-bench-src-{n}.bin" for n in (1, 2)]
    targets = [args.dest1 / "agt-bench-1.bin", args.dest2 / "agt-bench-2.bin"]
    for source in sources:
        with open(source, "wb") as handle:
            for _ in range(0, size, BUFFER):
                handle.write(os.urandom(min(BUFFER, size)))
            handle.truncate(size)
    timings: dict[str, list[float]] = {"one after the other": [], "both at once": []}
    try:
        for _ in range(args.runs):
            for name, mode in (("one after the other", one_after_other), ("both at once", at_once)):
                drop_caches()
                start = time.monotonic()
                mode(sources, targets)
                timings[name].append(time.monotonic() - start)
    finally:
        for path in sources + targets:
            path.unlink(missing_ok=True)
    sequential = statistics.median(timings["one after the other"])
    parallel = statistics.median(timings["both at once"])
    print(f"{size} bytes to each of {args.dest1} and {args.dest2}, median of {args.runs} runs")
    print(f"  one after the other: {sequential:6.2f} s  ({2 * size / sequential / 1e6:7.1f} MB/s)")
    print(f"  both at once:        {parallel:6.2f} s  ({2 * size / parallel / 1e6:7.1f} MB/s)")
    print(f"  at once / in sequence = {parallel / sequential:.2f}")


if __name__ == "__main__":
    main()
