"""Where a single-record screening call spends its CPU: timers per stage of the screener.

    PYTHONPATH=. .venv/bin/python bench/bench_screen.py --residents 100000 --wanted 10000 --out /tmp/bs100k --build-only
    PYTHONPATH=. .venv/bin/python bench/screen_call_profile.py --out /tmp/bs100k [--n 200] [--warm] [--profile FILE]

Draws --n register records (7 residents : 3 cards, reproducible), screens each in a call of its
own against the workspace built by bench_screen.py, and prints the CPU-ms per call (p50, p95,
mean), the wall-clock ms, and per stage (and per DuckDB query, where the rules use SQL the Arrow
evaluator leaves to DuckDB) the CPU-ms averaged over the calls
and how often it ran (x0.32: on 32 % of calls). --no-reuse normalises every record (a record
sent exactly as stored otherwise takes its stored row); --changed writes each record's full name
in capitals (so none is as stored, but each normalises to its stored values), --changed typo drops
its last letter (so each is blocked and compared). Then each record is screened again with the other reuse
setting and the answers compared. --warm screens the records once before timing
(the value memo then holds their values); --profile writes a cProfile file. Timers wrap the
screener's own methods; nothing is asserted.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import random
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench_screen import CHANGES
from linkage.backends import arrow_sql as A
from linkage.screen import engine as E
from linkage.screen.records import check_record
from linkage.screen.service import open_screening

STAGES = ("_prepared", "_pairs", "_block", "_compare", "_score", "_tf", "_keys", "_matches")


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
    ap.add_argument("--no-reuse", action="store_true",
                    help="normalise every record (rules/screen.yaml reuse_stored_rows: false)")
    ap.add_argument("--changed", nargs="?", const="capitals", choices=sorted(CHANGES),
                    help="each record's full name in capitals (normalised) or with a 'typo' (blocked and compared)")
    a = ap.parse_args()
    records = draw(a.out, a.n)
    if a.changed:
        for r in records:
            r.values["full_name"] = CHANGES[a.changed](r.values["full_name"])
    screening = open_screening(a.out / "ws")
    screening.screener.config = dataclasses.replace(screening.screener.config, reuse_stored_rows=not a.no_reuse)
    spent: dict[str, float] = collections.defaultdict(float)
    runs: collections.Counter = collections.Counter()
    per_call: list[dict[str, float]] = []  # each timed call's stages, for the slowest calls' breakdown
    this_call: dict[str, float] = collections.defaultdict(float)

    def timed(name, fn):
        def wrapper(*args, **kw):
            t = time.process_time()
            try:
                return fn(*args, **kw)
            finally:
                spent[name] += time.process_time() - t
                this_call[name] += time.process_time() - t
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
        this_call.clear()
        t, c = time.perf_counter(), time.process_time()
        screening.screen([r])
        wall.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)
        per_call.append(dict(this_call))
    if prof:
        prof.disable()
        prof.dump_stats(a.profile)
    n = len(records)
    print(f"{n} calls, CPU ms: p50 {np.percentile(cpu, 50):.1f} p95 {np.percentile(cpu, 95):.1f} mean {np.mean(cpu):.1f}")
    print(f"wall ms: p50 {np.percentile(wall, 50):.1f} p95 {np.percentile(wall, 95):.1f} mean {np.mean(wall):.1f}")
    for name, s in sorted(spent.items(), key=lambda kv: -kv[1]):
        print(f"{1000 * s / n:8.2f} CPU-ms per call  x{runs[name] / n:.2f}  {name}")
    answers = [screening.screen([r]) for r in records]
    screening.screener.config = dataclasses.replace(screening.screener.config, reuse_stored_rows=a.no_reuse)
    same = sum(_answer(x) == _answer(screening.screen([r])) for x, r in zip(answers, records))
    print(f"the same candidates and probabilities (to 1e-9) with reuse_stored_rows {a.no_reuse}: {same} of {n} records")
    slow = [i for i in np.argsort(cpu)[::-1][: max(1, n // 10)]]
    print(f"the slowest {len(slow)} calls (CPU ms {min(cpu[i] for i in slow):.1f}-{max(cpu[i] for i in slow):.1f}), mean per stage:")
    for name in sorted(spent, key=lambda k: -sum(per_call[i].get(k, 0.0) for i in slow)):
        print(f"{1000 * sum(per_call[i].get(name, 0.0) for i in slow) / len(slow):8.2f}  {name}")


def _answer(result: list[dict]) -> list[tuple[str, float]]:
    return [(c["wanted_id"], round(c["match_probability"], 9)) for c in result[0]["candidates"]]


if __name__ == "__main__":
    main()
