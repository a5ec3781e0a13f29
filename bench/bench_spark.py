"""The Spark engine next to the DuckDB engine on the same generated files, with parity checked.

    nice -n 5 .venv/bin/python bench/bench_spark.py --residents 100000 --wanted 10000 --seed 11

Generates the data into bench/out/gen_<residents>_<wanted>_<seed>/ unless it is there. Then, in
this process: `train` on each engine (the two models compared level by level), `run` on each
engine with the DuckDB-trained model (the two matches.parquet compared: pairs, ranks, every
column, probabilities within 1e-9), each stage's seconds, and the Spark executors' throughput
per core (the figures behind docs/spark.md's sizing). Prints everything; writes summary.json.
The rules are a copy of rules/ taken at the start (or --rules DIR), so an edit in the tree during
the benchmark cannot reach one engine's run and not the other's. `--parquet`: the generated files
as Parquet (both CSV and Parquet are ingested on Spark; bench/bench_spark_ingest.py measures the
CSV path); the two runs' quarantine and repairs files are then compared too.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from linkage.backends.spark.session import get_session  # noqa: E402
from linkage.matches_io import read_matches  # noqa: E402
from linkage.model import save_model  # noqa: E402
from linkage.pipeline import compare_pairs, fit_model, prepare_workspace, run  # noqa: E402
from linkage.settings import load_settings  # noqa: E402

TOL = 1e-9


def generate(residents: int, wanted: int, seed: int) -> Path:
    data = ROOT / "bench" / "out" / f"gen_{residents}_{wanted}_{seed}"
    if not (data / "wanted.csv").is_file():
        subprocess.run([str(ROOT / ".venv" / "bin" / "linkage"), "synth", "--residents", str(residents), "--wanted",
                        str(wanted), "--seed", str(seed), "--out", str(data)], check=True)
    return data


def as_parquet(data: Path) -> dict[str, Path]:
    """The generated CSV files as Parquet (every column text), so the Spark engine's ingest reads
    them on Spark (docs/spark.md); written once into <data>/parquet/."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = {}
    for s in ("wanted", "residents", "id_cards"):
        out[s] = data / "parquet" / f"{s}.parquet"
        if not out[s].is_file():
            out[s].parent.mkdir(exist_ok=True)
            frame = pd.read_csv(data / f"{s}.csv", dtype=str, keep_default_na=False)
            pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), out[s], row_group_size=100_000)
    return out


def inputs(data: Path, parquet: bool) -> dict[str, Path]:
    if parquet:
        return as_parquet(data)
    return {s: data / f"{s}.csv" for s in ("wanted", "residents", "id_cards")}


def same_files(a: Path, b: Path) -> bool:
    """The quarantine and repairs files of two runs hold the same rows."""
    import pyarrow.parquet as pq

    names = sorted({p.relative_to(a) for d in ("quarantine", "repairs") for p in (a / d).glob("*.parquet")})
    return bool(names) and all(pq.read_table(a / n).equals(pq.read_table(b / n)) for n in names)


def train_on(engine: str, files: dict[str, Path], out: Path, master: str, rules: Path):
    t0 = time.perf_counter()
    ctx = prepare_workspace(files["wanted"], files["residents"], files["id_cards"], out, rules=rules,
                            engine=engine, spark_master=master)
    model = fit_model(ctx, compare_pairs(ctx))
    ctx.con.close()
    return model, round(time.perf_counter() - t0, 1), ctx.timings, ctx.counts


def model_difference(a, b) -> float:
    """Largest |m - m'| or |u - u'| over every comparison level."""
    worst = 0.0
    for ca, cb in zip(a.comparisons, b.comparisons, strict=True):
        for la, lb in zip(ca.levels, cb.levels, strict=True):
            worst = max(worst, abs(la.m - lb.m), abs(la.u - lb.u))
    return worst


