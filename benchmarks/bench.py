#!/usr/bin/env python3
"""Time airgap-transfer pack/unpack against the tools operators use today.

One run on one machine, same source, same destination disk:

    cp + sync                       what pack must stay within 1.10× of (1.4× with read-back)
    split -b + sha256sum + sync     today's practice; pack must beat it
    split -b + b3sum + sync         the same with a fast hash
    zstd -T0 + sync                 (compressible data) what compression costs elsewhere
    cat chunks > out + sync         what unpack must stay within 1.10× of

Each command is timed as a child process (wall time, peak RSS from wait4),
with the source's pages evicted first so every run reads from the disk, and
the median of ``--runs`` runs is reported.  ``--growth`` then packs and unpacks
growing random files to show how time and memory scale.

Use a folder on a real disk (not tmpfs, which is RAM).  Everything the script
writes lives in one temporary folder below ``--dir`` and is removed at the end.

    python benchmarks/bench.py --dir /var/tmp --sizes 2GB --runs 3 --growth 0.5GB,2GB,8GB
    python benchmarks/bench.py --sizes 200MB --runs 3 --growth ""        # a quick look
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

BLOCK = 8 * 2**20


def parse_size(text: str) -> int:
    units = {"KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}
    text = text.strip().upper()
    for unit, factor in sorted(units.items(), key=lambda item: -len(item[0])):
        if text.endswith(unit):
            return int(float(text[: -len(unit)]) * factor)
    return int(text)


def make_random(path: Path, size: int) -> None:
    with open(path, "wb") as out:
        left = size
        while left:
            n = min(BLOCK, left)
            out.write(os.urandom(n))
            left -= n


def make_compressible(path: Path, size: int) -> None:
    """Log-like text (about 3-5× with zstd -3): random words from a small vocabulary."""
    import random
    rng = random.Random(7)
    words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 10)))
             for _ in range(2000)]
    lines = []
    for n in range(60_000):
        lines.append(f"2026-11-21T22:{n % 60:02d}:{n % 59:02d}Z host{n % 17} "
                     + " ".join(rng.choice(words) for _ in range(rng.randint(4, 14))) + f" id={rng.getrandbits(32)}\n")
    block = "".join(lines).encode()          # ~5 MB, larger than zstd's window at level 3
    with open(path, "wb") as out:
        left, turn = size, 0
        while left:
            piece = (b"# block %d\n" % turn + block)[:left]
            out.write(piece)
            left -= len(piece)
            turn += 1


def evict(path: Path) -> None:
    """Drop a file's clean pages so the next read comes from the disk, not RAM."""
    for item in ([path] if path.is_file() else sorted(path.rglob("*"))):
        if item.is_file():
            fd = os.open(item, os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def timed(command: str, env: dict, scratch: Path) -> tuple[float, int]:
    """(wall seconds, peak RSS in KiB of the command's processes).

    Peak RSS comes from GNU time rather than our own wait4: Linux carries a
    process's RSS high-water mark across fork and exec, so a child forked
    from this (large) Python process would report our size, not its own.
    """
    report = scratch / "time.out"
    start = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", str(report),
                           "bash", "-c", "set -eo pipefail; " + command],
                          env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"benchmark command failed ({proc.returncode}): {command}\n"
                         f"{proc.stderr.decode(errors='replace')}")
    return elapsed, int(report.read_text().split()[-1])


