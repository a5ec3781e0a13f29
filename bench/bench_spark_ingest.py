"""Ingest of CSV sources on Spark next to the DuckDB engine's ingest, on the same generated files,
with parity checked.

    nice -n 5 .venv/bin/python bench/bench_spark_ingest.py --data bench/out/gen_100000_10000_11

Runs linkage.ingest.ingest (the driver's reader) and then ingest_on_spark in local[2] on the
data folder's wanted, residents and id_cards CSVs; prints each one's wall time, which sources the
Spark path handed to the driver (with its note), and whether the two results are equal: the
quarantine and repairs files row for row, the summaries' sources, and every workspace table
(same columns and types, same rows: EXCEPT ALL both ways, the same count, `_row` ascending).
`--damage N`: the same on a copy with every N-th data line damaged (blank lines, ragged rows,
repeated ids, empty names, cut ids), so the quarantine is not empty.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from linkage.backends.spark.ingest import ingest_on_spark  # noqa: E402
from linkage.ingest import ingest  # noqa: E402

SOURCES = ("wanted", "residents", "id_cards")


def compare(a: Path, b: Path) -> list[str]:
    """What differs between two ingest outputs (empty: equal)."""
    import duckdb
    import pyarrow.parquet as pq

    diffs = []
    for s in SOURCES:
        for d in ("quarantine", "repairs"):
            if not pq.read_table(a / d / f"{s}.parquet").equals(pq.read_table(b / d / f"{s}.parquet")):
                diffs.append(f"{d}/{s}")
    sa = json.loads((a / "ingest_summary.json").read_text(encoding="utf-8"))["sources"]
    sb = json.loads((b / "ingest_summary.json").read_text(encoding="utf-8"))["sources"]
    if sa != sb:
        diffs.append("summary")
    con = duckdb.connect()
    con.execute(f"ATTACH '{a / 'workspace.duckdb'}' AS a (READ_ONLY)")
    con.execute(f"ATTACH '{b / 'workspace.duckdb'}' AS b (READ_ONLY)")
    for s in SOURCES:
        if con.execute(f"DESCRIBE a.{s}").fetchall() != con.execute(f"DESCRIBE b.{s}").fetchall():
            diffs.append(f"workspace {s}: columns")
            continue
        extra = con.execute(f"SELECT (SELECT count(*) FROM (SELECT * FROM a.{s} EXCEPT ALL SELECT * FROM b.{s})),"
                            f" (SELECT count(*) FROM (SELECT * FROM b.{s} EXCEPT ALL SELECT * FROM a.{s})),"
                            f" (SELECT count(*) FROM a.{s}), (SELECT count(*) FROM b.{s})").fetchone()
        if extra[0] or extra[1] or extra[2] != extra[3]:
            diffs.append(f"workspace {s}: rows {extra}")
        for side in ("a", "b"):
            unsorted = con.execute(f"SELECT count(*) FROM (SELECT _row, lag(_row) OVER () AS p FROM {side}.{s}) "
                                   "WHERE p >= _row").fetchone()[0]
            if unsorted:
                diffs.append(f"workspace {side}.{s}: not in file order")
    con.close()
    return diffs


def damage(data: Path, every: int) -> Path:
    """A copy of the CSVs with every `every`-th data line damaged, in turn: a blank line added, a
    field added (ragged), the previous line's id (a repeat), the name emptied, the id cut short.
    Synthetic rows only; written once into <data>/damaged_<every>/."""
    out = data / f"damaged_{every}"
    if (out / "id_cards.csv").is_file():
        return out
    out.mkdir(exist_ok=True)
    for s in SOURCES:
        lines = (data / f"{s}.csv").read_text(encoding="utf-8").split("\n")
        for k, i in enumerate(range(every, len(lines) - 1, every)):
            f = lines[i].split(",", 2)
            if len(f) < 3:
                continue
            kind = k % 5
            if kind == 0:
                lines[i] = lines[i] + "\n"
            elif kind == 1:
                lines[i] = lines[i] + ",extra"
            elif kind == 2:
                lines[i] = lines[i - 1].split(",", 1)[0] + "," + f[1] + "," + f[2]
            elif kind == 3:
                lines[i] = f[0] + ",," + f[2]
            else:
                lines[i] = f[0][:5] + "," + f[1] + "," + f[2]
        (out / f"{s}.csv").write_text("\n".join(lines), encoding="utf-8")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="a folder with wanted.csv, residents.csv, id_cards.csv")
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--damage", type=int, default=0, help="damage every N-th data line of a copy (see damage())")
    args = ap.parse_args()
    data = damage(args.data, args.damage) if args.damage else args.data
    files = {s: data / f"{s}.csv" for s in SOURCES}
    out = ROOT / "bench" / "out" / f"spark_ingest_{args.data.name}{f'_damaged_{args.damage}' if args.damage else ''}"
    shutil.rmtree(out, ignore_errors=True)
    sizes = {s: round(p.stat().st_size / 2**20, 1) for s, p in files.items()}
    print(f"files (MiB): {sizes}{f'; every {args.damage}th data line damaged' if args.damage else ''}")

    t = time.perf_counter()
    ingest(files, out / "duck")
    duck = time.perf_counter() - t
    print(f"DuckDB engine ingest (driver's reader): {duck:.1f} s")

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    spark = (SparkSession.builder.master(args.master).appName("bench-spark-ingest")
             .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
             .config("spark.sql.shuffle.partitions", "8").config("spark.driver.memory", "4g").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    import linkage.backends.spark.ingest as mod

    on_driver: list[str] = []
    real = mod.read_source_checked

    def spy(path, source, rules=None):
        on_driver.append(source)
        return real(path, source, rules)

    mod.read_source_checked = spy
    t = time.perf_counter()
    report = ingest_on_spark(spark, files, out / "spark", None, out / "work")
    wall = time.perf_counter() - t
    print(f"Spark engine ingest ({args.master}): {wall:.1f} s; read on the driver: {on_driver or 'none'}")
    for s, r in report.sources.items():
        print(f"  {s}: read {r.rows_read}, accepted {r.rows_accepted}, quarantined {r.rows_quarantined}, "
              f"reasons {r.reasons}, notes {r.notes}")
    diffs = compare(out / "duck", out / "spark")
    print("parity: " + ("all files and workspace tables equal" if not diffs else f"DIFFERENT: {diffs}"))
    spark.stop()


if __name__ == "__main__":
    main()
