"""`linkage nightly --engine spark` next to the DuckDB engine on the same generated files, with the
workspace's parity checked.

    nice -n 5 .venv/bin/python bench/bench_spark_nightly.py --residents 50000 --wanted 5000 --seed 11

Uses the population bench_spark.py generates (bench/out/gen_<residents>_<wanted>_<seed>/) and one
generated night after it (linkage.synth.nights: 200 new cards, 100 changed residents, 10 new and 3
withdrawn wanted records, as delta files). On each engine: the first night (the workspace built
from the snapshots, with the model trained by the DuckDB engine on the same files) and the second
night; then every workspace table and each night's files compared between engines. Prints
everything; writes summary.json. The rules are a copy of rules/ taken at the start.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import time
from pathlib import Path

import duckdb
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_spark import generate  # noqa: E402
from linkage.backends.spark.session import get_session  # noqa: E402
from linkage.model import save_model  # noqa: E402
from linkage.pipeline import compare_pairs, fit_model, prepare_workspace  # noqa: E402
from linkage.settings import load_settings  # noqa: E402
from linkage.synth.nights import generate_nights  # noqa: E402
from linkage.workspace.delta import SourceInput  # noqa: E402
from linkage.workspace.nightly import nightly  # noqa: E402

D1, D2 = "2026-06-01", "2026-06-02"
FILES = ("matches.parquet", "new_leads.parquet", "retired.parquet", "alerts.parquet")
SKIP = {"models": ["path"], "nights": ["finished_at"]}


def tables(ws: Path) -> dict[str, list]:
    """Every workspace table's rows in one order (the model's file path and the clock aside)."""
    con = duckdb.connect(str(ws / "workspace.duckdb"), read_only=True)
    try:
        out = {}
        for (t,) in con.execute("SELECT table_name FROM duckdb_tables() WHERE NOT temporary ORDER BY 1").fetchall():
            cols = [c for c, *_ in con.execute(f"DESCRIBE {t}").fetchall() if c not in SKIP.get(t, [])]
            where = " WHERE key <> 'model_path'" if t == "meta" else ""
            out[t] = con.execute(f"SELECT {', '.join(cols)} FROM {t}{where} ORDER BY ALL").fetchall()
        return out
    finally:
        con.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--residents", type=int, default=50_000)
    ap.add_argument("--wanted", type=int, default=5_000)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--master", default="local[2]")
    args = ap.parse_args()
    data = generate(args.residents, args.wanted, args.seed)
    out = ROOT / "bench" / "out" / f"spark_nightly_{args.residents}_{args.wanted}_{args.seed}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    rules = out / "rules"
    shutil.copytree(ROOT / "rules", rules, ignore=shutil.ignore_patterns("model.json", "examples"))
    t0 = time.perf_counter()
    spark = get_session(load_settings(rules), args.master)
    summary: dict = {"data": str(data), "master": spark.sparkContext.master,
                     "cores": spark.sparkContext.defaultParallelism, "session_start_s": round(time.perf_counter() - t0, 1)}
    ctx = prepare_workspace(data / "wanted.csv", data / "residents.csv", data / "id_cards.csv", out / "train", rules=rules)
    model = save_model(fit_model(ctx, compare_pairs(ctx)), out / "model.json")
    ctx.con.close()
    night = generate_nights(data, 1, args.seed, out / "nights", start=D2)[0] / "delta"
    first = {s: SourceInput(data / f"{s}.csv") for s in ("wanted", "residents", "id_cards")}
    second = {s: SourceInput(None, night / f"{s}_delta.csv", night / f"removed_{s}.csv")
              for s in ("wanted", "residents", "id_cards")}
    results = {}
    for engine in ("duckdb", "spark"):
        ws, dest = out / engine / "ws", out / engine / "nights"
        got = []
        for date, inputs, kw in ((D1, first, {"model_path": model}), (D2, second, {})):
            t = time.perf_counter()
            r = nightly(ws, dest, inputs, night=date, rules=rules, engine=engine, spark_master=args.master, **kw)
            wall = round(time.perf_counter() - t, 1)
            got.append(r)
            summary[f"{engine}_{date}"] = {"wall_s": wall, "stages_s": r.timings, "screened_pairs": r.counts["screened_pairs"],
                                           "new_pairs": r.counts["new_pairs"], "retired_pairs": r.counts["retired_pairs"],
                                           "candidate_pairs": r.counts["candidate_pairs"], "matches": r.counts["matches"],
                                           "normalised": r.counts["normalised"]}
            print(f"{engine} night {date}: {wall} s {r.timings}", flush=True)
        results[engine] = (ws, got)
    a, b = tables(results["duckdb"][0]), tables(results["spark"][0])
    parity = {"tables_compared": len(a), "tables_equal": a == b,
              "tables_differing": sorted(t for t in a if a.get(t) != b.get(t))}
    for i, date in enumerate((D1, D2)):
        ra, rb = results["duckdb"][1][i], results["spark"][1][i]
        parity[f"files_equal_{date}"] = all(pd.read_parquet(ra.night_dir / f).equals(pd.read_parquet(rb.night_dir / f))
                                            for f in FILES)
        parity[f"run_id_equal_{date}"] = ra.run_id == rb.run_id
    summary["parity"] = parity
    summary["driver_peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(f"parity: {parity}", flush=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8")
    print(json.dumps(summary, indent=2, default=str))


if __name__ == "__main__":
    main()
