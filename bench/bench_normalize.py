"""Normalise every field of generated residents (names, parents, dates, four places, ids, gender,
ethnicity) with the same `normalize_table` the pipeline uses.

    .venv/bin/python bench/bench_normalize.py [--residents 1000000] [--seed 7]

Reads bench/out/gen_<N>_10000_<seed>/residents.csv (generated if missing), times the
normalisation alone (reading is not counted) and reports the process's peak RSS.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from linkage.ingest import read_source  # noqa: E402
from linkage.normalize.table import normalize_table  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--residents", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    data = ROOT / "bench" / "out" / f"gen_{args.residents}_10000_{args.seed}"
    if not (data / "residents.csv").is_file():
        subprocess.run([str(ROOT / ".venv/bin/linkage"), "synth", "--residents", str(args.residents),
                        "--wanted", "10000", "--seed", str(args.seed), "--out", str(data)], check=True)
    accepted, _, report = read_source(data / "residents.csv", "residents")
    frame = accepted.to_pandas()
    del accepted
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024
    t0 = time.perf_counter()
    out = normalize_table(frame, "residents")
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024
    print(f"residents: {len(frame):,} rows, {len(out.columns)} columns out")
    print(f"normalise all fields: {seconds:.1f} s ({len(frame) / seconds:,.0f} rows/s)")
    print(f"peak RSS {peak:.2f} GiB (after reading the file: {rss_before:.2f} GiB)")
    resolved = out["permanent_address_ward_code_2025"].notna().mean()
    print(f"permanent address resolved to a 2025 ward: {resolved:.3%}")


if __name__ == "__main__":
    main()
