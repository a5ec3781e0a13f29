"""End-to-end benchmark of `linkage run` (ingest to Parquet, training included) on generated data.

    .venv/bin/python bench/bench_run.py --residents 1000000 --wanted 10000 --seed 7

Generates the data into bench/out/gen_<residents>_<wanted>_<seed>/ unless it is there, runs
`linkage run --train` in a child process (wall time and peak RSS of that process), then evaluates
against the truth at the rules' threshold and at a few others. Prints everything; writes a JSON
summary next to the run's outputs.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from linkage.evaluate import evaluate  # noqa: E402
from linkage.settings import load_settings  # noqa: E402

LINKAGE = ROOT / ".venv" / "bin" / "linkage"


def tree_rss(pid: int) -> int:
    """RSS in KiB of a process and all its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            status = (d / "status").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(d.name))
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                rss[int(d.name)] = int(line.split()[1])
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0)
        todo.extend(children.get(p, []))
    return total


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--residents", type=int, default=1_000_000)
    ap.add_argument("--wanted", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    ap.add_argument("--rules", type=Path, default=None, help="a rules directory (default: the project's)")
    ap.add_argument("--tag", default="", help="suffix of the run folder (to keep runs with other rules apart)")
    args = ap.parse_args()

    data = args.out / f"gen_{args.residents}_{args.wanted}_{args.seed}"
    if not (data / "truth.csv").is_file():
        t0 = time.perf_counter()
        subprocess.run([str(LINKAGE), "synth", "--residents", str(args.residents), "--wanted", str(args.wanted),
                        "--seed", str(args.seed), "--out", str(data)], check=True)
        print(f"generated {data} in {time.perf_counter() - t0:.1f} s")
    run_dir = args.out / f"run_{args.residents}_{args.wanted}_{args.seed}{args.tag}"
    cmd = [str(LINKAGE), "run", "--wanted", str(data / "wanted.csv"), "--residents", str(data / "residents.csv"),
           "--id-cards", str(data / "id_cards.csv"), "--out", str(run_dir), "--train"] + (["--rules", str(args.rules)] if args.rules else [])
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    tree_peak = 0
    while proc.poll() is None:
        tree_peak = max(tree_peak, tree_rss(proc.pid))
        time.sleep(0.2)
    _, stderr = proc.communicate()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        print(stderr[-3000:])
        raise SystemExit(proc.returncode)
    peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 / 1024
    tree_gb = tree_peak / 1024 / 1024
    manifest = json.loads((run_dir / "manifest.json").read_text())
    threshold = load_settings(args.rules).threshold
    ev = evaluate(data / "truth.csv", run_dir / "matches.parquet", threshold)
    sweep = {t: evaluate(data / "truth.csv", run_dir / "matches.parquet", t).summary() for t in (0.5, 0.8, 0.9, 0.95)}

    print(f"command: {' '.join(cmd)}")
    print(f"wall {wall:.1f} s, peak RSS {peak_gb:.2f} GiB (largest process), "
          f"{tree_gb:.2f} GiB (the run and its workers together, sampled every 0.2 s)")
    print("stage timings (s):", manifest["timings_s"])
    print(f"candidate pairs {manifest['counts']['candidate_pairs']:,}")
    print(ev.render())
    print("\nthreshold sweep:")
    for t, s in sweep.items():
        print(f"  {t:<5} precision {s['precision']:.4f} recall {s['recall']:.4f} F1 {s['f1']:.4f} "
              f"false alarms on absent {s['false_alarms_on_absent']}/{s['absent_wanted']}")
    summary = {
        "residents": args.residents, "wanted": args.wanted, "seed": args.seed, "wall_s": round(wall, 1),
        "peak_rss_gib": round(peak_gb, 2), "peak_rss_tree_gib": round(tree_gb, 2), "timings_s": manifest["timings_s"],
        "candidate_pairs": manifest["counts"]["candidate_pairs"], "evaluation": ev.summary(),
        "by_scenario": ev.by_scenario.to_dict(orient="records"), "sweep": sweep,
    }
    (run_dir / "bench_summary.json").write_text(json.dumps(summary, indent=2, default=str))


if __name__ == "__main__":
    main()
