#!/usr/bin/env python3
"""Every figure of "At the speed of the medium, at any scale", in one run.

    sudo python3 benchmarks/at_scale.py --dir /var/tmp --size 1GB --runs 3 --out benchmarks/results-at-scale.txt

1. disk     pack/unpack of a random file against cp + sync, cat + sync, b3sum and
            split + sha256sum on the same disk, runs alternating, caches evicted
            before each; wall time (median), CPU seconds per GB (user, system), peak RSS
2. growth   pack and unpack of a --growth file (8 GB): peak RSS flat in size
3. sticks   slowdrive.py stand-ins (30 MB/s write, 90 MB/s read): cp + sync to one
            stick, pack with and without read-back to it, pack to three at once
4. chunks   10^3, 10^4, 10^5 chunks of 4 KiB: pack, status, verify, unpack, report
            (drive, output and state on tmpfs: the tool's cost per chunk, not the
            disk's fsync latency); time, CPU and peak RSS, growth 10^4 -> 10^5
5. plans    pack --dry-run of a 2 TB bundle onto 16 drives of 128 GB (FAT32); the
            signed index of a 2 TB transfer on FAT32; 8 drives written at once
6. profile  the disk section's commands once each under perf: CPU seconds per GB
            by kind of work (hashing, copies in and out of user space, the rest
            of the kernel, Python), the profile behind the disk ratios (cpu_profile.py)

Needs root (tmpfs, FUSE), /usr/bin/time, b3sum, split, sha256sum, for sticks
fusepy + libfuse2, and for the profile perf (linux-perf).  Every command is a child under GNU time (wall, user, system,
peak RSS of that command alone).  Everything lives below one temporary folder in
--dir (a real disk, not tmpfs) and is removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench import evict, make_random, parse_size  # noqa: E402
import cpu_profile  # noqa: E402
from parallel_drives import make_drive  # noqa: E402

GB = 10**9
KIB = 1024


@dataclass
class Timing:
    wall: list[float] = field(default_factory=list)
    user: list[float] = field(default_factory=list)
    system: list[float] = field(default_factory=list)
    rss_kib: list[int] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.wall)

    def cpu_per_gb(self, size: int) -> tuple[float, float]:
        return statistics.median(self.user) * GB / size, statistics.median(self.system) * GB / size

    @property
    def peak_mib(self) -> float:
        return max(self.rss_kib) / KIB


class Runner:
    def __init__(self, work: Path, out) -> None:
        self.work, self.out = work, out
        home = work / "home"
        # As a pip-installed tool runs: from compiled bytecode (an editable install under
        # PYTHONDONTWRITEBYTECODE would compile every module on every command, ~0.3 s each time).
        inherited = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        self.env = {**inherited, "XDG_CONFIG_HOME": str(home / "config"), "XDG_STATE_HOME": str(home / "state")}
        self.tool = shutil.which("airgap-transfer") or f"{sys.executable} -m airgap_transfer"
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(Path(__file__).parent.parent / "airgap_transfer")],
                       env=self.env, check=False, capture_output=True)
        self.run(f"{self.tool} keygen --no-passphrase -q")
        self.trust = f"--trust {home / 'config' / 'airgap-transfer' / 'signing.pub'}"

    def say(self, text: str = "") -> None:
        print(text, flush=True)
        self.out.write(text + "\n")
        self.out.flush()

    def run(self, command: str, env: dict | None = None) -> str:
        proc = subprocess.run(["bash", "-c", "set -eo pipefail; " + command], env=env or self.env,
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"failed ({proc.returncode}): {command}\n{proc.stderr}")
        return proc.stdout

    def timed(self, command: str, into: Timing, env: dict | None = None) -> str:
        report = self.work / "time.out"
        proc = subprocess.run(["/usr/bin/time", "-f", "%e %U %S %M", "-o", str(report),
                               "bash", "-c", "set -eo pipefail; " + command],
                              env=env or self.env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"failed ({proc.returncode}): {command}\n{proc.stderr}")
        wall, user, system, rss = report.read_text().split()[-4:]
        into.wall.append(float(wall))
        into.user.append(float(user))
        into.system.append(float(system))
        into.rss_kib.append(int(rss))
        return proc.stdout


def fresh(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def ratio_line(r: Runner, label: str, value: float, target: str | None) -> None:
    verdict = ""
    if target:
        limit = float(target.split()[-1])
        verdict = "  met" if value <= limit else f"  MISSED by {(value / limit - 1) * 100:.0f}%"
    r.say(f"  {label:<52} {value:6.2f}x   target {target or '-':<8}{verdict}")


def timing_line(r: Runner, label: str, t: Timing, size: int) -> None:
    user, system = t.cpu_per_gb(size)
    r.say(f"  {label:<34} {t.median:7.2f} s  CPU/GB user {user:5.2f} s sys {system:5.2f} s  "
          f"peak RSS {t.peak_mib:6.1f} MiB   runs {', '.join(f'{w:.2f}' for w in t.wall)}")


# 1 + 2 ------------------------------------------------------------------------------------------

def disk(r: Runner, work: Path, size: int, runs: int, chunk: str) -> None:
    source = work / "source.bin"
    make_random(source, size)
    dest, out, split_dir, packed = work / "dest", work / "out", work / "split", work / "packed"
    fresh(packed)
    r.run(f"{r.tool} pack {source} {packed} -q --no-prompt --chunk-size {chunk} --compress none")
    chunks = " ".join(sorted(str(p) for p in packed.glob("airgap-*/*.chunk")))
    steps = [
        ("cp + sync", lambda: fresh(dest), source, f"cp {source} {dest}/x && sync {dest}/x"),
        ("b3sum (hash only)", lambda: None, source, f"b3sum --no-names {source} >/dev/null"),
        ("split + sha256sum + sync", lambda: fresh(split_dir), source,
         f"cd {split_dir} && split -b {chunk} {source} part. && sha256sum part.* > SHA256SUMS && sync part.* SHA256SUMS"),
        ("pack --no-readback", lambda: fresh(dest), source,
         f"{r.tool} pack {source} {dest} -q --no-prompt --no-readback --chunk-size {chunk} --compress none"),
        ("pack (read-back)", lambda: fresh(dest), source,
         f"{r.tool} pack {source} {dest} -q --no-prompt --chunk-size {chunk} --compress none"),
        ("cat chunks > out + sync", lambda: fresh(out), packed, f"cat {chunks} > {out}/x && sync {out}/x"),
        ("unpack", lambda: fresh(out), packed, f"{r.tool} unpack {packed} {out} -q --no-prompt {r.trust}"),
        ("unpack --no-sha256", lambda: fresh(out), packed,
         f"{r.tool} unpack {packed} {out} -q --no-prompt --no-sha256 {r.trust}"),
    ]
    timings = {label: Timing() for label, *_ in steps}
    for _ in range(runs):   # alternating: every command once per round, so drift hits all alike
        for label, setup, cold, command in steps:
            setup()
            evict(cold)
            os.sync()
            r.timed(command, timings[label])
    r.say(f"1. disk: random {size / GB:g} GB, --chunk-size {chunk}, median of {runs} alternating runs")
    for label, *_ in steps:
        timing_line(r, label, timings[label], size)
    cp, cat = timings["cp + sync"].median, timings["cat chunks > out + sync"].median
    ratio_line(r, "pack --no-readback / cp+sync", timings["pack --no-readback"].median / cp, "<= 1.10")
    ratio_line(r, "pack (read-back) / cp+sync", timings["pack (read-back)"].median / cp, "<= 1.40")
    ratio_line(r, "unpack / cat+sync (SHA-256 of the whole too)", timings["unpack"].median / cat, "<= 1.10")
    ratio_line(r, "unpack --no-sha256 / cat+sync", timings["unpack --no-sha256"].median / cat, "<= 1.10")
    ratio_line(r, "pack (read-back) / split+sha256sum+sync",
               timings["pack (read-back)"].median / timings["split + sha256sum + sync"].median, "<= 1.00")
    for label in ("pack --no-readback", "pack (read-back)", "unpack"):
        ratio_line(r, f"{label} CPU (user+sys) / b3sum CPU",
                   (statistics.median(timings[label].user) + statistics.median(timings[label].system))
                   / max(0.01, statistics.median(timings["b3sum (hash only)"].user)
                         + statistics.median(timings["b3sum (hash only)"].system)), None)
    for path in (dest, out, split_dir, packed):
        shutil.rmtree(path, ignore_errors=True)
    source.unlink()


def growth(r: Runner, work: Path, sizes: list[int], chunk: str) -> None:
    r.say(f"2. growth: peak RSS as the bundle grows (--chunk-size {chunk}), one run each")
    for size in sizes:
        source, dest, out = work / "grow.bin", fresh(work / "gdest"), fresh(work / "gout")
        make_random(source, size)
        evict(source)
        packing, unpacking = Timing(), Timing()
        r.timed(f"{r.tool} pack {source} {dest} -q --no-prompt --chunk-size {chunk} --compress none", packing)
        source.unlink()
        evict(dest)
        r.timed(f"{r.tool} unpack {dest} {out} -q --no-prompt {r.trust}", unpacking)
        timing_line(r, f"pack {size / GB:g} GB", packing, size)
        timing_line(r, f"unpack {size / GB:g} GB", unpacking, size)
        shutil.rmtree(dest)
        shutil.rmtree(out)
    r.say("  target: peak RSS <= 64 MiB, flat in size")


# 3 ----------------------------------------------------------------------------------------------

def sticks(r: Runner, work: Path, size: int, runs: int) -> None:
    source = work / "stick-source.bin"
    make_random(source, size)
    per = -(-size // 3) + 64 * 2**20
    with ExitStack() as stack:
        scratch = fresh(work / "sticks")
        drives = [make_drive("slow", size + 64 * 2**20 if n == 1 else per, scratch, n, stack) for n in (1, 2, 3)]

        def empty() -> None:
            for drive in drives:
                for item in drive.iterdir():
                    shutil.rmtree(item) if item.is_dir() else item.unlink()

        pack = f"{r.tool} pack {source} {{}} -q --no-prompt --compress none"
        steps = [("cp + sync to one stick", f"cp {source} {drives[0]}/x && sync {drives[0]}/x"),
                 ("pack --no-readback, one stick", pack.format(drives[0]) + " --no-readback"),
                 ("pack (read-back), one stick", pack.format(drives[0])),
                 ("pack (read-back), three sticks at once", pack.format(" ".join(map(str, drives))))]
        timings = {label: Timing() for label, _ in steps}
        for _ in range(runs):
            for label, command in steps:
                empty()
                evict(source)
                r.timed(command, timings[label])
    r.say(f"3. sticks: slowdrive stand-ins (30 MB/s write, 90 MB/s read, one clock per stick), "
          f"random {size / 10**6:g} MB, median of {runs} alternating runs")
    for label, _ in steps:
        timing_line(r, label, timings[label], size)
    cp = timings["cp + sync to one stick"].median
    ratio_line(r, "pack (read-back) / cp+sync, one stick (floor 1.33)",
               timings["pack (read-back), one stick"].median / cp, "<= 1.45")
    ratio_line(r, "pack --no-readback / cp+sync, one stick", timings["pack --no-readback, one stick"].median / cp,
               "<= 1.10")
    ratio_line(r, "three sticks at once / one stick (both with read-back)",
               timings["pack (read-back), three sticks at once"].median / timings["pack (read-back), one stick"].median,
               "<= 0.55")
    source.unlink()


# 4 ----------------------------------------------------------------------------------------------

def chunks(r: Runner, work: Path, counts: list[int]) -> None:
    ram = fresh(work / "ram")
    r.run(f"mount -t tmpfs -o size={max(counts) * 4096 * 3 + 512 * 2**20} tmpfs {ram}")
    try:
        env = {**r.env, "XDG_STATE_HOME": str(ram / "state")}
        rows: dict[int, dict[str, Timing]] = {}
        for count in counts:
            source, drive, out = ram / "source.bin", fresh(ram / "drive"), ram / "out"
            make_random(source, count * 4096)
            steps = [("pack", f"{r.tool} pack {source} {drive} -q --no-prompt --chunk-size 4096 --compress none"),
                     ("status", f"{r.tool} status {drive} -q {r.trust}"),
                     ("verify", f"{r.tool} verify {drive} -q {r.trust}"),
                     ("unpack", f"{r.tool} unpack {drive} {out} -q --no-prompt {r.trust}"),
                     ("report", f"{r.tool} report {drive} --format json -o {ram / 'report.json'}")]
            rows[count] = {}
            for label, command in steps:
                rows[count][label] = Timing()
                r.timed(command, rows[count][label], env)
            if r.run(f"cmp {source} {out / 'source.bin'} && echo same").strip() != "same":
                raise SystemExit(f"{count} chunks: unpack gave other bytes")
            log = next(drive.glob("airgap-*")).joinpath("custody.jsonl").read_bytes().split(b"\n")
            rows[count]["_log"] = (len(log) - 1, max(len(line) for line in log))   # type: ignore[assignment]
            shutil.rmtree(drive)
            shutil.rmtree(out)
            shutil.rmtree(ram / "state", ignore_errors=True)
            source.unlink()
    finally:
        subprocess.run(["umount", str(ram)], check=False)
    r.say("4. chunks: 4 KiB chunks, drive/output/state on tmpfs, one run each; wall s / CPU s (user+sys) / peak RSS MiB")
    r.say("  " + f"{'chunks':>8}" + "".join(f"{label:>26}" for label in ("pack", "status", "verify", "unpack", "report"))
          + "   custody log (events, longest line)")
    for count, row in rows.items():
        cells = "".join(f"{t.median:9.2f} /{t.user[0] + t.system[0]:6.2f} /{t.peak_mib:6.1f}"
                        for label, t in row.items() if label != "_log")
        events, longest = row["_log"]  # type: ignore[misc]
        r.say(f"  {count:>8}{cells}   {events} events, {longest} B")
    if 10_000 in rows and 100_000 in rows:
        for label in ("pack", "status", "verify", "unpack", "report"):
            ratio_line(r, f"{label}: time 10^5 / 10^4 chunks", rows[100_000][label].median / rows[10_000][label].median,
                       "<= 15")
        worst = max(rows[100_000][label].peak_mib for label in ("pack", "status", "verify", "unpack", "report"))
        r.say(f"  largest peak RSS at 10^5 chunks: {worst:.1f} MiB   target <= 128 MiB"
              + ("  met" if worst <= 128 else f"  MISSED by {(worst / 128 - 1) * 100:.0f}%"))


# 5 ----------------------------------------------------------------------------------------------

def plans(r: Runner, work: Path) -> None:
    r.say("5. plans")
    big, dest = work / "two-tb.bin", fresh(work / "plan-dest")
    with open(big, "wb") as handle:   # sparse: the plan needs only the size
        handle.truncate(2 * 10**12)
    answer = Timing()
    plan = json.loads(r.timed(f"{r.tool} pack {big} {dest} --dry-run --drive-size 128GB --fs-type vfat "
                              f"--compress none --json", answer).strip().splitlines()[-1])
    big.unlink()
    startup = Timing()
    for _ in range(3):
        r.timed(f"{r.tool} --version", startup)
    drives = plan.get("drives")
    r.say(f"  pack --dry-run, 2 TB onto drives of 128 GB (vfat): {answer.median:.2f} s "
          f"(of which starting Python and the CLI, `--version`: {startup.median:.2f} s), "
          f"{plan.get('chunks')} chunks on {len(drives) if isinstance(drives, list) else drives} drives, "
          f"peak RSS {answer.peak_mib:.1f} MiB   target < 1 s" + ("  met" if answer.median < 1 else "  MISSED"))
    size = r.run(f"{sys.executable} -c \"{INDEX_SIZE}\"").strip()
    r.say(f"  signed index of a 2 TB transfer on FAT32 (4 GiB - 1 chunks, SHA-256 too): {size}   target < 1 MiB")
    share = 100 * 10**6   # each drive gets the same share; only the number of drives changes
    with ExitStack() as stack:
        scratch = fresh(work / "eight")
        drives = [make_drive("tmpfs", share + 32 * 2**20, scratch, n, stack) for n in range(1, 9)]
        for count in (1, 2, 8):
            for drive in drives:
                for item in drive.iterdir():
                    shutil.rmtree(item)
            source = work / "eight.bin"
            make_random(source, count * share)
            t = Timing()
            evict(source)
            r.timed(f"{r.tool} pack {source} {' '.join(map(str, drives[:count]))} -q --no-prompt --compress none "
                    f"--chunk-size {share // 4}", t)
            r.say(f"  pack of {count} x 100 MB onto {count} tmpfs drive(s) at once: {t.median:.2f} s, "
                  f"peak RSS {t.peak_mib:.1f} MiB")
            source.unlink()
    r.say("  target: memory flat however many drives are written at once")


INDEX_SIZE = (
    "from airgap_transfer.format.index import Chunk, Drive, Index; from airgap_transfer.format import layout; "
    "from airgap_transfer import limits; "
    "size = 2 * 10**12; step = limits.FAT32_MAX_FILE; tid = 'ab' * 16; n = -(-size // step); "
    "chunks = [Chunk(i + 1, i * step, min(step, size - i * step), 'c' * 64, layout.chunk_file_name(tid, i + 1), "
    "i // 31 + 1, sha256='d' * 64) for i in range(n)]; "
    "index = Index(tid, 'bundle.tar', size, 'e' * 64, '2026-12-03T05:00:00Z', 'airgap-transfer', '0' * 16, True, "
    "bundle_sha256='f' * 64, chunks=chunks, drives=[Drive(d, label=f'USB{d}') for d in range(1, 17)]); "
    "data = index.to_bytes(); print(f'{len(data)} bytes for {n} chunks ({len(data) / 2**20:.3f} MiB)')"
)


def machine(r: Runner) -> None:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    r.say(f"machine: {os.cpu_count()} CPU ({cpu}), {platform.system()} {platform.release()}, "
          f"Python {platform.python_version()}; load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=Path("/var/tmp"), help="on a real disk (default /var/tmp)")
    parser.add_argument("--size", default="1GB", help="random file for the disk section (default 1GB)")
    parser.add_argument("--chunk-size", default="250MB", help="pack's --chunk-size on the disk (default 250MB)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--growth", default="1GB,8GB", help="sizes for the growth section ('' to skip)")
    parser.add_argument("--stick-size", default="300MB")
    parser.add_argument("--chunks", default="1000,10000,100000", help="chunk counts ('' to skip)")
    parser.add_argument("--skip", default="", help="comma list of sections to skip: disk,growth,sticks,chunks,plans,profile")
    parser.add_argument("--out", type=Path, help="also write the results here")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    with tempfile.TemporaryDirectory(prefix="agt-at-scale-", dir=args.dir) as folder, \
            open(args.out or os.devnull, "w") as out:
        r = Runner(Path(folder), out)
        r.say("airgap-transfer at scale: " + " ".join(sys.argv[1:]))
        machine(r)
        if "disk" not in skip:
            disk(r, Path(folder), parse_size(args.size), args.runs, args.chunk_size)
        if "growth" not in skip and args.growth:
            growth(r, Path(folder), [parse_size(s) for s in args.growth.split(",")], args.chunk_size)
        if "sticks" not in skip:
            sticks(r, Path(folder), parse_size(args.stick_size), args.runs)
        if "chunks" not in skip and args.chunks:
            chunks(r, Path(folder), [int(c) for c in args.chunks.split(",")])
        if "plans" not in skip:
            plans(r, Path(folder))
        if "profile" not in skip:
            cpu_profile.section(r.say, r.tool, r.trust, r.env, Path(folder), parse_size(args.size), args.chunk_size)
        machine(r)


if __name__ == "__main__":
    main()