def matches_parity(a_path: Path, b_path: Path) -> dict:
    a, b = read_matches(a_path).to_pandas(), read_matches(b_path).to_pandas()
    keys_equal = list(zip(a.wanted_id, a.person_id, a["rank"])) == list(zip(b.wanted_id, b.person_id, b["rank"]))
    probs = ("match_probability", "pair_probability", "match_weight")
    diff = max(float(np.max(np.abs(a[c].to_numpy() - b[c].to_numpy()))) if len(a) and keys_equal else float("nan")
               for c in probs)
    # run_id hashes the rules folder too: it differs when the rules changed between the two runs
    others = [c for c in a.columns if c not in probs and c != "run_id"]
    rest_equal = keys_equal and a[others].equals(b[others])
    return {"rows_duckdb": len(a), "rows_spark": len(b), "same_pairs_and_ranks": keys_equal,
            "max_abs_probability_or_weight_diff": diff, "other_columns_equal": bool(rest_equal),
            "same_run_id": bool(len(a) and len(b) and a.run_id.iloc[0] == b.run_id.iloc[0]),
            "parity": bool(keys_equal and rest_equal and diff <= TOL)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--residents", type=int, default=100_000)
    ap.add_argument("--wanted", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--no-train-parity", action="store_true", help="train on DuckDB only (saves a Spark train)")
    ap.add_argument("--rules", type=Path, help="rules folder (default: a copy of rules/ taken at the start)")
    ap.add_argument("--parquet", action="store_true", help="inputs as Parquet: the Spark engine's ingest runs on Spark")
    args = ap.parse_args()
    data = generate(args.residents, args.wanted, args.seed)
    files = inputs(data, args.parquet)
    out = ROOT / "bench" / "out" / f"spark_{args.residents}_{args.wanted}_{args.seed}{'_parquet' if args.parquet else ''}"
    out.mkdir(parents=True, exist_ok=True)
    rules = args.rules
    if rules is None:
        rules = out / "rules"
        shutil.rmtree(rules, ignore_errors=True)
        shutil.copytree(ROOT / "rules", rules, ignore=shutil.ignore_patterns("model.json", "examples"))
    t0 = time.perf_counter()
    spark = get_session(load_settings(rules), args.master)
    cores = spark.sparkContext.defaultParallelism
    summary: dict = {"data": str(data), "inputs": {k: str(v) for k, v in files.items()}, "rules": str(rules), "master": spark.sparkContext.master, "cores": cores,
                     "session_start_s": round(time.perf_counter() - t0, 1)}
    print(f"spark session {summary['master']} ({cores} cores) in {summary['session_start_s']} s", flush=True)

    duck_model, s, timings, counts = train_on("duckdb", files, out / "train_duckdb", args.master, rules)
    summary["train_duckdb"] = {"wall_s": s, "stages_s": timings}
    print(f"train duckdb: {s} s {timings}", flush=True)
    model_path = save_model(duck_model, out / "model.json")
    if not args.no_train_parity:
        spark_model, s, timings, _ = train_on("spark", files, out / "train_spark", args.master, rules)
        summary["train_spark"] = {"wall_s": s, "stages_s": timings,
                                  "max_abs_m_u_diff": model_difference(duck_model, spark_model),
                                  "share_diff": abs(duck_model.wanted_match_share - spark_model.wanted_match_share)}
        print(f"train spark: {s} s {timings}; max |m-m'|,|u-u'| = {summary['train_spark']['max_abs_m_u_diff']:.3g}",
              flush=True)

    results = {}
    for engine in ("duckdb", "spark"):
        t = time.perf_counter()
        r = run(files["wanted"], files["residents"], files["id_cards"], out / f"run_{engine}",
                rules=rules, model_path=model_path, engine=engine, spark_master=args.master)
        wall = round(time.perf_counter() - t, 1)
        results[engine] = r
        summary[f"run_{engine}"] = {"wall_s": wall, "stages_s": r.timings, "candidate_pairs": r.counts["candidate_pairs"],
                                    "matches": r.counts["matches"]}
        print(f"run {engine}: {wall} s {r.timings}", flush=True)
    parity = matches_parity(results["duckdb"].matches, results["spark"].matches)
    parity["quarantine_and_repairs_equal"] = same_files(out / "run_duckdb", out / "run_spark")
    summary["parity"] = parity
    print(f"parity: {parity}", flush=True)

    sr = results["spark"]
    tables = sr.counts["tables"]
    st = sr.timings
    summary["spark_throughput_per_core_s"] = {
        "register_records_normalised": round(tables["register_records"] / (st["normalise"] * cores), 1),
        "register_records_blocked": round(tables["register_records"] / (st["block"] * cores), 1),
        "pair_records_compared": round(sr.counts.get("compared_records", 0) / (st["compare"] * cores), 1),
    }
    summary["driver_peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(f"spark per core-second: {summary['spark_throughput_per_core_s']}", flush=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8")
    print(json.dumps(summary, indent=2, default=str))


if __name__ == "__main__":
    main()
