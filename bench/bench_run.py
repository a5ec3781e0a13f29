"""End-to-end benchmark of `linkage run` (ingest to Parquet, training included) on generated data.

    .venv/bin/python bench/bench_run.py --residents 1000000 --wanted 10000 --seed 7

Generates the data into bench/out/gen_<residents>_<wanted>_<seed>/ unless it is there, runs
`linkage run --train` in a child process (wall time, CPU time of the process tree, peak RSS of
the largest process and of the whole tree, sampled every 0.2 s, and the tree's peak per stage),
then evaluates against the truth at the rules' threshold and at a few others. Prints everything;
writes a JSON summary and the memory timeline (memory.csv) next to the run's outputs.

`--code DIR` runs another checkout's code (a `git archive` of an earlier commit) on the same data,
to compare outputs before and after a change; `--py-spy` records a sampling profile of the run and
its workers (py-spy must be installed; it is a development tool, not a dependency).
"""

from __future__ import annotations

import argparse
import json
import os
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


def linkage_command(code: Path | None) -> list[str]:
    """The `linkage` command of the project, or of another checkout (run with the project's venv)."""
    if code is None:
        return [str(LINKAGE)]
    return [str(ROOT / ".venv" / "bin" / "python"), "-c", "import sys; from cli import app; sys.argv[0] = 'linkage'; app()"]


def stage_peaks(timeline: list[tuple[float, int]], timings: dict[str, float], wall: float) -> dict[str, int]:
    """The tree's peak RSS (KiB) within each stage, placing the stages back to back from the
    start of the run (interpreter start-up is counted in the first stage)."""
    bounds, t = [], 0.0
    stages = [(k, v) for k, v in timings.items() if k != "total"]
    start_gap = max(wall - timings.get("total", wall) - timings.get("report", 0.0), 0.0)
    for i, (name, seconds) in enumerate(stages):
        lo = t if i else 0.0
        t = (t if i else start_gap) + seconds
        bounds.append((name, lo, t))
    return {name: max((r for s, r in timeline if lo <= s < hi), default=0) for name, lo, hi in bounds}


