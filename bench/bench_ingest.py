"""Speed and memory of `linkage.ingest.ingest` on a 1M-row residents file.

The file comes from the synthetic generator (`linkage.synth.generate`) when it exists; until
then it is built here by repeating a few synthetic rows with distinct 12-digit ids. A small
share of rows are bad (missing name, malformed or duplicate id) so the quarantine path runs too.
Each measured ingest runs in a child process, so its peak RSS is its own.

    .venv/bin/python bench/bench_ingest.py [N] [--legacy]
    .venv/bin/python bench/bench_ingest.py --data bench/out/gen_5000000_10000_11 [--code DIR] [--repeat K]

--legacy also times the same file written as Windows-1258 (decoded in Python before parsing).
--data ingests a generated folder's three sources (wanted, residents, id_cards) as `linkage run`
does; --code runs another checkout's code (`git archive` of an earlier commit) for alternating
comparisons, --repeat K runs it K times.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROWS = [
    ("Nguyễn Văn Hùng", "Nam", "15/03/1985", "Xã Tân Phú, Huyện Đức Hòa, Tỉnh Long An", "Kinh", "Nguyễn Văn Ba", "Trần Thị Mai"),
    ("Trần Thị Ánh Tuyết", "Nữ", "1990", "Phường 3, Quận 5, Thành phố Hồ Chí Minh", "Kinh", "Trần Văn Lộc", "Lê Thị Hoa"),
    ("Lê Quốc Việt", "Nam", "02/1978", "Xã Yên Sở, Huyện Hoài Đức, Thành phố Hà Nội", "Kinh", "Lê Văn Sáu", "Phạm Thị Lan"),
    ("Hoàng Thị Thu Hương", "Nữ", "1969-07-21", "Phường Vĩnh Ninh, Thành phố Huế", "Kinh", "Hoàng Văn Tư", "Đỗ Thị Nga"),
    ("Lò Văn Pấng", "Nam", "1995", "Xã Chiềng Sơn, Huyện Mộc Châu, Tỉnh Sơn La", "Thái", "Lò Văn Ún", "Lường Thị Ính"),
]
COLUMNS = ["person_id", "full_name", "gender", "birth_date", "permanent_address", "ethnicity", "father_name", "mother_name"]


def build_csv(path: Path, n: int, encoding: str = "utf-8") -> None:
    """n rows by repetition; about 0.1% missing names, malformed and duplicate ids."""
    rng = np.random.default_rng(20261126)
    pick = rng.integers(0, len(ROWS), n)
    base = pd.DataFrame(ROWS, columns=COLUMNS[1:]).iloc[pick].reset_index(drop=True)
    ids = pd.Series(np.arange(n, dtype=np.int64) + 1_001_000_000_000 - 1_000_000_000_000).astype(str).str.zfill(12)
    bad = rng.random(n)
    ids = ids.where(bad >= 0.0005, ids.str[:10])  # malformed
    ids = ids.where((bad < 0.0005) | (bad >= 0.001), ids.shift(1, fill_value=ids.iloc[0]))  # duplicate
    base.insert(0, "person_id", ids)
    base.loc[(bad >= 0.001) & (bad < 0.0015), "full_name"] = ""
    if encoding == "cp1258":
        from linkage.normalize.legacy import encode_legacy

        path.write_bytes(encode_legacy(base.to_csv(index=False), "cp1258"))
    else:
        base.to_csv(path, index=False, encoding=encoding)


def source_file(tmp: Path, n: int) -> tuple[Path, str]:
    """Built in a child process, so the measured children do not inherit a large parent."""
    try:
        from linkage.synth import generate  # noqa: F401
        code = ("from linkage.synth import generate; import sys; "
                f"print(generate(n_residents={n}, n_wanted=100, seed=20261126, out_dir={str(tmp / 'synth')!r})"
                "['residents'])")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        return Path(out.stdout.strip().splitlines()[-1]), "linkage.synth.generate"
    except ImportError:
        path = tmp / "residents.csv"
        build_in_child(path, n, "utf-8")
        return path, "repeated synthetic rows (generator not available yet)"


def build_in_child(path: Path, n: int, encoding: str) -> None:
    subprocess.run([sys.executable, __file__, "--build", str(path), str(n), encoding], check=True)


def run_child(path: Path, out: Path, sources: dict[str, Path] | None = None, code_dir: Path | None = None) -> dict:
    """Time one ingest in a fresh interpreter; returns its figures (those of `path`'s source, or of
    every source in `sources` summed)."""
    sources = {k: str(v) for k, v in (sources or {"residents": path}).items()}
    code = (
        "import json, resource, sys, time\n"
        "t0 = time.perf_counter()\n"
        "from linkage.ingest import ingest\n"
        "t1 = time.perf_counter()\n"
        f"r = ingest({sources!r}, {str(out)!r})\n"
        "t2 = time.perf_counter()\n"
        "s = list(r.sources.values())\n"
        "print(json.dumps({'import_s': t1 - t0, 'ingest_s': t2 - t1, 'rows': sum(x.rows_read for x in s),\n"
        "  'accepted': sum(x.rows_accepted for x in s), 'quarantined': sum(x.rows_quarantined for x in s),\n"
        "  'encoding': s[0].encoding, 'peak_rss_mib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))\n"
    )
    env = dict(os.environ, **({"PYTHONPATH": str(code_dir.resolve())} if code_dir else {}))
    cwd = code_dir or None  # `python -c` puts the working folder first on the path
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env, cwd=cwd)
    return json.loads(res.stdout.strip().splitlines()[-1])


def report(label: str, path: Path, fig: dict) -> None:
    mb = path.stat().st_size / 2**20
    print(f"{label}: {fig['rows']:,} rows ({mb:.0f} MiB, {fig['encoding']}) in {fig['ingest_s']:.2f} s "
          f"= {fig['rows'] / fig['ingest_s']:,.0f} rows/s; accepted {fig['accepted']:,}, quarantined "
          f"{fig['quarantined']:,}; peak RSS {fig['peak_rss_mib']:.0f} MiB")


def main() -> None:
    if sys.argv[1:2] == ["--build"]:
        build_csv(Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
        return
    if "--data" in sys.argv:
        run_generated(Path(_option("--data")), Path(_option("--code")) if "--code" in sys.argv else None,
                      int(_option("--repeat")) if "--repeat" in sys.argv else 1)
        return
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    n = int(args[0]) if args else 1_000_000
    with tempfile.TemporaryDirectory(prefix="bench_ingest_") as d:
        tmp = Path(d)
        t0 = time.perf_counter()
        path, origin = source_file(tmp, n)
        print(f"input: {origin}, built in {time.perf_counter() - t0:.1f} s; cpus: {os.cpu_count()}")
        report("utf-8 csv", path, run_child(path, tmp / "out_utf8"))
        if "--legacy" in sys.argv:
            legacy = tmp / "residents_cp1258.csv"
            build_in_child(legacy, n, "cp1258")
            report("cp1258 csv", legacy, run_child(legacy, tmp / "out_cp1258"))


def _option(name: str) -> str:
    return sys.argv[sys.argv.index(name) + 1]


def run_generated(data: Path, code_dir: Path | None, repeat: int) -> None:
    """A generated folder's three sources, as `linkage run` ingests them."""
    sources = {s: (data / f"{s}.csv").resolve() for s in ("wanted", "residents", "id_cards")}
    size = sum(p.stat().st_size for p in sources.values())
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="bench_ingest_", dir=data.parent) as d:
            fig = run_child(sources["residents"], Path(d) / "out", sources, code_dir)
        report(f"{data.name} ({code_dir or 'this checkout'})", sources["residents"], fig)
        print(f"  three files {size / 2**20:,.0f} MiB")


if __name__ == "__main__":
    main()
