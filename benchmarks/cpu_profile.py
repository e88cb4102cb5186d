#!/usr/bin/env python3
"""Where the CPU time of pack and unpack goes, beside cp and cat, by kind of work.

    sudo python3 benchmarks/cpu_profile.py --dir /var/tmp --size 1GB --out benchmarks/profile-2vcpu.txt

Each command runs once under `perf record -e cpu-clock -F 1000` (a sample is one
millisecond of CPU on some thread, user or kernel), with the same setup as
at_scale.py's disk section: a random file on a real disk, `--chunk-size` chunks,
`--compress none`, cached pages evicted before each command.  Samples are grouped
by what the code does (BLAKE3, SHA-256, the kernel copying to or from user space,
the rest of the kernel, the interpreter), in CPU seconds per GB.  Wall times
are at_scale.py's (perf record ends on a whole second).

This is the profile behind the README's account of the disk targets that are
missed: which part of the tool's time is work `cp` and `cat` do not do at all
(hashing, bringing bytes into user space) and which is the disk.  at_scale.py
runs it as its last section when perf is installed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench import evict, make_random, parse_size

GB = 10**9

# (label, test on (shared object, symbol)); the first that matches takes the sample.
KINDS: list[tuple[str, Callable[[str, str], bool]]] = [
    ("BLAKE3", lambda dso, sym: "blake3" in dso or "blake3" in sym),
    # unpack's only use of OpenSSL's libcrypto (through hashlib) is SHA-256; its symbols are stripped
    ("SHA-256", lambda dso, sym: "sha256" in sym.lower() or "libcrypto" in dso),
    ("kernel: copy out to user space (read)",
     lambda dso, sym: sym in ("_copy_to_iter", "copy_page_to_iter", "copyout", "_copy_to_user")),
    ("kernel: copy into the page cache (write)",
     lambda dso, sym: sym in ("copy_folio_from_iter_atomic", "copy_page_from_iter_atomic", "_copy_from_iter",
                              "copyin", "_copy_from_user")),
    ("kernel: copy page to page (copy_file_range)",
     lambda dso, sym: dso.startswith("[kernel") and sym in ("copy_page", "memcpy_orig", "memcpy", "__memcpy",
                                                             "__pi_memcpy")),
    ("kernel: the rest (fs, block, scheduler)", lambda dso, sym: dso.startswith("[kernel")),
    ("Python and the tool", lambda dso, sym: "python" in dso.lower() or dso.endswith(".py")),
    ("other user space", lambda dso, sym: True),
]


def kind_of(dso: str, sym: str) -> str:
    return next(label for label, test in KINDS if test(dso, sym))


def samples_by_kind(data: Path) -> Counter[str]:
    report = subprocess.run(["perf", "report", "-i", str(data), "--stdio", "--no-children", "-g", "none",
                             "--sort", "dso,sym", "-F", "sample,dso,sym", "-t", "|"],
                            capture_output=True, text=True, check=True).stdout
    counts: Counter[str] = Counter()
    for line in report.splitlines():
        fields = [f.strip() for f in line.split("|")]
        if line.startswith("#") or len(fields) < 3 or not fields[0].isdigit():
            continue
        symbol = fields[2].split("] ", 1)[-1]
        counts[kind_of(fields[1], symbol)] += int(fields[0])
    return counts


def profiled(command: str, env: dict[str, str], work: Path) -> Counter[str]:
    """CPU milliseconds by kind of work in one run of ``command``.

    No wall time: perf record itself stops only on a whole second (a 1.1 s
    command takes 2.1 s under it); at_scale.py's disk section times the same
    commands without it.
    """
    data = work / "perf.data"
    subprocess.run(["perf", "record", "-q", "-e", "cpu-clock", "-F", "1000", "-o", str(data), "--",
                    "bash", "-c", "set -eo pipefail; " + command], env=env, check=True, capture_output=True)
    try:
        return samples_by_kind(data)
    finally:
        data.unlink()


def fresh(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def section(say: Callable[[str], None], tool: str, trust: str, env: dict[str, str], work: Path,
            size: int, chunk: str) -> None:
    if shutil.which("perf") is None:
        say("6. profile: skipped, perf is not installed (apt-get install linux-perf)")
        return
    source, packed, dest, out = work / "profile.bin", fresh(work / "ppacked"), work / "pdest", work / "pout"
    make_random(source, size)
    pack = f"{tool} pack {source} {{dest}} -q --no-prompt --chunk-size {chunk} --compress none"
    subprocess.run(["bash", "-c", pack.format(dest=packed)], env=env, check=True, capture_output=True)
    chunks = " ".join(sorted(str(p) for p in packed.glob("airgap-*/*.chunk")))
    steps = [   # (column, cached pages to evict, folder to empty, command)
        ("cp+sync", source, dest, f"cp {source} {dest}/x && sync {dest}/x"),
        ("pack -R", source, dest, pack.format(dest=dest) + " --no-readback"),
        ("pack", source, dest, pack.format(dest=dest)),
        ("cat+sync", packed, out, f"cat {chunks} > {out}/x && sync {out}/x"),
        ("unpack", packed, out, f"{tool} unpack {packed} {out} -q --no-prompt {trust}"),
        ("unpack -S", packed, out, f"{tool} unpack {packed} {out} -q --no-prompt --no-sha256 {trust}"),
    ]
    say(f"6. profile: CPU seconds per GB by kind of work, one run each under perf record -e cpu-clock -F 1000; "
        f"random {size / GB:g} GB, --chunk-size {chunk}, {os.cpu_count()} CPUs; "
        f"-R is --no-readback, -S is --no-sha256")
    results = []
    for label, cold, target, command in steps:
        fresh(target)
        evict(cold)
        os.sync()
        results.append((label, profiled(command, env, work)))
    say(f"  {'':<44}" + "".join(f"{label:>11}" for label, _ in results))
    per_gb = GB / size
    say(f"  {'CPU s/GB, all threads':<44}" + "".join(f"{sum(c.values()) / 1000 * per_gb:11.2f}"
                                                     for _, c in results))
    for kind, _ in KINDS:
        say(f"  {kind:<44}" + "".join(f"{c[kind] / 1000 * per_gb:11.2f}" for _, c in results))
    for path in (packed, dest, out):
        shutil.rmtree(path, ignore_errors=True)
    source.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=Path("/var/tmp"), help="on a real disk (default /var/tmp)")
    parser.add_argument("--size", default="1GB")
    parser.add_argument("--chunk-size", default="250MB")
    parser.add_argument("--out", type=Path, help="also write the results here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="agt-profile-", dir=args.dir) as folder, \
            open(args.out or os.devnull, "w") as out:
        work = Path(folder)
        home = work / "home"
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env.update(XDG_CONFIG_HOME=str(home / "config"), XDG_STATE_HOME=str(home / "state"))
        tool = shutil.which("airgap-transfer") or f"{sys.executable} -m airgap_transfer"
        subprocess.run(["bash", "-c", f"{tool} keygen --no-passphrase -q"], env=env, check=True)

        def say(text: str) -> None:
            print(text, flush=True)
            out.write(text + "\n")

        section(say, tool, f"--trust {home / 'config' / 'airgap-transfer' / 'signing.pub'}", env, work,
                parse_size(args.size), args.chunk_size)


if __name__ == "__main__":
    main()
