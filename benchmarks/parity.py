#!/usr/bin/env python3
"""What --parity costs: pack with and without it, unpack complete and with a drive missing.

    python3 benchmarks/parity.py --make slow --count 4 --size 400MB --drive-size 160MB
    python3 benchmarks/parity.py --make tmpfs --count 4 --size 1GB --drive-size 400MB

Makes COUNT data drives and one more for parity (root; ``slow`` drives are
stand-in sticks from slowdrive.py, tmpfs behind FUSE at a stick's speed).
Each round, with the source evicted from the page cache and the drives
emptied: pack onto the COUNT data drives, then pack with ``--parity 1`` onto
them and the parity drive; unpack with every drive present, then without the
first data drive (its chunks rebuilt from parity).  Prints median wall times,
the ratios the issue sets targets for (pack <= 1.3x, unpack with one drive
missing <= 1.5x), peak RSS of every run, and the encode and rebuild
throughput of the parity code alone on this machine.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from parallel_drives import empty, evict, make_drive, make_source

from airgap_transfer.cli.sizes import parse_size
from airgap_transfer.engine.parity import codec


def timed(command: list[str], env: dict) -> tuple[float, int]:
    start = time.monotonic()
    run = subprocess.run(["/usr/bin/time", "-f", "%M", *command], capture_output=True, text=True, env=env)
    elapsed = time.monotonic() - start
    if run.returncode != 0:
        raise SystemExit(f"{' '.join(command[:2])} failed ({run.returncode}): {run.stderr.strip()[-2000:]}")
    return elapsed, int(run.stderr.strip().splitlines()[-1]) * 1024


def codec_throughput(k: int, m: int, shard: int) -> tuple[float, float]:
    """(encode, rebuild one lost shard) in bytes of data per second, in memory."""
    data = [os.urandom(shard) for _ in range(k)]
    outs = [io.BytesIO() for _ in range(m)]
    start = time.perf_counter()
    codec.encode([codec.ShardIn(io.BytesIO(d).readinto, shard) for d in data], m, shard, [o.write for o in outs])
    encode = k * shard / (time.perf_counter() - start)
    shards = data + [o.getvalue() for o in outs]
    available = list(range(1, k + 1))
    start = time.perf_counter()
    codec.rebuild(k, m, available, [codec.ShardIn(io.BytesIO(shards[a]).readinto, shard) for a in available],
                  [0], shard, [lambda view: None])
    rebuild = shard / (time.perf_counter() - start)
    return encode, rebuild


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="400MB")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--make", choices=["tmpfs", "slow", "ext4", "exfat"], default="slow")
    parser.add_argument("--count", type=int, default=4, help="data drives (default 4)")
    parser.add_argument("--drive-size", default=None, help="each drive (default: the bundle's size / count + 30%%)")
    parser.add_argument("--write-rate", type=float, default=30)
    parser.add_argument("--read-rate", type=float, default=90)
    parser.add_argument("--chunk-size", default="32MB")
    parser.add_argument("--scratch", type=Path, default=Path("/var/tmp"))
    parser.add_argument("--readback", action="store_true", help="keep read-back on (default --no-readback)")
    args = parser.parse_args()
    size = parse_size(args.size)
    drive_size = parse_size(args.drive_size) if args.drive_size else int(size / args.count * 1.3) + 8 * 2**20
    times: dict[str, list[tuple[float, int]]] = {k: [] for k in
                                                 ("pack", "pack --parity 1", "unpack", "unpack, one drive missing")}
    with tempfile.TemporaryDirectory(dir=args.scratch, prefix="agt-parity-") as scratch, ExitStack() as stack:
        scratch = Path(scratch)
        drives = [make_drive(args.make, drive_size, scratch, n + 1, stack, (args.write_rate, args.read_rate))
                  for n in range(args.count + 1)]
        data, parity = drives[:-1], drives[-1]
        source = scratch / "bundle.bin"
        make_source(source, size)
        env = {**os.environ, "XDG_CONFIG_HOME": str(scratch / "config"), "XDG_STATE_HOME": str(scratch / "state")}
        subprocess.run(["airgap-transfer", "keygen", "--quiet"], check=True, env=env, capture_output=True)
        pub = scratch / "config" / "airgap-transfer" / "signing.pub"
        common = ["--no-prompt", "--compress", "none", "--quiet", "--chunk-size", args.chunk_size]
        common += [] if args.readback else ["--no-readback"]
        out = scratch / "out"
        for _ in range(args.runs):
            empty(drives)
            evict(source)
            times["pack"].append(timed(["airgap-transfer", "pack", str(source), *map(str, data), *common], env))
            empty(drives)
            evict(source)
            times["pack --parity 1"].append(timed(["airgap-transfer", "pack", str(source), *map(str, drives),
                                                   *common, "--parity", "1"], env))
            for name, sources in (("unpack", drives), ("unpack, one drive missing", drives[1:])):
                shutil.rmtree(out, ignore_errors=True)
                os.sync()
                times[name].append(timed(["airgap-transfer", "unpack", *map(str, sources), str(out), "--trust",
                                          str(pub), "--no-prompt", "--quiet", "--no-sha256"], env))
        empty(drives)
    what = f"{args.make} x{args.count} + 1" + (f" ({args.write_rate:g} MB/s write, {args.read_rate:g} MB/s read)"
                                               if args.make == "slow" else "")
    print(f"{size} random bytes, chunks of {args.chunk_size}, onto {what}, "
          f"{'with' if args.readback else 'without'} read-back, median of {args.runs}")
    medians = {}
    for name, runs in times.items():
        medians[name] = statistics.median(t for t, _ in runs)
        print(f"  {name:26} {medians[name]:7.2f} s  {size / medians[name] / 1e6:7.1f} MB/s  "
              f"peak RSS {max(r for _, r in runs) / 2**20:5.1f} MiB")
    print(f"  pack with parity / without         = {medians['pack --parity 1'] / medians['pack']:.2f} (target <= 1.3)")
    print(f"  unpack one drive missing / complete = "
          f"{medians['unpack, one drive missing'] / medians['unpack']:.2f} (target <= 1.5)")
    for k, m in ((4, 1), (4, 2), (10, 4)):
        encode, rebuild = codec_throughput(k, m, 16 * 2**20)
        print(f"  parity code k={k} m={m}: encode {encode / 1e6:6.0f} MB/s of data, "
              f"rebuild one shard {rebuild / 1e6:6.0f} MB/s")


if __name__ == "__main__":
    sys.exit(main())
