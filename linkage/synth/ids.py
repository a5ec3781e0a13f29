"""Personal id numbers (12-digit CCCD) and old 9-digit CMND numbers.

CCCD layout (Thông tư 07/2016/TT-BCA): 3-digit birth-registration province code, 1 digit for
gender and century (0 male / 1 female born 1900-1999, 2 / 3 born 2000-2099), 2-digit birth year,
6 random digits. CMND: the issuing province's prefix (2 or 3 digits) then random digits.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkage.errors import RulesError
from linkage.rules import read_ref_csv


@lru_cache(maxsize=1)
def gender_century_digit() -> dict[tuple[int, int], int]:
    """(gender 0 male / 1 female, century e.g. 20 for 1900-1999) -> digit, from the TT 07 table."""
    t = read_ref_csv("ref/ids/cccd_gender_century_codes.csv", columns=("digit", "gender", "century"))
    return {(0 if r.gender == "male" else 1, int(r.century)): int(r.digit) for r in t.itertuples()}


def cccd_numbers(prov_code: np.ndarray, gender: np.ndarray, byear: np.ndarray, rng: np.random.Generator,
                 taken: np.ndarray | None = None) -> np.ndarray:
    """Unique 12-digit ids as int64 (format with zero padding); none equal to one in `taken`."""
    gc = gender_century_digit()
    century = byear // 100 + 1
    digit = np.zeros(len(byear), dtype=np.int64)
    for (g, c), d in gc.items():
        digit[(gender == g) & (century == c)] = d
    head = prov_code.astype(np.int64) * 10**9 + digit * 10**8 + (byear % 100).astype(np.int64) * 10**6
    ids = head + rng.integers(0, 10**6, len(head))
    return _make_unique(ids, lambda idx: head[idx] + rng.integers(0, 10**6, len(idx)), taken)


def _make_unique(ids: np.ndarray, redraw, taken: np.ndarray | None) -> np.ndarray:
    taken = np.zeros(0, dtype=np.int64) if taken is None else np.asarray(taken, dtype=np.int64)
    for _ in range(100):
        order = np.argsort(ids, kind="stable")
        s = ids[order]
        dup = np.zeros(len(ids), dtype=bool)
        dup[order[1:]] = s[1:] == s[:-1]  # keep the first of equal values
        dup |= np.isin(ids, taken)
        bad = np.flatnonzero(dup)
        if not len(bad):
            return ids
        ids[bad] = redraw(bad)
    raise RulesError("could not draw unique id numbers (id space exhausted?)")


@lru_cache(maxsize=1)
def cmnd_prefixes(province_codes: tuple[str, ...]) -> list[list[str]]:
    """The CMND prefixes of each pre-2025 province (a province may have two, e.g. Gia Lai)."""
    t = read_ref_csv("ref/ids/cmnd9_issuing_province_prefixes.csv", columns=("cmnd_prefix", "gso_province_code_pre2025"))
    by = {}
    for r in t.itertuples():
        by.setdefault(r.gso_province_code_pre2025, []).append(r.cmnd_prefix)
    missing = [c for c in province_codes if c not in by]
    if missing:
        raise RulesError(f"cmnd9_issuing_province_prefixes.csv: no prefix for province(s) {missing}")
    return [sorted(set(by[c])) for c in province_codes]


def cmnd_numbers(prov: np.ndarray, province_codes: tuple[str, ...], rng: np.random.Generator,
                 taken: np.ndarray | None = None) -> np.ndarray:
    """Unique 9-digit CMND numbers (as int64) for people whose CMND was issued in `prov`."""
    pref = cmnd_prefixes(province_codes)
    choice = rng.random(len(prov))
    head = np.zeros(len(prov), dtype=np.int64)
    span = np.zeros(len(prov), dtype=np.int64)
    for p, lst in enumerate(pref):
        rows = np.flatnonzero(prov == p)
        if not len(rows):
            continue
        k = (choice[rows] * len(lst)).astype(int)
        prefs = np.array(lst)[k]
        width = np.char.str_len(prefs.astype(str))
        head[rows] = prefs.astype(np.int64) * 10 ** (9 - width)
        span[rows] = 10 ** (9 - width)
    ids = head + (rng.random(len(prov)) * span).astype(np.int64)
    return _make_unique(ids, lambda idx: head[idx] + (rng.random(len(idx)) * span[idx]).astype(np.int64), taken)


def fmt(ids: np.ndarray, width: int) -> pa.Array:
    """Zero-padded strings."""
    return pc.utf8_lpad(pc.cast(pa.array(np.asarray(ids, dtype=np.int64)), pa.string()), width=width, padding="0")
