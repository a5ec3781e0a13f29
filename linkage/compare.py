"""Comparison stage: the level of every comparison for every candidate pair, as an int8 matrix.

DuckDB evaluates each comparison's SQL levels over Arrow batches of pair rows; rapidfuzz's
vectorised `cpdist` scores the string-similarity bands, only for rows the SQL levels left below
a fuzzy band. A person with several register records (a resident row and a card row) gets, per
comparison, the best level any of its records reaches, so no field is counted twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Collection

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from rapidfuzz import process
from rapidfuzz.distance import JaroWinkler

from linkage.comparisons import CompiledComparison, compile_comparison
from linkage.settings import Settings

NULL = -1
_MERGE_NULL = 127


@dataclass
class Gammas:
    """Levels per pair: `pair_idx` (sorted, unique) and `levels` (n_pairs x n_comparisons, -1 = null)."""

    pair_idx: np.ndarray
    levels: np.ndarray
    names: tuple[str, ...]


def _fuzzy_columns(compiled: list[CompiledComparison]) -> list[tuple[str, str]]:
    cols: list[tuple[str, str]] = []
    for c in compiled:
        for _, fz in c.fuzzy:
            if (fz.left, fz.right) not in cols:
                cols.append((fz.left, fz.right))
    return cols


def pair_query(settings: Settings, source: str, left: str = "w",
               only: Collection[str] | None = None) -> tuple[str, list[CompiledComparison], list[tuple[str, str]]]:
    """SQL producing one row per (pair, register record) with each comparison's SQL level.
    `left`: the table of the pairs' left side (the wanted list; training's namesake pairs put
    register persons there); `only`: the names of the comparisons to evaluate (default all)."""
    compiled = [compile_comparison(c) for c in settings.comparisons if only is None or c.name in only]
    fcols = _fuzzy_columns(compiled)
    levels = ",\n".join(f"CAST({c.sql_level} AS TINYINT) AS g{i}" for i, c in enumerate(compiled))
    strings = "".join(f",\n l.{a} AS fl{i}, r.{b} AS fr{i}" for i, (a, b) in enumerate(fcols))
    sql = f"""
        SELECT p.pair_idx,
        {levels}{strings}
        FROM {source} p
        JOIN {left} l ON l.w_idx = p.w_idx
        JOIN reg r ON r.person_idx = p.person_idx
    """
    return sql, compiled, fcols


def _strings(column: pa.Array, rows: np.ndarray) -> np.ndarray:
    """The rows' strings for rapidfuzz (a missing one as ""), converted by Arrow in one call."""
    return pc.fill_null(column.take(pa.array(rows)), "").to_numpy(zero_copy_only=False)


def _apply_fuzzy(batch: pa.RecordBatch, levels: np.ndarray, compiled: list[CompiledComparison], fcols) -> None:
    """Lift pairs into a fuzzy band where the similarity reaches it (in place)."""
    sims: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
    for j, c in enumerate(compiled):
        if not c.fuzzy:
            continue
        first = min(k for k, _ in c.fuzzy)
        rows = np.flatnonzero(levels[:, j] > first)
        if rows.size == 0:
            continue
        for k, fz in sorted(c.fuzzy, key=lambda t: t[0]):
            key = (fz.left, fz.right)
            if key not in sims or not np.array_equal(sims[key][0], rows):
                i = fcols.index(key)
                left = _strings(batch.column(f"fl{i}"), rows)
                right = _strings(batch.column(f"fr{i}"), rows)
                score = process.cpdist(left, right, scorer=JaroWinkler.normalized_similarity, workers=-1)
                sims[key] = (rows, np.asarray(score))
            score = sims[key][1]
            current = levels[rows, j]
            hit = (score >= fz.threshold) & (current > k)
            levels[rows[hit], j] = k


def _merge_records(pair_idx: np.ndarray, levels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per pair, the best (lowest) non-null level over the person's records."""
    order = np.argsort(pair_idx, kind="stable")
    pair_sorted = pair_idx[order]
    lv = levels[order]
    lv = np.where(lv == NULL, _MERGE_NULL, lv).astype(np.int8)
    starts = np.flatnonzero(np.r_[True, pair_sorted[1:] != pair_sorted[:-1]])
    merged = np.minimum.reduceat(lv, starts, axis=0)
    merged[merged == _MERGE_NULL] = NULL
    return pair_sorted[starts], merged


def compare(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    source: str = "pairs",
    progress: Callable[[int], None] | None = None,
    left: str = "w",
    only: Collection[str] | None = None,
) -> Gammas:
    """Levels for every pair in `source` (a table with pair_idx, w_idx, person_idx). With `only`,
    just those comparisons are evaluated and the others' columns are null: training's register
    pairs read a few comparisons, and each comparison's SQL costs its share of the time."""
    sql, compiled, fcols = pair_query(settings, source, left, only)
    batch_rows = int(settings.engine.get("batch_rows", 500_000))
    reader = con.sql(sql).to_arrow_reader(batch_size=batch_rows)
    all_pairs, all_levels = [], []
    for batch in reader:
        n = batch.num_rows
        if n == 0:
            continue
        levels = np.column_stack([batch.column(f"g{i}").to_numpy(zero_copy_only=False) for i in range(len(compiled))])
        levels = levels.astype(np.int8)
        _apply_fuzzy(batch, levels, compiled, fcols)
        all_pairs.append(batch.column("pair_idx").to_numpy(zero_copy_only=False))
        all_levels.append(levels)
        if progress:
            progress(n)
    names = tuple(c.name for c in settings.comparisons)
    if not all_pairs:
        return Gammas(np.zeros(0, np.int64), np.zeros((0, len(names)), np.int8), names)
    pair_idx, merged = _merge_records(np.concatenate(all_pairs), np.vstack(all_levels))
    if len(compiled) < len(names):  # the comparisons left out stay null, in their places
        full = np.full((len(pair_idx), len(names)), NULL, np.int8)
        full[:, [names.index(c.name) for c in compiled]] = merged
        merged = full
    return Gammas(pair_idx, merged, names)
