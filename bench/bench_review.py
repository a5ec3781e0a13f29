"""Benchmark of the reviewer workbench (issue 9): queue and pair pages with 1M candidates and
100k decisions in the judgement store, on SQLite and on PostgreSQL. Never part of the tests.

    .venv/bin/python bench/bench_review.py [--candidates 1000000] [--decisions 100000] [--requests 200]
                                           [--db sqlite,postgresql]

The candidates are synthetic (tests/test_review_concurrency.py's `synthetic_tables`: ids and a
few made-up names). The decisions are written straight into `judgements` (100k live rows plus
10 % of them superseded, as decide/undo leave them), on a fresh SQLite file and in a throwaway
PostgreSQL cluster (tests/pg_server.py: initdb in a temporary folder, unix socket only). The
app is built as `linkage review serve` builds it and asked through HTTP (Starlette's test
client, in process); the figure is the app's own `Server-Timing` (the handler, templates
included), p50 / p95 / max per page. Startup is what `serve` does before listening: the
Candidates (sort, change feed with the 100k decisions) and the Records; memory is the process's
resident size after startup (the synthetic tables included).
"""

from __future__ import annotations

import argparse
import platform
import random
import re
import resource
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import os

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from sqlalchemy import insert  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from linkage.review import schema as s  # noqa: E402
from linkage.review.app import create_app  # noqa: E402
from linkage.review.store import Store  # noqa: E402
from pg_server import PgServer, find_bindir  # noqa: E402
from test_review_concurrency import PASSWORD, csrf_of, synthetic_config, synthetic_tables  # noqa: E402


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fill(store: Store, tables, n_decisions: int, seed: int = 11) -> float:
    """n_decisions live decisions on random candidates, plus a superseded row for 10 % of them."""
    m = tables["matches"]
    rng = random.Random(seed)
    picks = rng.sample(range(m.num_rows), n_decisions)
    wanted, person, weight = m["wanted_id"].to_pylist(), m["person_id"].to_pylist(), m["match_weight"].to_pylist()
    t0 = time.perf_counter()
    now = datetime.now(timezone.utc) - timedelta(days=30)
    rows = []
    for k, i in enumerate(picks):
        decision = ("not_match", "unsure", "match")[k % 3]
        base = dict(wanted_id=wanted[i], person_id=person[i], decision=decision, state=decision,
                    reviewer=f"rv{k % 8}", decided_at=now, note="", match_weight=weight[i], evidence=None,
                    action="decide", actor=f"rv{k % 8}", recorded_at=now, supersedes=None,
                    deleted_at=None, deleted_by=None)
        if k % 10 == 0:  # an earlier state, superseded
            rows.append({**base, "decision": "unsure", "state": "unsure", "deleted_at": now, "deleted_by": base["reviewer"]})
        rows.append(base)
    with store.engine.begin() as conn:
        for a in range(0, len(rows), 20_000):
            conn.execute(insert(s.judgements), rows[a:a + 20_000])
    return time.perf_counter() - t0


def pct(values: list[float], q: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, int(round(q * (len(v) - 1))))]


def timed(client: TestClient, url: str) -> tuple[float, object]:
    r = client.get(url, follow_redirects=False)
    assert r.status_code in (200, 303), (url, r.status_code)
    return float(r.headers["server-timing"].split("dur=")[1]), r


def bench_one(label: str, url: str, tables, n_decisions: int, n_requests: int) -> dict:
    store = Store.open(url)
    store.add_user("bench", PASSWORD)
    t_fill = fill(store, tables, n_decisions)
    rss0 = rss_mb()
    t0 = time.perf_counter()
    config = synthetic_config(store, tables)
    app = create_app(config)
    startup = time.perf_counter() - t0
    rss1 = rss_mb()
    cands = config.candidates
    client = TestClient(app)
    page = client.get("/login")
    r = client.post("/login", data={"csrf": csrf_of(page.text), "username": "bench", "password": PASSWORD},
                    follow_redirects=False)
    assert r.status_code == 303
    rng = random.Random(5)
    pages = {
        "queue": lambda: "/queue",
        "queue filtered": lambda: rng.choice(["/queue?danger=0", "/queue?flag=id_match", "/queue?band=mid",
                                              "/queue?unit=3&flag=residence_changed"]),
        "next": lambda: f"/next?at={rng.randrange(cands.n)}",
        "pair": lambda: (lambda i: f"/pair/{cands.wanted[i]}/{cands.person[i]}")(rng.randrange(cands.n)),
        "history (pair)": lambda: (lambda i: f"/history/pair/{cands.wanted[i]}/{cands.person[i]}")(rng.randrange(cands.n)),
    }
    for make in pages.values():  # warm up (templates compiled, first queries)
        timed(client, make())
    out = {"db": label, "fill_s": t_fill, "startup_s": startup, "rss_mb": rss1, "rss_app_mb": rss1 - rss0, "pages": {}}
    for name, make in pages.items():
        times = [timed(client, make())[0] for _ in range(n_requests)]
        out["pages"][name] = (pct(times, 0.5), pct(times, 0.95), max(times))
    # decisions through the page (claim, decide, release, change feed): the POST's server time
    times = []
    for _ in range(min(100, n_requests)):
        ms, r = timed(client, "/next?at=" + str(rng.randrange(cands.n)))
        page = client.get(r.headers["location"])
        w, p = re.search(r"/pair/([^/?]+)/([^/?]+)", str(page.url)).groups()
        d = client.post("/decide", data={"csrf": csrf_of(page.text), "wanted_id": w, "person_id": p,
                                         "decision": "not_match"}, follow_redirects=False)
        assert d.status_code == 303, d.text
        times.append(float(d.headers["server-timing"].split("dur=")[1]))
    out["pages"]["decide (POST)"] = (pct(times, 0.5), pct(times, 0.95), max(times))
    client.close()
    store.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--candidates", type=int, default=1_000_000)
    ap.add_argument("--decisions", type=int, default=100_000)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--db", default="sqlite,postgresql")
    args = ap.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    t0 = time.perf_counter()
    tables = synthetic_tables(args.candidates, per_wanted=4, n_below=0)
    print(f"synthetic candidates: {args.candidates:,} ({tables['wanted'].num_rows:,} wanted) in {time.perf_counter() - t0:.1f} s")
    results = []
    for db in args.db.split(","):
        if db == "sqlite":
            with tempfile.TemporaryDirectory() as tmp:
                results.append(bench_one("SQLite", str(Path(tmp) / "review.sqlite"), tables, args.decisions, args.requests))
        elif db == "postgresql":
            bindir = find_bindir()
            if bindir is None:
                print("PostgreSQL: no server binaries (initdb, pg_ctl); skipped")
                continue
            server = PgServer(bindir)
            try:
                url = server.start()
                results.append(bench_one("PostgreSQL", url, tables,
                                         args.decisions, args.requests))
            finally:
                server.stop()
        for r in results[-1:]:
            print(f"\n{r['db']}: {args.decisions:,} decisions written in {r['fill_s']:.1f} s; startup {r['startup_s']:.1f} s; "
                  f"RSS {r['rss_mb']:.0f} MB ({r['rss_app_mb']:+.0f} MB for the app)")
            print(f"  {'page':<16} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
            for name, (p50, p95, mx) in r["pages"].items():
                flag = "" if p95 < 100 else "  <- over 100 ms"
                print(f"  {name:<16} {p50:8.1f} {p95:8.1f} {mx:8.1f}{flag}")


if __name__ == "__main__":
    main()