def profile_summary(path: Path, top: int = 25) -> str:
    """py-spy's raw stacks folded into what to look at: samples per process, the functions where
    the samples were taken (self), and our functions with what they call (inclusive)."""
    self_n: dict[str, int] = {}
    incl: dict[str, int] = {}
    procs: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        total += n
        heads = [f for f in frames if f.startswith("process ")]
        if heads:  # the innermost process: the run itself or one of its workers
            kind = "worker processes" if "multiprocessing" in heads[-1] else "the run's main process"
            procs[kind] = procs.get(kind, 0) + n
            frames = frames[len(heads):]
        if frames:
            self_n[frames[-1]] = self_n.get(frames[-1], 0) + n
        for f in set(frames):
            if "linkage/" in f or "cli.py" in f:
                incl[f] = incl.get(f, 0) + n
    lines = [f"{total:,} samples"]
    lines += [f"  {n / total:6.1%}  {p}" for p, n in sorted(procs.items(), key=lambda x: -x[1])]
    lines.append("self:")
    lines += [f"  {n / total:6.1%}  {f}" for f, n in sorted(self_n.items(), key=lambda x: -x[1])[:top]]
    lines.append("inclusive (our functions):")
    lines += [f"  {n / total:6.1%}  {f}" for f, n in sorted(incl.items(), key=lambda x: -x[1])[:top * 2]]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--residents", type=int, default=1_000_000)
    ap.add_argument("--wanted", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    ap.add_argument("--rules", type=Path, default=None, help="a rules directory (default: the project's)")
    ap.add_argument("--tag", default="", help="suffix of the run folder (to keep runs with other rules apart)")
    ap.add_argument("--code", type=Path, default=None, help="run the code of this checkout instead of the project's")
    ap.add_argument("--py-spy", dest="py_spy", action="store_true", help="record a py-spy profile (profile.txt)")
    ap.add_argument("--no-eval", dest="evaluate", action="store_false", help="skip the evaluation")
    ap.add_argument("--keep-workspace", dest="keep_workspace", action="store_true",
                    help="keep the run's workspace.duckdb (9.6 GB at 10M residents; removed once measured by default)")
    args = ap.parse_args()

    data = args.out / f"gen_{args.residents}_{args.wanted}_{args.seed}"
    if not (data / "truth.csv").is_file():
        t0 = time.perf_counter()
        subprocess.run([str(LINKAGE), "synth", "--residents", str(args.residents), "--wanted", str(args.wanted),
                        "--seed", str(args.seed), "--out", str(data)], check=True)
        print(f"generated {data} in {time.perf_counter() - t0:.1f} s")
    run_dir = args.out / f"run_{args.residents}_{args.wanted}_{args.seed}{args.tag}"
    cmd = linkage_command(args.code) + ["run", "--wanted", str(data / "wanted.csv"), "--residents", str(data / "residents.csv"),
           "--id-cards", str(data / "id_cards.csv"), "--out", str(run_dir), "--train"] + (["--rules", str(args.rules)] if args.rules else [])
    env = dict(os.environ)
    if args.code:
        env["PYTHONPATH"] = str(args.code.resolve())
    profile = run_dir.parent / f"{run_dir.name}_profile.txt"
    if args.py_spy:
        cmd = [str(ROOT / ".venv" / "bin" / "py-spy"), "record", "--subprocesses", "--format", "raw", "--rate", "50",
               "--output", str(profile), "--"] + cmd
    load_before = os.getloadavg()
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=args.code.resolve() if args.code else None)  # `python -c` puts the cwd first on sys.path
    timeline: list[tuple[float, int]] = []
    while proc.poll() is None:
        timeline.append((time.perf_counter() - t0, tree_rss(proc.pid)))
        time.sleep(0.2)
    _, stderr = proc.communicate()
    wall = time.perf_counter() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    load_after = os.getloadavg()
    if proc.returncode != 0:
        print(stderr[-3000:])
        raise SystemExit(proc.returncode)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    peak_gb = cpu1.ru_maxrss / 1024 / 1024
    tree_gb = max((r for _, r in timeline), default=0) / 1024 / 1024
    manifest = json.loads((run_dir / "manifest.json").read_text())
    per_stage = stage_peaks(timeline, manifest["timings_s"], wall)
    (run_dir / "memory.csv").write_text("t_s,tree_rss_mib\n" + "".join(f"{t:.1f},{r / 1024:.0f}\n" for t, r in timeline))

    print(f"command: {' '.join(cmd)}")
    print(f"wall {wall:.1f} s, CPU {cpu:.1f} s (user+sys of the run and its workers), peak RSS {peak_gb:.2f} GiB "
          f"(largest process), {tree_gb:.2f} GiB (the run and its workers together, sampled every 0.2 s)")
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} (1 min)")
    print("stage timings (s):", manifest["timings_s"])
    print("tree peak per stage (GiB):", {k: round(v / 1024 / 1024, 2) for k, v in per_stage.items()})
    print(f"candidate pairs {manifest['counts']['candidate_pairs']:,}")
    if args.py_spy:
        print(f"profile: {profile}")
        print(profile_summary(profile))
    summary = {
        "residents": args.residents, "wanted": args.wanted, "seed": args.seed, "wall_s": round(wall, 1),
        "peak_rss_gib": round(peak_gb, 2), "peak_rss_tree_gib": round(tree_gb, 2), "cpu_s": round(cpu, 1),
        "load_avg_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
        "tree_peak_per_stage_gib": {k: round(v / 1024 / 1024, 2) for k, v in per_stage.items()},
        "timings_s": manifest["timings_s"], "candidate_pairs": manifest["counts"]["candidate_pairs"],
    }
    if args.evaluate:
        threshold = load_settings(args.rules).threshold
        ev = evaluate(data / "truth.csv", run_dir / "matches.parquet", threshold)
        sweep = {t: evaluate(data / "truth.csv", run_dir / "matches.parquet", t).summary() for t in (0.5, 0.8, 0.9, 0.95)}
        print(ev.render())
        print("\nthreshold sweep:")
        for t, s in sweep.items():
            print(f"  {t:<5} precision {s['precision']:.4f} recall {s['recall']:.4f} F1 {s['f1']:.4f} "
                  f"false alarms on absent {s['false_alarms_on_absent']}/{s['absent_wanted']}")
        summary.update({"evaluation": ev.summary(), "by_scenario": ev.by_scenario.to_dict(orient="records"),
                        "sweep": sweep})
    (run_dir / "bench_summary.json").write_text(json.dumps(summary, indent=2, default=str))
    workspace = run_dir / "workspace.duckdb"
    if not args.keep_workspace and workspace.is_file():
        # a curve's 1M, 5M and 10M workspaces (0.8 + 4.4 + 9.6 GB) filled a 50 GB disk with earlier runs
        size = workspace.stat().st_size
        workspace.unlink()
        print(f"removed {workspace} ({size / 2**20:,.0f} MiB; --keep-workspace keeps it)")


if __name__ == "__main__":
    main()
