"""Screening at the desk: latency and throughput of `linkage screen` against a nightly workspace.

    .venv/bin/python bench/bench_screen.py --residents 1000000 --wanted 100000 --out /tmp/bench_screen [--rules DIR]

1. generates a population (linkage synth) unless --out already holds one, and builds the workspace
   with the nightly job (first night, the default model) unless it is built;
2. loads the screening index (time, resident memory);
3. in process: single-record calls on records drawn from the register (residents and ID cards),
   p50/p95/mean; and lists of 100 records (records/s);
4. over HTTP on localhost (a `linkage screen serve` process): a bounded load test of single-record
   requests at 1 and 4 concurrent clients, and of 100-record lists; latency p50/p95 per request,
   records/s, and records per CPU-second of the server process (the per-core throughput).
A record drawn as the register stores it takes the night's normalised row, candidates and levels
(rules/screen.yaml reuse_stored_rows); --changed writes each one's full name in capitals (it is
normalised, and as its normalised values are the stored ones it keeps the night's candidates);
--changed typo drops the name's last letter, so every call does the whole work: normalise, block,
compare. Figures are printed (one JSON line per measure); nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


# How --changed writes a drawn record's full name.
CHANGES = {"capitals": str.upper, "typo": lambda name: name[:-1]}


def say(name: str, **figures) -> None:
    print(json.dumps({"measure": name, **figures}, ensure_ascii=False), flush=True)


def pct(values: list[float], q: float) -> float:
    import numpy as np

    return round(float(np.percentile(values, q)), 2) if values else float("nan")


def build(a) -> Path:
    from linkage.model import default_model, save_model
    from linkage.rules import rules_hash
    from linkage.settings import load_settings
    from linkage.synth import generate
    from linkage.workspace.delta import SourceInput
    from linkage.workspace.nightly import nightly

    base = a.out / "base"
    if not (base / "residents.csv").is_file():
        t0 = time.perf_counter()
        generate(a.residents, a.wanted, a.seed, base)
        say("generate", residents=a.residents, wanted=a.wanted, seconds=round(time.perf_counter() - t0, 1))
    ws = a.out / "ws"
    if not (ws / "workspace.duckdb").is_file():
        shutil.rmtree(ws, ignore_errors=True)
        model = a.out / "model.json"
        save_model(default_model(load_settings(a.rules), rules_hash(a.rules)), model)
        t0 = time.perf_counter()
        r = nightly(ws, a.out / "nights", {s: SourceInput(base / f"{s}.csv") for s in ("wanted", "residents", "id_cards")},
                    night="2026-01-01", model_path=model, rules=a.rules)
        say("first_night", seconds=round(time.perf_counter() - t0, 1), candidates=r.counts.get("candidate_pairs"),
            kept=r.counts.get("matches"))
    return ws


def draw(a, n: int) -> list[dict]:
    """n register records (residents and cards, 7 to 3), reproducible, without reading 1M rows into
    Python objects."""
    import pandas as pd

    rng = random.Random(a.seed)
    out = []
    for source, share in (("residents", 0.7), ("id_cards", 0.3)):
        frame = pd.read_csv(a.out / "base" / f"{source}.csv", dtype=str, keep_default_na=False)
        rows = frame.sample(int(n * share), random_state=rng.randrange(1 << 30))
        out += [{k: v for k, v in r.items() if v != ""} for r in rows.to_dict("records")]
    rng.shuffle(out)
    return out


def in_process(a, ws: Path, rows: list[dict]) -> None:
    from linkage.screen.records import check_record
    from linkage.screen.service import open_screening

    t0 = time.perf_counter()
    screening = open_screening(ws, a.rules)
    say("index_load", seconds=round(time.perf_counter() - t0, 2),
        peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        wanted=screening.index.w.num_rows, persons=screening.index.n_persons,
        candidate_pairs=int(len(screening.index.cand_w)))
    records = [check_record(r, f"draw {i}") for i, r in enumerate(rows)]
    screening.screen(records[:1])
    lat, hits = [], 0
    cpu0 = time.process_time()
    for r in records[: a.single]:
        t = time.perf_counter()
        got = screening.screen([r])
        lat.append((time.perf_counter() - t) * 1000)
        hits += len(got[0]["candidates"])
    cpu = time.process_time() - cpu0
    say("in_process_single", records=len(lat), p50_ms=pct(lat, 50), p95_ms=pct(lat, 95),
        mean_ms=round(sum(lat) / len(lat), 2), records_per_s=round(1000 * len(lat) / sum(lat), 1), hits=hits,
        cpu_ms_per_record=round(1000 * cpu / len(lat), 2), records_per_cpu_s=round(len(lat) / cpu, 1))
    t, cpu0 = time.perf_counter(), time.process_time()
    n = 0
    for lo in range(0, len(records), 100):
        n += len(screening.screen(records[lo:lo + 100]))
    s, cpu = time.perf_counter() - t, time.process_time() - cpu0
    say("in_process_lists_of_100", records=n, seconds=round(s, 2), records_per_s=round(n / s, 1),
        records_per_cpu_s=round(n / cpu, 1))


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load_test(url: str, key: str, bodies: list, clients: int, pid: int, name: str, per_request: int) -> None:
    """Each client sends its share of `bodies` one after another (keep-alive); bounded: the number
    of requests is fixed, never a rate to keep up."""
    import httpx

    lat: list[float] = []
    errors = []
    lock = threading.Lock()

    def worker(part: list) -> None:
        with httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=60) as c:
            for body in part:
                t = time.perf_counter()
                r = c.post(url, json=body)
                ms = (time.perf_counter() - t) * 1000
                with lock:
                    lat.append(ms)
                    if r.status_code != 200:
                        errors.append(r.status_code)

    parts = [bodies[i::clients] for i in range(clients)]
    cpu0, t0 = cpu_seconds(pid), time.perf_counter()
    threads = [threading.Thread(target=worker, args=(p,)) for p in parts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall, cpu = time.perf_counter() - t0, cpu_seconds(pid) - cpu0
    records = len(bodies) * per_request
    say(name, requests=len(bodies), clients=clients, errors=len(errors), p50_ms=pct(lat, 50), p95_ms=pct(lat, 95),
        records_per_s=round(records / wall, 1), server_cpu_s=round(cpu, 2),
        records_per_cpu_s=round(records / cpu, 1) if cpu else None)


def over_http(a, ws: Path, rows: list[dict]) -> None:
    import httpx

    key = subprocess.run([sys.executable, "-m", "cli", "screen", "keys", "add", "bench", "--workspace", str(ws)],
                         capture_output=True, text=True, cwd=ROOT, check=True).stdout.strip()
    rules = ["--rules", str(a.rules)] if a.rules else []
    server = subprocess.Popen([sys.executable, "-m", "cli", "screen", "serve", "--workspace", str(ws),
                               "--port", str(a.port), *rules], cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{a.port}"
        deadline = time.monotonic() + 1800
        while time.monotonic() < deadline:
            try:
                if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        singles = rows[: a.single]
        load_test(base + "/screen", key, singles[:20], 1, server.pid, "http_warmup", 1)
        load_test(base + "/screen", key, singles, 1, server.pid, "http_single_1_client", 1)
        load_test(base + "/screen", key, singles, 4, server.pid, "http_single_4_clients", 1)
        lists = [rows[i:i + 100] for i in range(0, len(rows) - 99, 100)]
        load_test(base + "/screen", key, lists, 2, server.pid, "http_lists_of_100_2_clients", 100)
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--residents", type=int, default=1_000_000)
    ap.add_argument("--wanted", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=20260101)
    ap.add_argument("--out", type=Path, default=Path("/tmp/bench_screen"))
    ap.add_argument("--records", type=int, default=3000, help="records drawn from the register")
    ap.add_argument("--single", type=int, default=300, help="single-record calls timed")
    ap.add_argument("--port", type=int, default=18790)
    ap.add_argument("--build-only", action="store_true")
    ap.add_argument("--rules", type=Path, default=None,
                    help="rules directory to screen with (default: the project's); must be those the workspace was built with")
    ap.add_argument("--changed", nargs="?", const="capitals", choices=sorted(CHANGES),
                    help="each drawn record's full name changed: 'capitals' (never its stored record, so it is "
                         "normalised) or 'typo' (its last letter dropped: normalised, blocked and compared)")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    ws = build(a)
    if a.build_only:
        return
    rows = draw(a, a.records)
    if a.changed:
        rows = [dict(r, full_name=CHANGES[a.changed](r["full_name"])) for r in rows]
    in_process(a, ws, rows)
    over_http(a, ws, rows)


if __name__ == "__main__":
    main()
