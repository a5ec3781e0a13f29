"""Generator benchmark: 1M residents (+ their ID cards) and 10k wanted records.

Run: .venv/bin/python bench/bench_synth.py [--residents N] [--wanted M] [--seed S]
Prints wall time, peak RSS and the files written (into bench/out/synth/, gitignored).
"""

from __future__ import annotations

import argparse
import platform
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from linkage.synth import generate  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--residents", type=int, default=1_000_000)
    ap.add_argument("--wanted", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=20251126)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "synth")
    args = ap.parse_args()

    t0 = time.perf_counter()
    paths = generate(args.residents, args.wanted, args.seed, args.out)
    wall = time.perf_counter() - t0
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB

    print(f"generator: {args.residents:,} residents, {args.wanted:,} wanted, seed {args.seed}")
    print(f"machine: {platform.machine()}, {__import__('os').cpu_count()} cores, Python {platform.python_version()}")
    for name, path in paths.items():
        with open(path, "rb") as f:
            rows = sum(1 for _ in f) - 1
        print(f"  {name:10s} {rows:>10,} rows  {path.stat().st_size / 2**20:8.1f} MiB  {path}")
    print(f"wall time: {wall:.1f} s")
    print(f"peak RSS: {peak_mib:,.0f} MiB")


if __name__ == "__main__":
    main()
