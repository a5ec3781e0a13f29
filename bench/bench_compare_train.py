"""The compare and train stages alone, on a saved workspace: their seconds, CPU and memory by step.

    .venv/bin/python bench/bench_compare_train.py --data bench/out/gen_1000000_10000_11 --ws /tmp/h13c/ws
    .venv/bin/python bench/bench_compare_train.py --ws /tmp/h13c/ws --out /tmp/h13c/after [--profile]

The first form ingests, normalises and blocks DATA's files once (as `linkage run` does) and saves
the tables compare and train read (w, reg, pairs, tf) as Parquet in WS; later runs load them into
a fresh DuckDB with the rules' engine settings, so a change to compare or train is measured in
seconds instead of a whole run. Prints each step's wall and CPU seconds (bench_train's timers) and
the process's peak RSS after compare and after train; writes the levels (levels.npz) and the model
(model.json) into OUT to check that a change leaves them identical. `--profile`: a pyinstrument
profile of the two stages (profile.txt in OUT). Never part of the test run.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402
import numpy as np  # noqa: E402

import linkage.train as train_mod  # noqa: E402
from bench.bench_train import CPU, TIMES, _cpu, _instrument  # noqa: E402
from linkage.compare import compare  # noqa: E402
from linkage.model import save_model  # noqa: E402
from linkage.rules import rules_hash  # noqa: E402
from linkage.settings import load_settings  # noqa: E402

TABLES = ("w", "reg", "pairs", "tf")


def _peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024


def save_workspace(data: Path, ws: Path) -> None:
    """Run the stages before compare on DATA and keep the tables compare and train read."""
    from linkage.pipeline import prepare_workspace
    from linkage.progress import Reporter

    ws.mkdir(parents=True, exist_ok=True)
    ctx = prepare_workspace(data / "wanted.csv", data / "residents.csv", data / "id_cards.csv", ws / "run", None,
                            Reporter())
    for t in TABLES:
        ctx.con.execute(f"COPY (SELECT * FROM {t}) TO '{ws / t}.parquet' (FORMAT parquet)")
    print(f"saved {', '.join(TABLES)} into {ws}")


def load_workspace(ws: Path, settings, tmp: Path) -> duckdb.DuckDBPyConnection:
    """A fresh connection with the rules' memory limit and threads, the saved tables in it (as the
    run has them: temp tables, `tf` a table)."""
    con = duckdb.connect()
    eng = settings.engine
    con.execute(f"SET memory_limit = '{eng.get('memory_limit', '4GB')}'")
    con.execute(f"SET threads = {int(eng.get('threads', 2))}")
    con.execute(f"SET temp_directory = '{tmp}'")
    con.execute("SET preserve_insertion_order = true")
    for t in TABLES:
        con.execute(f"CREATE TEMP TABLE {t} AS SELECT * FROM read_parquet('{ws / t}.parquet')")
    return con


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ws", type=Path, required=True)
    ap.add_argument("--data", type=Path, help="build WS from this folder's files first")
    ap.add_argument("--out", type=Path, help="where levels.npz, model.json (and profile.txt) go")
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    if args.data:
        save_workspace(args.data, args.ws)
        return
    out = args.out or args.ws / "out"
    out.mkdir(parents=True, exist_ok=True)
    settings = load_settings(None)
    con = load_workspace(args.ws, settings, out / "tmp")
    print(f"loaded: peak RSS {_peak_gib():.2f} GiB")
    _instrument()
    prof = None
    if args.profile:
        from pyinstrument import Profiler

        prof = Profiler(interval=0.005)
        prof.start()
    t, c = time.perf_counter(), _cpu()
    gammas = compare(con, settings)
    ct, cc = time.perf_counter() - t, _cpu() - c
    print(f"compare: {ct:.2f} s, CPU {cc:.2f} s, {len(gammas.pair_idx):,} pairs; peak RSS {_peak_gib():.2f} GiB")
    TIMES.clear()
    CPU.clear()
    t, c = time.perf_counter(), _cpu()
    model = train_mod.train(con, settings, gammas, rules_hash(None))
    tt, tc = time.perf_counter() - t, _cpu() - c
    print(f"train: {tt:.2f} s, CPU {tc:.2f} s; peak RSS {_peak_gib():.2f} GiB")
    for k, s in sorted(TIMES.items(), key=lambda x: -CPU[x[0]]):
        print(f"   {s:6.2f} s  CPU {CPU[k]:6.2f} s  {k}")
    if prof is not None:
        prof.stop()
        (out / "profile.txt").write_text(prof.output_text(unicode=False, color=False, show_all=False))
        print(f"profile: {out / 'profile.txt'}")
    np.savez(out / "levels.npz", pair_idx=gammas.pair_idx, levels=gammas.levels)
    save_model(model, out / "model.json")
    (out / "timings.json").write_text(json.dumps({"compare_s": ct, "compare_cpu_s": cc, "train_s": tt,
                                                  "train_cpu_s": tc, "peak_rss_gib": _peak_gib()}))


if __name__ == "__main__":
    main()
