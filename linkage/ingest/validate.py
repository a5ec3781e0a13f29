"""Row checks that decide what is loaded: required values present, 12-digit ids well formed,
ids unique. Optional fields are left to normalisation. Vectorised over whole columns."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from linkage.ingest.contract import COLUMNS, ID12, KEY, REQUIRED, ROW

_ID_SEPARATORS = r"[\s.\-\x{00A0}]+"
_TWELVE_DIGITS = r"^[0-9]{12}$"


@dataclass
class Finding:
    """Rows (positions in the table) failing one check on one column."""

    positions: np.ndarray
    column: str
    reasons: list[str] | str
    values: pa.Array


@dataclass
class Validated:
    accepted: pa.Table
    findings: list[Finding] = field(default_factory=list)

    def bad_positions(self) -> np.ndarray:
        if not self.findings:
            return np.array([], dtype=np.int64)
        return np.unique(np.concatenate([f.positions for f in self.findings]))


def canonical_table(source: str, columns: dict[str, pa.ChunkedArray], n_rows: int) -> dict[str, pa.ChunkedArray]:
    """Every contract column, missing ones as all-null text."""
    null = pa.chunked_array([pa.nulls(n_rows, pa.string())])
    return {c: columns.get(c, null) for c in COLUMNS[source]}


def validate(source: str, columns: dict[str, pa.ChunkedArray], rows: np.ndarray) -> Validated:
    findings: list[Finding] = []
    cols = dict(columns)
    n = len(rows)
    bad = np.zeros(n, dtype=bool)
    for col in REQUIRED[source]:
        missing = _missing(cols[col])
        if missing.any():
            pos = np.flatnonzero(missing)
            findings.append(Finding(pos, col, "missing_value: required value is empty", _take(cols[col], pos)))
            bad |= missing
    for col in ID12[source]:
        stripped = pc.replace_substring_regex(cols[col], _ID_SEPARATORS, "")
        well_formed = pc.fill_null(pc.match_substring_regex(stripped, _TWELVE_DIGITS), True)
        malformed = ~np.asarray(well_formed.to_numpy(zero_copy_only=False), dtype=bool)
        if malformed.any():
            pos = np.flatnonzero(malformed)
            findings.append(Finding(pos, col, "malformed_id: must be 12 digits once spaces, dots and dashes are "
                                              "removed", _take(cols[col], pos)))
            bad |= malformed
        cols[col] = stripped
    key = KEY[source]
    if key not in ID12[source]:
        cols[key] = pc.utf8_trim_whitespace(cols[key])
    dup = _duplicates(cols[key], rows, bad)
    if dup is not None:
        pos, first = dup
        reasons = [f"duplicate_id: same {key} as data row {r} (kept)" for r in first]
        findings.append(Finding(pos, key, reasons, _take(columns[key], pos)))
        bad[pos] = True
    keep = pa.array(~bad)
    table = pa.table({c: cols[c].filter(keep) for c in COLUMNS[source]})
    table = table.append_column(ROW, pa.array(rows[~bad], pa.int64()))
    return Validated(table, findings)


def _missing(col: pa.ChunkedArray) -> np.ndarray:
    empty = pc.equal(pc.utf8_trim_whitespace(col), "")
    return np.asarray(pc.fill_null(empty, True).to_numpy(zero_copy_only=False), dtype=bool)


def _take(col: pa.ChunkedArray, positions: np.ndarray) -> pa.Array:
    return col.take(pa.array(positions, pa.int64())).combine_chunks()


def _duplicates(key: pa.ChunkedArray, rows: np.ndarray, bad: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Positions of repeated keys among otherwise good rows (the first stays), and for each the
    data row number of the one kept."""
    good = np.flatnonzero(~bad)
    keys = key.to_numpy(zero_copy_only=False)[good]
    repeated = pd.Series(keys).duplicated(keep="first").to_numpy()
    if not repeated.any():
        return None
    kept = pd.Series(rows[good][~repeated], index=keys[~repeated])
    return good[repeated], kept.loc[keys[repeated]].to_numpy()
