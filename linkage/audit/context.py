"""What the checks look at: one source's accepted rows, and each normalisation computed at most
once (the normalisers of linkage.normalize, on distinct values), shared by every rule."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from linkage.audit.rules import QualityRules
from linkage.audit.textscan import TextScan, scan_text
from linkage.audit.values import Distinct, distinct
from linkage.ingest.contract import KEY, ROW
from linkage.normalize.dates import load_date_rules, parse_dates
from linkage.normalize.fields import fold_text, normalize_ethnicity, normalize_gender
from linkage.normalize.ids import parse_ids
from linkage.normalize.names import normalize_names
from linkage.normalize.places import resolve_places


@dataclass
class AuditContext:
    source: str
    table: pa.Table  # accepted rows: contract columns + _row
    quarantine: pa.Table
    qrules: QualityRules
    rules: Path | None
    today: date
    residents: Path | None = None
    matches: Path | None = None  # a run's matches.parquet (its candidates, for the deceased link and cases)
    missing_columns: tuple[str, ...] = ()
    key_header: str | None = None  # the file's header for the record id (to read quarantined rows)
    repairs: pa.Table | None = None  # values ingestion changed in kept rows (linkage.ingest SourceRead)
    dedupe_clusters: pd.DataFrame | None = None  # `linkage dedupe`'s clusters (audit --dedupe): the duplicate check
    _cache: dict[tuple, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ basics
    @property
    def n(self) -> int:
        return self.table.num_rows

    @property
    def key(self) -> str:
        return KEY[self.source]

    def has(self, column: str) -> bool:
        """The column exists in the source's contract (present in the file or loaded as empty)."""
        return column in self.table.column_names and column != ROW

    def _cached(self, key: tuple, make):
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def series(self, column: str) -> pd.Series:
        """The raw column as a pandas object Series (None for missing)."""
        def make() -> pd.Series:
            arr = self.table.column(column).combine_chunks()
            return pd.Series(arr.to_numpy(zero_copy_only=False), dtype=object)
        return self._cached(("series", column), make)

    def emptied(self, column: str) -> np.ndarray:
        """Per row: ingestion emptied the column's value (an id a spreadsheet damaged beyond repair),
        so its absence is that defect, already reported, not a second one."""
        mask = np.zeros(self.n, dtype=bool)
        rep = self.repairs
        if rep is None or rep.num_rows == 0:
            return mask
        hit = pc.and_(pc.equal(rep.column("column"), column), pc.starts_with(rep.column("reason"), "id_emptied:"))
        rows = rep.column("row_number").filter(hit).to_numpy()
        mask[np.isin(self.table.column(ROW).to_numpy(), rows)] = True
        return mask

    def distinct(self, column: str) -> Distinct:
        return self._cached(("distinct", column), lambda: distinct(self.table.column(column)))

    def values_at(self, column: str, positions: np.ndarray) -> np.ndarray:
        col = self.table.column(column).take(pa.array(positions, pa.int64()))
        return np.asarray(col.to_numpy(zero_copy_only=False), dtype=object)

    # ------------------------------------------------------------------ value classes
    def placeholder(self, column: str) -> np.ndarray:
        """Per row: the value is a stand-in for 'unknown' (a listed text, or a placeholder date)."""
        def make() -> np.ndarray:
            d = self.distinct(column)
            flags = np.zeros(len(d.values), dtype=bool)
            longest = max((len(p) for p in self.qrules.placeholders), default=0)
            if len(d.values) and longest:
                # only short values can be placeholders: fold just those
                length = pc.utf8_length(pa.array(d.values, pa.string())).to_numpy(zero_copy_only=False)
                short = np.flatnonzero(length <= 2 * longest + 4)
                folded = fold_text(pd.Series(d.values[short], dtype=object))
                flags[short] = folded.isin(self.qrules.placeholders).to_numpy()
            rows = np.zeros(self.n, dtype=bool)
            rows[d.rows(flags)] = True
            if column in self.qrules.group("dates"):
                rows |= self.dates(column)["placeholder"].to_numpy(dtype=bool)
            return rows
        return self._cached(("placeholder", column), make)

    def filled(self, column: str) -> np.ndarray:
        """Per row: a real value (non-empty, not a placeholder)."""
        return self._cached(("filled", column), lambda: self.distinct(column).present & ~self.placeholder(column))

    def text(self, column: str, tones: bool = False, keystrokes: bool = False) -> TextScan:
        return self._cached(("text", column, tones, keystrokes),
                            lambda: scan_text(self.distinct(column).values, tones=tones, keystrokes=keystrokes,
                                              rules=self.rules))

    # ------------------------------------------------------------------ normalisations
    def dates(self, column: str) -> pd.DataFrame:
        """Parsed date columns without prefix: year, month, day, precision, placeholder, jan1, date_error."""
        def make() -> pd.DataFrame:
            kind = "birth" if column == "birth_date" else "event"
            return parse_dates(self.series(column), self.rules, kind=kind, today=self.today)
        return self._cached(("dates", column), make)

    def date_bounds(self, column: str) -> tuple[np.ndarray, np.ndarray]:
        """(earliest, latest) possible day of each date as datetime64[D] (NaT when unknown)."""
        def make():
            d = self.dates(column)
            return _bounds(d["year"], d["month"], d["day"])
        return self._cached(("bounds", column), make)

    def ids(self, column: str) -> pd.DataFrame:
        return self._cached(("ids", column), lambda: parse_ids(self.series(column), self.rules, today=self.today))

    def place_table(self) -> tuple[pa.Array, pd.DataFrame]:
        """(every distinct address of every place column, its resolution): an address written in
        several columns (hometown = permanent address) is resolved once."""
        def make():
            cols = [c for c in self.qrules.group("places") if self.has(c)]
            arrays = [pa.array(self.distinct(c).values, pa.string()) for c in cols]
            union = pc.unique(pa.concat_arrays(arrays)) if arrays else pa.array([], pa.string())
            values = pd.Series(union.to_numpy(zero_copy_only=False), dtype=object)
            resolved = resolve_places(values, rules=self.rules).reset_index(drop=True)
            return union, resolved
        return self._cached(("place_table",), make)

    def place_codes(self, column: str) -> np.ndarray:
        """Per row: the index of its address in place_table (-1 = empty)."""
        def make() -> np.ndarray:
            union, _ = self.place_table()
            d = self.distinct(column)
            idx = pc.index_in(pa.array(d.values, pa.string()), value_set=union)
            idx = np.asarray(idx.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)
            return np.append(idx, -1)[d.codes]
        return self._cached(("place_codes", column), make)

    def place_rows(self, column: str, part: str) -> np.ndarray:
        """One resolution column (province_code_2025, level, confidence ...) per row (None / NaN)."""
        def make() -> np.ndarray:
            _, resolved = self.place_table()
            per = resolved[part]
            if part == "confidence":
                return np.append(per.to_numpy(dtype="float64", na_value=np.nan), np.nan)[self.place_codes(column)]
            vals = per.astype(object).where(per.notna(), None).to_numpy(dtype=object)
            return np.append(vals, None)[self.place_codes(column)]
        return self._cached(("place_rows", column, part), make)

    def gender(self) -> pd.Series:
        return self._cached(("gender",), lambda: normalize_gender(self.series("gender"), self.rules))

    def ethnicity(self) -> pd.DataFrame:
        return self._cached(("ethnicity",), lambda: normalize_ethnicity(self.series("ethnicity"), self.rules))

    def names(self, column: str) -> pd.DataFrame:
        """normalize_names of the column's distinct values (norm, ascii, ...), one row per value."""
        return self._cached(("names", column), lambda: normalize_names(
            pd.Series(self.distinct(column).values, dtype=object), rules=self.rules).reset_index(drop=True))

    def name_key(self, column: str, form: str = "ascii") -> pd.Series:
        """Per row: a name's ASCII fold (`ascii`: Hùng and Hưng meet, so a key only) or its
        canonical form (`norm`: marks kept)."""
        def make() -> pd.Series:
            d = self.distinct(column)
            if len(d.values) == 0:
                return pd.Series([None] * self.n, dtype=object)
            col = self.names(column)[form]
            per = np.asarray(col.astype(object).where(col.notna(), None).to_numpy(), dtype=object)
            return pd.Series(np.append(per, None)[d.codes], dtype=object)
        return self._cached(("name_key", column, form), make)

    def vocabulary(self, name: str, column: str) -> pd.Series:
        """Per row: the vocabulary key of the value, or None (missing or not in the vocabulary)."""
        def make() -> pd.Series:
            lookup = {w: k for k, words in self.qrules.vocabularies[name].items() for w in words}
            d = self.distinct(column)
            folded = fold_text(pd.Series(d.values, dtype=object))
            keys = folded.map(lookup).astype(object)
            per = np.asarray(keys.where(keys.notna(), None).to_numpy(), dtype=object)
            return pd.Series(np.append(per, None)[d.codes], dtype=object)
        return self._cached(("vocab", name, column), make)