class Bench:
    def __init__(self, work: Path, runs: int, chunk: str, tool: list[str]) -> None:
        self.work, self.runs, self.chunk, self.tool = work, runs, chunk, " ".join(tool)
        home = work / "home"
        self.env = {**os.environ, "XDG_CONFIG_HOME": str(home / "config"),
                    "XDG_STATE_HOME": str(home / "state")}
        subprocess.run(f"{self.tool} keygen --no-passphrase -q", shell=True, env=self.env, check=True)
        self.pub = home / "config" / "airgap-transfer" / "signing.pub"

    def fresh(self, name: str) -> Path:
        folder = self.work / name
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        return folder

    def measure(self, label: str, setup, command) -> dict:
        """Median of self.runs runs; ``setup`` returns the paths ``command`` formats with."""
        times, rss = [], []
        for _ in range(self.runs):
            paths = setup()
            evict(paths["evict"])
            subprocess.run(["sync"], check=True)
            seconds, peak = timed(command.format(**paths), self.env, self.work)
            times.append(seconds)
            rss.append(peak)
        result = {"label": label, "median_s": statistics.median(times), "runs_s": times,
                  "peak_rss_mib": max(rss) / 1024}
        print(f"  {label:<38} {result['median_s']:8.2f} s   peak RSS {result['peak_rss_mib']:7.1f} MiB   "
              f"runs {', '.join(f'{t:.2f}' for t in times)}", flush=True)
        return result

    def pack_dest(self, src: Path) -> dict:
        return {"src": src, "dest": self.fresh("dest"), "evict": src}

    def suite(self, kind: str, src: Path) -> dict:
        tool, chunk = self.tool, self.chunk
        rows = {}
        m = self.measure
        rows["cp+sync"] = m("cp + sync", lambda: self.pack_dest(src), "cp {src} {dest}/x && sync {dest}/x")
        rows["split+sha256sum"] = m("split -b + sha256sum + sync", lambda: self.pack_dest(src),
                                    f"split -b {chunk} {{src}} {{dest}}/part. && sha256sum {{dest}}/part.* > {{dest}}/SHA256SUMS"
                                    " && sync {dest}/part.* {dest}/SHA256SUMS")
        rows["split+b3sum"] = m("split -b + b3sum + sync", lambda: self.pack_dest(src),
                                f"split -b {chunk} {{src}} {{dest}}/part. && b3sum {{dest}}/part.* > {{dest}}/B3SUMS"
                                " && sync {dest}/part.* {dest}/B3SUMS")
        if kind == "compressible":
            rows["zstd"] = m("zstd -T0 + sync", lambda: self.pack_dest(src),
                             "zstd -q -T0 {src} -o {dest}/x.zst && sync {dest}/x.zst")
        compress = "auto"
        rows["pack-noreadback"] = m(f"pack --no-readback (--compress {compress})", lambda: self.pack_dest(src),
                                    f"{tool} pack {{src}} {{dest}} -q --no-prompt --chunk-size {chunk} "
                                    f"--compress {compress} --no-readback")
        rows["pack"] = m(f"pack (read-back, --compress {compress})", lambda: self.pack_dest(src),
                         f"{tool} pack {{src}} {{dest}} -q --no-prompt --chunk-size {chunk} --compress {compress}")
        if kind == "compressible":
            rows["pack-plain"] = m("pack (read-back, --compress none)", lambda: self.pack_dest(src),
                                   f"{tool} pack {{src}} {{dest}} -q --no-prompt --chunk-size {chunk} --compress none")
            # leave a compressed pack in dest for the unpack rows below
            subprocess.run(f"{tool} pack {src} {self.fresh('dest')} -q --no-prompt --chunk-size {chunk} "
                           "--compress zstd", shell=True, env=self.env, check=True)
        dest = self.work / "dest"
        folder = next(dest.glob("airgap-*"))
        chunk_glob = f"{folder}/*.chunk*"

        def unpack_setup() -> dict:
            return {"dest": dest, "out": self.fresh("out"), "evict": dest}

        rows["cat+sync"] = m("zstd -dc chunks > out + sync" if kind == "compressible" else "cat chunks > out + sync",
                             unpack_setup,
                             ("zstd -dcq " if kind == "compressible" else "cat ") + chunk_glob
                             + " > {out}/bundle && sync {out}/bundle")
        rows["unpack"] = m("unpack", unpack_setup,
                           f"{tool} unpack {{dest}} {{out}} -q --no-prompt --trust {self.pub}")
        # unpack computes SHA-256 of the whole for the custody report unless told not to
        rows["unpack-nosha"] = m("unpack --no-sha256", unpack_setup,
                                 f"{tool} unpack {{dest}} {{out}} -q --no-prompt --no-sha256 --trust {self.pub}")
        return rows


def ratios(kind: str, rows: dict) -> dict:
    def r(a: str, b: str) -> float:
        return rows[a]["median_s"] / rows[b]["median_s"]
    out = {
        "pack_noreadback/cp+sync (target <= 1.10)": r("pack-noreadback", "cp+sync"),
        "pack/cp+sync (target <= 1.40)": r("pack", "cp+sync"),
        "pack/split+sha256sum (target < 1)": r("pack", "split+sha256sum"),
        "pack/split+b3sum": r("pack", "split+b3sum"),
        "unpack --no-sha256/cat+sync (target <= 1.10)": r("unpack-nosha", "cat+sync"),
        "unpack (with SHA-256)/cat+sync": r("unpack", "cat+sync"),
    }
    if kind == "compressible":
        out["pack/zstd -T0"] = r("pack", "zstd")
        out["pack --compress none/cp+sync"] = r("pack-plain", "cp+sync")
    return out


