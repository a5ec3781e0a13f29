"""Nightly benchmark (never part of the test run).

    .venv/bin/python bench/bench_nightly.py --residents 1000000 --wanted 20000 --out /tmp/bench_nightly

1. generates a population (linkage synth) and one night after it (linkage.synth.nights): 10,000 new
   cards, 2,000 changed residents, 200 new and 50 withdrawn wanted records;
2. builds a workspace on the population (first night, snapshot inputs, a given model);
3. runs the night from its delta files;
4. runs a cold `linkage run` on the night's final snapshots with the same model;
5. checks incremental equals full (same pairs, probabilities within 1e-9).
Each timed step runs in its own process: wall time and peak memory (the process and its workers).

`--reuse` keeps what an earlier benchmark in the same --out built: the population, the workspace as
the build left it (copied to `ws.built` after the build, copied back before each night) and the
cold run's matches, so repeated night measurements cost one build.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def step(kind: str, args: dict) -> None:
    """One timed step, in this (fresh) process; prints a JSON line with seconds and peak MB."""
    sys.path.insert(0, str(ROOT))
    from linkage.pipeline import peak_rss_mb, run
    from linkage.workspace.delta import SourceInput
    from linkage.workspace.nightly import nightly

    t0 = time.perf_counter()
    p = {k: Path(v) if isinstance(v, str) and "/" in v else v for k, v in args.items()}
    if kind == "build":
        r = nightly(p["ws"], p["out"], {s: SourceInput(p["base"] / f"{s}.csv") for s in ("wanted", "residents", "id_cards")},
                    night=args["night"], model_path=p["model"])
        extra = {"candidate_pairs": r.counts["candidate_pairs"], "timings": r.timings}
    elif kind == "night":
        d = p["night_dir"] / "delta"
        inputs = {s: SourceInput(None, d / f"{s}_delta.csv", d / f"removed_{s}.csv") for s in ("wanted", "residents", "id_cards")}
        r = nightly(p["ws"], p["out"], inputs, night=args["night"])
        extra = {"candidate_pairs": r.counts["candidate_pairs"], "screened_pairs": r.counts["screened_pairs"],
                 "new_leads": r.counts["new_leads"], "alerts": r.counts["alerts"], "timings": r.timings,
                 "matches": str(r.matches)}
    else:
        s = p["night_dir"] / "snapshot"
        r = run(s / "wanted.csv", s / "residents.csv", s / "id_cards.csv", p["run_out"], model_path=p["model"])
        extra = {"candidate_pairs": r.counts["candidate_pairs"], "timings": r.timings, "matches": str(r.matches)}
    print(json.dumps({"seconds": round(time.perf_counter() - t0, 2), "peak_mb": peak_rss_mb(), **extra}))


def timed(kind: str, args: dict) -> dict:
    t0 = time.perf_counter()
    got = subprocess.run([sys.executable, __file__, "--step", kind, "--args", json.dumps(args)],
                         capture_output=True, text=True, cwd=ROOT)
    if got.returncode:
        raise SystemExit(f"{kind} failed:\n{got.stderr[-3000:]}")
    out = json.loads(got.stdout.strip().splitlines()[-1])
    out["process_seconds"] = round(time.perf_counter() - t0, 2)  # with interpreter start and imports
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--residents", type=int, default=1_000_000)
    ap.add_argument("--wanted", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=20260101)
    ap.add_argument("--out", type=Path, default=Path("/tmp/bench_nightly"))
    ap.add_argument("--reuse", action="store_true", help="reuse the built workspace and cold run of --out")
    ap.add_argument("--step")
    ap.add_argument("--args")
    a = ap.parse_args()
    if a.step:
        step(a.step, json.loads(a.args))
        return
    sys.path.insert(0, str(ROOT))
    import numpy as np
    import pandas as pd

    from linkage.model import default_model, save_model
    from linkage.rules import rules_hash
    from linkage.settings import load_settings
    from linkage.synth import generate
    from linkage.synth.nights import NightSizes, generate_nights

    base, nights = a.out / "base", a.out / "nights"
    t0 = time.perf_counter()
    if not (base / "residents.csv").is_file():
        generate(a.residents, a.wanted, a.seed, base)
    folder = generate_nights(base, 1, a.seed, nights, start="2026-01-02",
                             sizes=NightSizes(new_cards=10_000, changed_residents=2_000, new_wanted=200, withdrawn_wanted=50))[0]
    print(f"generated in {time.perf_counter() - t0:.1f} s")
    model = a.out / "model.json"
    save_model(default_model(load_settings(None), rules_hash(None)), model)
    import shutil

    built, cold_file = a.out / "ws.built", a.out / "run.json"
    reuse = a.reuse and built.is_dir()
    for d in ("ws", "out") + (() if reuse else ("run", "ws.built")):
        shutil.rmtree(a.out / d, ignore_errors=True)
    common = {"ws": str(a.out / "ws"), "out": str(a.out / "out"), "model": str(model)}
    if reuse:
        shutil.copytree(built, a.out / "ws")
        print("build reused from", built)
    else:
        build = timed("build", {**common, "base": str(base), "night": "2026-01-01"})
        print("build", json.dumps(build))
        shutil.copytree(a.out / "ws", built)
    night = timed("night", {**common, "night_dir": str(folder), "night": "2026-01-02"})
    print("night", json.dumps(night))
    if reuse and cold_file.is_file():
        cold = json.loads(cold_file.read_text())
        print("cold run reused from", cold_file)
    else:
        cold = timed("run", {**common, "night_dir": str(folder), "run_out": str(a.out / "run")})
        cold_file.write_text(json.dumps(cold))
    print("cold run", json.dumps(cold))
    x = pd.read_parquet(night["matches"]).drop(columns="run_id").sort_values(["wanted_id", "person_id"]).reset_index(drop=True)
    y = pd.read_parquet(cold["matches"]).drop(columns="run_id").sort_values(["wanted_id", "person_id"]).reset_index(drop=True)
    same_pairs = x[["wanted_id", "person_id"]].equals(y[["wanted_id", "person_id"]])
    max_dp = float(np.abs(x.match_probability - y.match_probability).max()) if same_pairs and len(x) else None
    print(json.dumps({"same_pairs": same_pairs, "max_probability_difference": max_dp,
                      "same_candidate_pairs": night["candidate_pairs"] == cold["candidate_pairs"],
                      "machine": f"{platform.machine()} {platform.processor() or ''} {platform.platform()}",
                      "cpus": __import__("os").cpu_count()}))


if __name__ == "__main__":
    main()
