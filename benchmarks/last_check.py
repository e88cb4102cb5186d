#!/usr/bin/env python3
"""What the last check of a finished drive costs: sampled blocks versus a full re-read.

    python3 benchmarks/last_check.py --dir /var/tmp/agtbench --size 2GB --chunk 256MB --runs 3

Packs a random bundle onto DIR/drive (a folder on the disk under test) with
``pack --no-readback``, then, for every chunk, takes the samples a read-back
would have recorded and times the last check both ways, page cache dropped
before each run (``echo 1 > /proc/sys/vm/drop_caches`` as root, and per file
by the check itself).  Prints seconds per GB and the ratio to the pack time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from airgap_transfer.engine.io import pipeline, samples
from airgap_transfer.engine.pack import last_check
from airgap_transfer.events import Reporter
from airgap_transfer.format.index import Index

UNITS = {"MB": 10**6, "GB": 10**9}


def size(text: str) -> int:
    return int(float(text[:-2]) * UNITS[text[-2:].upper()])


def drop_caches() -> None:
    try:
        subprocess.run(["sync"], check=True)
        Path("/proc/sys/vm/drop_caches").write_text("1\n")
    except OSError:
        pass  # not root: the per-file drop in the check still applies


def expectations(folder: Path, index: Index, sampled: bool) -> list[last_check.Expected]:
    items = []
    for chunk in index.chunks:
        path = folder / chunk.file
        tap = None
        if sampled:
            tap = samples.SampleTap(chunk.stored_length)
            with open(path, "rb") as handle:  # what the read-back's tap would have seen
                while block := handle.read(4 * 2**20):
                    tap.update(memoryview(block))
        items.append(last_check.Expected(path, f"chunk {chunk.seq}", chunk.stored_length, chunk.stored_blake3, tap))
    return items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--size", type=size, default=size("2GB"))
    parser.add_argument("--chunk", default="256MB")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    work = args.dir
    shutil.rmtree(work, ignore_errors=True)
    (work / "drive").mkdir(parents=True)
    env = {**os.environ, "XDG_CONFIG_HOME": str(work / "config"), "XDG_STATE_HOME": str(work / "state")}
    bundle = work / "bundle.bin"
    with open(bundle, "wb") as out:
        subprocess.run(["head", "-c", str(args.size), "/dev/urandom"], stdout=out, check=True)
    tool = Path(sys.executable).with_name("airgap-transfer")
    drop_caches()
    start = time.monotonic()
    subprocess.run([str(tool), "pack", str(bundle), str(work / "drive"), "--chunk-size", args.chunk, "--no-prompt",
                    "--compress", "none", "-q"], env=env, check=True)
    pack_seconds = time.monotonic() - start
    folder = next((work / "drive").glob("airgap-*"))
    index = Index.from_bytes((folder / "index.agt").read_bytes())
    ring = pipeline.Ring()
    gb = index.bundle_size / 10**9
    print(f"bundle {gb:.2f} GB in {len(index.chunks)} chunks of {args.chunk}; pack --no-readback {pack_seconds:.2f} s")
    for label, sampled, full in (("sampled (default)", True, False), ("full (--full-recheck)", False, True)):
        items = expectations(folder, index, sampled)
        times, read = [], 0
        for _ in range(args.runs):
            drop_caches()
            start = time.monotonic()
            outcome = last_check.check_drive(work / "drive", None, items, full, ring, Reporter(None))
            times.append(time.monotonic() - start)
            read = outcome.bytes_read
        median = statistics.median(times)
        print(f"{label:24} {median:8.3f} s  {median / gb:8.3f} s/GB  {read / 2**20:10.1f} MiB read  "
              f"{100 * median / pack_seconds:6.1f} % of the pack")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
