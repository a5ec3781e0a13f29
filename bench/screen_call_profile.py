"""Where a single-record screening call spends its CPU: timers per stage of the screener.

    PYTHONPATH=. .venv/bin/python bench/bench_screen.py --residents 100000 --wanted 10000 --out /tmp/bs100k --build-only
    PYTHONPATH=. .venv/bin/python bench/screen_call_profile.py --out /tmp/bs100k [--n 200] [--warm] [--profile FILE]

Draws --n register records (7 residents : 3 cards, reproducible), screens each in a call of its
own against the workspace built by bench_screen.py, and prints the CPU-ms per call (p50, p95,
mean), the wall-clock ms, and per stage (and per DuckDB query, where the rules use SQL the Arrow
evaluator leaves to DuckDB) the CPU-ms averaged over the calls
and how often it ran (x0.32: on 32 % of calls). --warm screens the records once before timing
(the value memo then holds their values); --profile writes a cProfile file. Timers wrap the
screener's own methods; nothing is asserted.
"""

from __future__ import annotations

import argparse
import collections
import random
import time
from pathlib import Path

import numpy as np
import pandas as pd

from linkage.backends import arrow_sql as A
from linkage.screen import engine as E
from linkage.screen.records import check_record
from linkage.screen.service import open_screening

STAGES = ("_prepared", "_block", "_compare", "_score", "_tf", "_keys", "_matches")


def draw(out: Path, n: int) -> list:
    rng = random.Random(7)
    rows = []
    for source, share in (("residents", 0.7), ("id_cards", 0.3)):
        frame = pd.read_csv(out / "base" / f"{source}.csv", dtype=str, keep_default_na=False)
        sample = frame.sample(int(n * share), random_state=rng.randrange(1 << 30))
        rows += [{k: v for k, v in r.items() if v != ""} for r in sample.to_dict("records")]
    rng.shuffle(rows)
    return [check_record(r, f"draw {i}") for i, r in enumerate(rows)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True, help="bench_screen.py's --out (base/ and ws/)")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--warm", action="store_true")
    ap.add_argument("--profile", type=Path)
    a = ap.parse_args()
    records = draw(a.out, a.n)
    screening = open_screening(a.out / "ws")
    spent: dict[str, float] = collections.defaultdict(float)
    runs: collections.Counter = collections.Counter()

    def timed(name, fn):
        def wrapper(*args, **kw):
            t = time.process_time()
            try:
                return fn(*args, **kw)
            finally:
                spent[name] += time.process_time() - t
                runs[name] += 1
        return wrapper

    query = A.duckdb_query  # what the Arrow evaluator leaves to DuckDB (nothing, with the default rules)
    A.duckdb_query = lambda sql, tables: timed("sql: " + " ".join(sql.split())[:50], query)(sql, tables)
    E.ValueMemo.prepared = timed("normalise + prepare (memo)", E.ValueMemo.prepared)
    for name in STAGES:
        setattr(E.Screener, name, timed(name, getattr(E.Screener, name)))
    screening.screen(records[:3])
    if a.warm:
        for r in records:
            screening.screen([r])
    spent.clear()
    runs.clear()
    wall, cpu = [], []
    prof = None
    if a.profile:
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
    for r in records:
        t, c = time.perf_counter(), time.process_time()
        screening.screen([r])
        wall.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)
    if prof:
        prof.disable()
        prof.dump_stats(a.profile)
    n = len(records)
    print(f"{n} calls, CPU ms: p50 {np.percentile(cpu, 50):.1f} p95 {np.percentile(cpu, 95):.1f} mean {np.mean(cpu):.1f}")
    print(f"wall ms: p50 {np.percentile(wall, 50):.1f} p95 {np.percentile(wall, 95):.1f} mean {np.mean(wall):.1f}")
    for name, s in sorted(spent.items(), key=lambda kv: -kv[1]):
        print(f"{1000 * s / n:8.2f} CPU-ms per call  x{runs[name] / n:.2f}  {name}")


if __name__ == "__main__":
    main()