def _bounds(year: pd.Series, month: pd.Series, day: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    y = year.to_numpy(dtype="float64", na_value=np.nan)
    m = month.to_numpy(dtype="float64", na_value=np.nan)
    d = day.to_numpy(dtype="float64", na_value=np.nan)
    known = ~np.isnan(y)
    yi = np.where(known, y, 2000).astype(np.int64)
    m_lo = np.where(np.isnan(m), 1, m).astype(np.int64)
    m_hi = np.where(np.isnan(m), 12, m).astype(np.int64)
    months_lo = (yi - 1970) * 12 + m_lo - 1
    months_hi = (yi - 1970) * 12 + m_hi - 1
    first_lo = months_lo.astype("datetime64[M]").astype("datetime64[D]")
    next_hi = (months_hi + 1).astype("datetime64[M]").astype("datetime64[D]")
    lo = np.where(np.isnan(d), first_lo, first_lo + (np.where(np.isnan(d), 1, d).astype(np.int64) - 1))
    hi = np.where(np.isnan(d), next_hi - 1, lo)
    nat = np.datetime64("NaT", "D")
    return np.where(known, lo, nat), np.where(known, hi, nat)


def reference_date(qrules: QualityRules, rules: Path | None) -> date:
    """quality.yaml's reference date, else rules/dates.yaml's (itself the run's date by default)."""
    if qrules.reference_date is not None:
        return qrules.reference_date
    return load_date_rules(rules, kind="birth").today
