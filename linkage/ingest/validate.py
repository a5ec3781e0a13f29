"""Row checks that decide what is loaded: required values present, ids a spreadsheet damaged
repaired or rejected, 12-digit ids well formed, ids unique. Other optional fields are left to
normalisation. Vectorised over whole columns."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from linkage.ingest.contract import COLUMNS, ID12, ID_WIDTHS, KEY, REQUIRED, ROW
from linkage.normalize.ids import DAMAGED, REPAIRED, repair_spreadsheet_ids

_ID_SEPARATORS = r"[\s.\-\x{00A0}]+"
_TWELVE_DIGITS = r"^[0-9]{12}$"
# What a spreadsheet writes for a number (only these values are looked at closely): a float or
# scientific notation, and, for a column that may hold a 12-digit id, plain digits one or two
# short of 12 not starting with 0 (a number that lost its leading zeros). Plain digits of any
# other length are never changed by the repair (a valid 9-digit CMND is one: 425k per 1M cards).
_NUMBER_FORMS = r"[0-9]+\.0+|[0-9](?:[.,][0-9]*)?[eE]\+?[0-9]{1,2}"
_LOST_ZEROS = r"[1-9][0-9]{9,10}"


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
    findings: list[Finding] = field(default_factory=list)  # rows rejected (quarantine)
    # values changed in rows that were kept: reasons "id_repaired: ..." / "id_emptied: ..."
    repairs: list[Finding] = field(default_factory=list)

    def bad_positions(self) -> np.ndarray:
        if not self.findings:
            return np.array([], dtype=np.int64)
        return np.unique(np.concatenate([f.positions for f in self.findings]))


def canonical_table(source: str, columns: dict[str, pa.ChunkedArray], n_rows: int) -> dict[str, pa.ChunkedArray]:
    """Every contract column, missing ones as all-null text."""
    null = pa.chunked_array([pa.nulls(n_rows, pa.string())])
    return {c: columns.get(c, null) for c in COLUMNS[source]}


def validate(source: str, columns: dict[str, pa.ChunkedArray], rows: np.ndarray,
             rules: str | Path | None = None, duplicates: bool = True) -> Validated:
    """The checks on one table of rows. `duplicates` False: every check but the repeated ids,
    for a batch of a file whose ids are compared across batches elsewhere (the Spark engine's
    ingest, which words the finding with duplicate_reasons)."""
    findings: list[Finding] = []
    repairs: list[Finding] = []
    cols = dict(columns)
    n = len(rows)
    bad = np.zeros(n, dtype=bool)
    for col in REQUIRED[source]:
        missing = _missing(cols[col])
        if missing.any():
            pos = np.flatnonzero(missing)
            findings.append(Finding(pos, col, "missing_value: required value is empty", _take(cols[col], pos)))
            bad |= missing
    damaged = {}
    for col, widths in ID_WIDTHS[source].items():
        cols[col], damaged[col] = _spreadsheet_ids(source, col, cols[col], widths, rules, findings, repairs, bad)
        bad |= damaged[col] if col in REQUIRED[source] else False
    for col in ID12[source]:
        stripped = pc.replace_substring_regex(cols[col], _ID_SEPARATORS, "")
        well_formed = pc.fill_null(pc.match_substring_regex(stripped, _TWELVE_DIGITS), True)
        malformed = ~np.asarray(well_formed.to_numpy(zero_copy_only=False), dtype=bool) & ~damaged[col]
        if malformed.any():
            pos = np.flatnonzero(malformed)
            findings.append(Finding(pos, col, "malformed_id: must be 12 digits once spaces, dots and dashes are "
                                              "removed", _take(cols[col], pos)))
            bad |= malformed
        cols[col] = stripped
    key = KEY[source]
    if key not in ID12[source]:
        cols[key] = pc.utf8_trim_whitespace(cols[key])
    dup = _duplicates(cols[key], rows, bad) if duplicates else None
    if dup is not None:
        pos, first = dup
        reasons = duplicate_reasons(key, first)
        findings.append(Finding(pos, key, reasons, _take(columns[key], pos)))
        bad[pos] = True
    keep = pa.array(~bad)  # no row rejected: the columns as they are (a filter would copy them all)
    table = pa.table({c: cols[c].filter(keep) if bad.any() else cols[c] for c in COLUMNS[source]})
    table = table.append_column(ROW, pa.array(rows[~bad], pa.int64()))
    return Validated(table, findings, repairs)


def duplicate_reasons(key: str, first_rows) -> list[str]:
    """The quarantine reason of each repeated id, naming the data row kept."""
    return [f"duplicate_id: same {key} as data row {r} (kept)" for r in first_rows]


def _spreadsheet_ids(source: str, col: str, values: pa.ChunkedArray, widths: tuple[int, ...],
                     rules: str | Path | None, findings: list[Finding], repairs: list[Finding],
                     bad: np.ndarray) -> tuple[pa.ChunkedArray, np.ndarray]:
    """Undo what a spreadsheet did to an id where the repair is certain (recorded in `repairs`);
    a damaged record id rejects its row (`findings`), a damaged optional id is emptied (recorded:
    the row is still worth matching on its other fields). Returns the column and the damaged mask."""
    n = len(values)
    none = np.zeros(n, dtype=bool)
    forms = f"{_LOST_ZEROS}|{_NUMBER_FORMS}" if 12 in widths else _NUMBER_FORMS
    looks = pc.fill_null(pc.match_substring_regex(values, rf"^\s*(?:{forms})\s*$"), False)
    if not pc.any(looks).as_py():
        return values, none
    pos = np.flatnonzero(np.asarray(looks.to_numpy(zero_copy_only=False), dtype=bool) & ~bad)
    fix = repair_spreadsheet_ids(pd.Series(_take(values, pos).to_numpy(zero_copy_only=False), dtype=object),
                                 widths, rules)
    status = fix["status"].to_numpy(dtype=object, na_value=None)
    detail = fix["detail"].to_numpy(dtype=object, na_value=None)
    fixed = fix["fixed"].to_numpy(dtype=object, na_value=None)
    rep = status == REPAIRED
    dmg = status == DAMAGED
    change = np.zeros(n, dtype=bool)  # positions whose value is replaced, with their new values
    new = np.full(n, None, dtype=object)
    if rep.any():
        repairs.append(Finding(pos[rep], col, list("id_repaired: " + detail[rep].astype(str) + " -> "
                                                   + fixed[rep].astype(str)), _take(values, pos[rep])))
        change[pos[rep]] = True
        new[pos[rep]] = fixed[rep]
    damaged = none.copy()
    if dmg.any():
        damaged[pos[dmg]] = True
        if col in REQUIRED[source]:
            reasons = list("malformed_id: damaged by a spreadsheet: " + detail[dmg].astype(str))
            findings.append(Finding(pos[dmg], col, reasons, _take(values, pos[dmg])))
        else:
            repairs.append(Finding(pos[dmg], col, list("id_emptied: damaged by a spreadsheet beyond repair, "
                                                       "loaded as empty: " + detail[dmg].astype(str)),
                                   _take(values, pos[dmg])))
            change[pos[dmg]] = True  # new stays None: loaded as empty
    if not change.any():
        return values, damaged
    out = pc.replace_with_mask(values.combine_chunks(), pa.array(change), pa.array(new[change], pa.string()))
    return pa.chunked_array([out]), damaged


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
