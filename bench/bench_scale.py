"""Time and memory as the register grows: `linkage run --train` at 1M and 5M residents (and 10M
with `--with-10m`), generated data, one size after the other.

    nice -n 5 .venv/bin/python bench/bench_scale.py                 # 1M and 5M, 10k wanted
    nice -n 5 .venv/bin/python bench/bench_scale.py --sizes 1000000 # one size
    nice -n 5 .venv/bin/python bench/bench_scale.py --with-10m      # adds 10M residents, 20k wanted

Each size goes through bench/bench_run.py (generation unless present, the run in a child
process, wall and CPU time, peak RSS of the largest process and of the whole process tree,
the tree's peak per stage, evaluation against the truth). Prints one table; the per-size
summaries stay in bench/out/run_<residents>_<wanted>_<seed><tag>/bench_summary.json, and each
run's workspace.duckdb is removed once measured (`--keep-workspace` keeps them: 9.6 GB at 10M).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"

WANTED = {10_000_000: 20_000}  # the 10M case: 10M residents, 20k wanted


def run_size(residents: int, wanted: int, seed: int, evaluate: bool, extra: list[str], tag: str) -> dict:
    cmd = [str(PYTHON), str(ROOT / "bench" / "bench_run.py"), "--residents", str(residents), "--wanted", str(wanted),
           "--seed", str(seed), "--tag", tag] + ([] if evaluate else ["--no-eval"]) + extra
    subprocess.run(cmd, check=True, stdout=sys.stderr)
    summary = ROOT / "bench" / "out" / f"run_{residents}_{wanted}_{seed}{tag}" / "bench_summary.json"
    return json.loads(summary.read_text())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000000,5000000", help="residents per run, comma-separated")
    ap.add_argument("--with-10m", dest="with_10m", action="store_true", help="add 10,000,000 residents (20k wanted)")
    ap.add_argument("--wanted", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--no-eval", dest="evaluate", action="store_false")
    ap.add_argument("--code", type=Path, default=None, help="another checkout's code (bench_run.py --code)")
    ap.add_argument("--rules", type=Path, default=None, help="a rules directory (bench_run.py --rules)")
    ap.add_argument("--tag", default="_scale", help="suffix of the run folders")
    ap.add_argument("--keep-workspace", dest="keep_workspace", action="store_true",
                    help="keep each run's workspace.duckdb (bench_run.py --keep-workspace)")
    args = ap.parse_args()
    extra = ((["--code", str(args.code)] if args.code else []) + (["--rules", str(args.rules)] if args.rules else [])
             + (["--keep-workspace"] if args.keep_workspace else []))
    sizes = [int(s) for s in args.sizes.split(",") if s]
    if args.with_10m and 10_000_000 not in sizes:
        sizes.append(10_000_000)
    rows = []
    for n in sizes:
        s = run_size(n, WANTED.get(n, args.wanted), args.seed, args.evaluate, extra, args.tag)
        rows.append(s)
        print(f"{n:,} residents done: wall {s['wall_s']} s, tree peak {s['peak_rss_tree_gib']} GiB", file=sys.stderr)
    print("| residents | wanted | candidate pairs | wall s | CPU s | peak RSS largest / tree GiB | load before/after | F1 |")
    print("|---:|---:|---:|---:|---:|---|---|---:|")
    for s in rows:
        f1 = s.get("evaluation", {}).get("f1")
        print(f"| {s['residents']:,} | {s['wanted']:,} | {s['candidate_pairs']:,} | {s['wall_s']} | {s['cpu_s']} | "
              f"{s['peak_rss_gib']} / {s['peak_rss_tree_gib']} | {s['load_avg_before_after'][0]} / "
              f"{s['load_avg_before_after'][1]} | {'' if f1 is None else f'{f1:.4f}'} |")
    for s in rows:
        print(f"{s['residents']:,}: stages (s) {s['timings_s']}; tree peak per stage (GiB) {s['tree_peak_per_stage_gib']}")


if __name__ == "__main__":
    main()
