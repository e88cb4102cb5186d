#!/usr/bin/env python3
"""Encrypted pack and unpack against plain ones, in one run, same source, same disk.

    python benchmarks/encryption.py --dir /var/tmp --size 2GB --runs 3
    python benchmarks/encryption.py --size 300MB --runs 3            # a quick look

Rounds alternate plain and encrypted (``--encrypt-to`` one age recipient) so
that a change in the machine's load hits both alike; each timed command is
the installed CLI as a child process, with the source's (or the chunks')
pages evicted first.  Reported: median wall time, peak RSS (GNU time), and
the ratio encrypted / plain (issue 17's target: at most 1.15).  Also a raw
figure for the age layer alone (``engine/crypt`` sealing 256 MiB in memory),
to tell cipher cost from I/O.  Needs ``age-keygen`` and ``/usr/bin/time``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import evict, make_random, parse_size, timed


def tool() -> str:
    script = Path(sys.executable).with_name("airgap-transfer")
    return str(script) if script.is_file() else f"{sys.executable} -m airgap_transfer"


def cipher_rate(megabytes: int = 256) -> float:
    """MB/s of the age writer alone (sealing into a discarding sink), one thread."""
    from airgap_transfer.engine.crypt import age
    from airgap_transfer.engine.crypt.keys import X25519Identity
    recipient = X25519Identity.generate().recipient
    block = memoryview(bytearray(os.urandom(2 * 2**20)))
    start = time.perf_counter()
    sealer = age.Sealer([recipient], lambda view: None)
    for _ in range(megabytes // 2):
        sealer.write(block)
    sealer.finish()
    return megabytes * 2**20 / (time.perf_counter() - start) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", default=tempfile.gettempdir(), help="a folder on the disk to measure")
    parser.add_argument("--size", default="1GB")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--chunk-size", default="256MB")
    parser.add_argument("--readback", action="store_true", help="keep pack's read-back (default: --no-readback)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="agt-enc-bench-", dir=args.dir))
    try:
        env = {**os.environ, "XDG_CONFIG_HOME": str(work / "config"), "XDG_STATE_HOME": str(work / "state")}
        cli = tool()
        key = work / "age.txt"
        subprocess.run(["age-keygen", "-o", str(key)], capture_output=True, check=True)
        recipient = subprocess.run(["age-keygen", "-y", str(key)], capture_output=True, text=True,
                                   check=True).stdout.strip()
        subprocess.run(f"{cli} keygen -q", shell=True, env=env, check=True)
        trust = work / "config" / "airgap-transfer" / "signing.pub"
        source = work / "bundle.bin"
        make_random(source, parse_size(args.size))
        variants = {"plain": "", "encrypted": f"--encrypt-to {recipient}"}
        common = f"--chunk-size {args.chunk_size} --compress none --no-prompt -q" + (
            "" if args.readback else " --no-readback")
        times: dict[str, list[float]] = {f"{op} {v}": [] for op in ("pack", "unpack") for v in variants}
        rss: dict[str, list[int]] = {k: [] for k in times}
        for round_ in range(args.runs):
            order = list(variants) if round_ % 2 == 0 else list(reversed(variants))
            for variant in order:
                dest, out = work / f"dest-{variant}", work / f"out-{variant}"
                shutil.rmtree(dest, ignore_errors=True)
                shutil.rmtree(out, ignore_errors=True)
                shutil.rmtree(work / "state", ignore_errors=True)
                dest.mkdir()
                evict(source)
                seconds, peak = timed(f"{cli} pack {source} {dest} {common} {variants[variant]}", env, work)
                times[f"pack {variant}"].append(seconds)
                rss[f"pack {variant}"].append(peak)
                evict(dest)
                identity = f"--identity {key}" if variant == "encrypted" else ""
                seconds, peak = timed(f"{cli} unpack {dest} {out} --trust {trust} --no-prompt -q {identity}",
                                      env, work)
                times[f"unpack {variant}"].append(seconds)
                rss[f"unpack {variant}"].append(peak)
                shutil.rmtree(out, ignore_errors=True)
        rows = {k: {"median_s": statistics.median(v), "runs_s": v, "peak_rss_mib": max(rss[k]) / 1024}
                for k, v in times.items()}
        result = {"size": parse_size(args.size), "runs": args.runs, "readback": args.readback, "rows": rows,
                  "ratios": {op: rows[f"{op} encrypted"]["median_s"] / rows[f"{op} plain"]["median_s"]
                             for op in ("pack", "unpack")},
                  "age_seal_mb_s": cipher_rate()}
        for label, row in rows.items():
            print(f"{label:18} {row['median_s']:7.2f} s   peak RSS {row['peak_rss_mib']:6.1f} MiB   "
                  f"runs {', '.join(f'{t:.2f}' for t in row['runs_s'])}")
        for op, ratio in result["ratios"].items():
            print(f"{op} encrypted / plain: {ratio:.2f}x")
        print(f"age sealing alone: {result['age_seal_mb_s']:.0f} MB/s (one thread, in memory)")
        if args.json:
            args.json.write_text(json.dumps(result, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