def growth(bench: Bench, sizes: list[int]) -> list[dict]:
    rows = []
    for size in sizes:
        src = bench.work / "growth.bin"
        make_random(src, size)
        print(f"\ngrowth: {size / 1e9:g} GB random", flush=True)
        cp = bench.measure("cp + sync", lambda: bench.pack_dest(src), "cp {src} {dest}/x && sync {dest}/x")
        pack = bench.measure("pack (read-back)", lambda: bench.pack_dest(src),
                             f"{bench.tool} pack {{src}} {{dest}} -q --no-prompt --chunk-size {bench.chunk}")
        dest = bench.work / "dest"
        cat = bench.measure("cat chunks > out + sync",
                            lambda: {"dest": dest, "out": bench.fresh("out"), "evict": dest},
                            f"cat {dest}/airgap-*/*.chunk > {{out}}/bundle && sync {{out}}/bundle")
        unpack = bench.measure("unpack", lambda: {"dest": dest, "out": bench.fresh("out"), "evict": dest},
                               f"{bench.tool} unpack {{dest}} {{out}} -q --no-prompt --trust {bench.pub}")
        rows.append({"size": size, "cp_s": cp["median_s"], "cat_s": cat["median_s"], "pack_s": pack["median_s"],
                     "pack_rss_mib": pack["peak_rss_mib"], "unpack_s": unpack["median_s"],
                     "unpack_rss_mib": unpack["peak_rss_mib"]})
        src.unlink()
        shutil.rmtree(bench.work / "dest", ignore_errors=True)
        shutil.rmtree(bench.work / "out", ignore_errors=True)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", default="/var/tmp", help="a folder on the disk to measure (not tmpfs)")
    parser.add_argument("--sizes", default="2GB", help="comma-separated sizes for the comparison run")
    parser.add_argument("--runs", type=int, default=3, help="runs per command; the median is reported")
    parser.add_argument("--growth", default="0.5GB,2GB,8GB", help="sizes for the growth run ('' to skip)")
    parser.add_argument("--growth-runs", type=int, default=1, help="runs per command in the growth run")
    parser.add_argument("--chunk-size", default="1GB", help="chunk size for pack and split")
    parser.add_argument("--kinds", default="random,compressible")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--tool", default=shutil.which("airgap-transfer") or f"{sys.executable} -m airgap_transfer")
    args = parser.parse_args()
    for needed in ("split", "sha256sum", "b3sum", "zstd", "cp", "sync", "/usr/bin/time"):
        if not shutil.which(needed):
            raise SystemExit(f"needs {needed} on PATH")
    work = Path(tempfile.mkdtemp(prefix="agt-bench-", dir=args.dir))
    results: dict = {"command": " ".join(sys.argv), "cpus": os.cpu_count(), "runs": args.runs,
                     "load_before": os.getloadavg(), "suites": {}}
    try:
        bench = Bench(work, args.runs, args.chunk_size, args.tool.split())
        for size_text in filter(None, args.sizes.split(",")):
            size = parse_size(size_text)
            for kind in filter(None, args.kinds.split(",")):
                src = work / f"{kind}.bin"
                (make_random if kind == "random" else make_compressible)(src, size)
                print(f"\n{kind}, {size / 1e9:g} GB, median of {args.runs}", flush=True)
                rows = bench.suite(kind, src)
                table = ratios(kind, rows)
                for name, value in table.items():
                    print(f"  {name:<44} {value:6.2f}x")
                results["suites"][f"{kind}-{size_text}"] = {"rows": rows, "ratios": table}
                src.unlink()
        bench.runs = args.growth_runs
        growth_sizes = [parse_size(s) for s in filter(None, args.growth.split(","))]
        if growth_sizes:
            results["growth"] = growth(bench, growth_sizes)
            print("\n  size GB   cp s   pack s  pack/cp  pack RSS MiB   cat s  unpack s  unpack/cat  unpack RSS MiB")
            for row in results["growth"]:
                print(f"  {row['size'] / 1e9:7g} {row['cp_s']:6.2f} {row['pack_s']:8.2f} {row['pack_s'] / row['cp_s']:7.2f}x"
                      f" {row['pack_rss_mib']:13.1f} {row['cat_s']:7.2f} {row['unpack_s']:9.2f}"
                      f" {row['unpack_s'] / row['cat_s']:10.2f}x {row['unpack_rss_mib']:15.1f}")
        results["load_after"] = os.getloadavg()
        print(f"\nload average before {results['load_before']}, after {results['load_after']}")
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
