"""Speed of parse_birth_dates, parse_ids, normalize_gender, normalize_ethnicity on 1M values.

Realistic repetition: birth dates drawn from ~100 years of days in a mix of written forms (so a
few tens of thousands of distinct values); IDs nearly all distinct (one per person), with some
separators, lost leading zeros and junk. Prints one line per function.

    .venv/bin/python bench/bench_dates_ids.py [N]
"""

from __future__ import annotations

import sys
import time
from datetime import date

import numpy as np
import pandas as pd

from linkage.normalize.dates import parse_birth_dates
from linkage.normalize.fields import normalize_ethnicity, normalize_gender
from linkage.normalize.ids import parse_ids

TODAY = date(2026, 11, 26)


def birth_dates(n: int, rng: np.random.Generator) -> pd.Series:
    days = rng.integers(0, 100 * 365, n)
    d = pd.to_datetime("1925-01-01") + pd.to_timedelta(days, unit="D")
    form = rng.choice(6, n, p=[0.70, 0.10, 0.08, 0.06, 0.04, 0.02])
    dmy = d.strftime("%d/%m/%Y")
    out = np.where(form == 0, dmy, "")
    out = np.where(form == 1, d.strftime("%Y-%m-%d"), out)
    out = np.where(form == 2, d.strftime("%Y").astype(str), out)
    out = np.where(form == 3, d.strftime("%m/%Y"), out)
    out = np.where(form == 4, d.strftime("%d.%m.%Y"), out)
    junk = rng.choice(["", "01/01/1900", "00/00/1985", "Không rõ", "31/02/1990", "sinh năm 1975"], n)
    out = np.where(form == 5, junk, out)
    return pd.Series(out, dtype=object)


def ids(n: int, rng: np.random.Generator) -> pd.Series:
    prov = rng.choice([f"{c:03d}" for c in (1, 2, 22, 31, 38, 40, 48, 79, 92, 96)], n)
    g = rng.choice(["0", "1", "2", "3"], n)
    yy = pd.Series(rng.integers(0, 27, n)).astype(str).str.zfill(2)
    tail = pd.Series(rng.integers(0, 1_000_000, n)).astype(str).str.zfill(6)
    s = pd.Series(prov) + pd.Series(g) + yy + tail
    kind = rng.choice(5, n, p=[0.85, 0.05, 0.04, 0.04, 0.02])
    s = s.where(kind != 1, s.str.slice(0, 3) + " " + s.str.slice(3, 6) + " " + s.str.slice(6))
    s = s.where(kind != 2, s.str.lstrip("0"))  # numeric column lost the zeros
    s = s.where(kind != 3, pd.Series(rng.integers(10_000_000, 400_000_000, n)).astype(str).str.zfill(9))  # CMND
    s = s.where(kind != 4, "")
    return s.astype(object)


def timed(label: str, fn, values: pd.Series) -> None:
    t = time.perf_counter()
    fn(values)
    dt = time.perf_counter() - t
    print(f"{label:22s} n={len(values):>9,} distinct={values.nunique():>9,}  {dt:6.2f} s")


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    rng = np.random.default_rng(20261126)
    bd, idv = birth_dates(n, rng), ids(n, rng)
    gender = pd.Series(rng.choice(["Nam", "Nữ", "nam", "nu", "M", "F", ""], n), dtype=object)
    eth = pd.Series(rng.choice(["Kinh", "Tày", "Thái", "H'Mông", "Ê-đê", "Mường", "Khmer", "Hoa", ""], n), dtype=object)
    timed("parse_birth_dates", lambda v: parse_birth_dates(v, today=TODAY), bd)
    timed("parse_ids", lambda v: parse_ids(v, today=TODAY), idv)
    timed("normalize_gender", normalize_gender, gender)
    timed("normalize_ethnicity", normalize_ethnicity, eth)


if __name__ == "__main__":
    main()
