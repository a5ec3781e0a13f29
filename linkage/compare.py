"""Comparison stage: the level of every comparison for every candidate pair, as an int8 matrix.

DuckDB evaluates each comparison's SQL levels over Arrow batches of pair rows; rapidfuzz's
vectorised `cpdist` scores the string-similarity bands, only for rows the SQL levels left below
a fuzzy band. A person with several register records (a resident row and a card row) gets, per
comparison, the best level any of its records reaches, so no field is counted twice.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Callable, Collection, Iterator

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
_ROUNDING = 1e-6  # more than float32's step near 1 (6e-8)
_PARALLEL_PAIRS = 10_000  # distinct pairs of strings worth rapidfuzz's threads


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
               only: Collection[str] | None = None,
               register: str = "reg") -> tuple[str, list[CompiledComparison], list[tuple[str, str]]]:
    """SQL producing one row per (pair, register record) with each comparison's SQL level.
    `left`: the table of the pairs' left side (the wanted list; training's namesake pairs put
    register persons there); `only`: the names of the comparisons to evaluate (default all);
    `register`: the table of the right side's records (training reads a copy of its persons' rows)."""
    compiled = [compile_comparison(c) for c in settings.comparisons if only is None or c.name in only]
    fcols = _fuzzy_columns(compiled)
    levels = ",\n".join(f"CAST({c.sql_level} AS TINYINT) AS g{i}" for i, c in enumerate(compiled))
    strings = "".join(f",\n l.{a} AS fl{i}, r.{b} AS fr{i}" for i, (a, b) in enumerate(fcols))
    sql = f"""
        SELECT p.pair_idx,
        {levels}{strings}
        FROM {register} r
        JOIN {source} p ON r.person_idx = p.person_idx
        JOIN {left} l ON l.w_idx = p.w_idx
    """
    return sql, compiled, fcols


def pair_columns(settings: Settings, only: Collection[str] | None = None) -> list[str]:
    """The prepared columns pair_query reads on either side (a comparison's SQL names them `l.`
    and `r.`; the fuzzy bands' strings too), without the join keys."""
    sql, _, _ = pair_query(settings, "_", only=only)
    return sorted(set(re.findall(r"\b[lr]\.(\w+)", sql)) - {"w_idx", "person_idx"})


@contextmanager
def _joins_as_written(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """DuckDB plans the next query with the joins in the order written (its join-order optimizer
    off), then the setting goes back. Why: for pair_query it hashed the pairs joined to the left
    side's wide rows (one per pair, 500k wanted rows of 60 columns for training's random pairs,
    spilled under a 1 GB limit) and probed it with the register; written order hashes the narrow
    pairs, then the left table, and streams the register past both (docs/benchmarks.md, tenth step)."""
    before = con.execute("SELECT current_setting('disabled_optimizers')").fetchall()[0][0]
    off = ",".join(x for x in [before, "join_order"] if x)
    con.execute(f"SET disabled_optimizers = '{off}'")
    try:
        yield
    finally:
        con.execute(f"SET disabled_optimizers = '{before}'")


def _codes(column: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """A string column as codes into its distinct values (a missing one as ""): Arrow hashes the
    strings in its buffers, and only the distinct values become Python strings for rapidfuzz."""
    encoded = pc.dictionary_encode(pc.fill_null(column, ""))
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    return codes, encoded.dictionary.to_numpy(zero_copy_only=False)


def similarity(left: pa.Array, right: pa.Array, cutoff: float) -> np.ndarray:
    """Jaro-Winkler of each row's two strings, computed once per distinct pair of values (a wanted
    record's name recurs across its candidates, a family name across the register); a score below
    `cutoff` comes back as 0 (no band is that low: rapidfuzz may stop early). Scores are rapidfuzz's
    float32: the cutoff sits a little under the band, as a score rounded up to it still reaches it."""
    lc, lv = _codes(left)
    rc, rv = _codes(right)
    pairs, inverse = np.unique(lc * len(rv) + rc, return_inverse=True)
    # rapidfuzz's threads for a batch; one thread for the desk's few pairs (a pool per call cost
    # more than the scores)
    workers = -1 if len(pairs) >= _PARALLEL_PAIRS else 1
    score = process.cpdist(lv[pairs // len(rv)], rv[pairs % len(rv)], scorer=JaroWinkler.normalized_similarity,
                           score_cutoff=cutoff - _ROUNDING, workers=workers)
    return np.asarray(score)[inverse]


def _cutoffs(compiled: list[CompiledComparison]) -> dict[tuple[str, str], float]:
    """Per pair of string columns, the lowest band any comparison reads from its similarity."""
    out: dict[tuple[str, str], float] = {}
    for c in compiled:
        for _, fz in c.fuzzy:
            key = (fz.left, fz.right)
            out[key] = min(out.get(key, 1.0), fz.threshold)
    return out


def _apply_fuzzy(batch: pa.RecordBatch, levels: np.ndarray, compiled: list[CompiledComparison], fcols) -> None:
    """Lift pairs into a fuzzy band where the similarity reaches it (in place)."""
    sims: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
    cutoffs = _cutoffs(compiled)
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
                take = pa.array(rows)
                score = similarity(batch.column(f"fl{i}").take(take), batch.column(f"fr{i}").take(take), cutoffs[key])
                sims[key] = (rows, score)
            score = sims[key][1]
            current = levels[rows, j]
            hit = (score >= fz.threshold) & (current > k)
            levels[rows[hit], j] = k


def _merge_records(pair_idx: np.ndarray, levels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per pair, the best (lowest) non-null level over the person's records (new arrays: no view
    into the inputs). Merging merged rows again gives the same levels."""
    order = np.argsort(pair_idx, kind="stable")
    pair_sorted = pair_idx[order]
    lv = levels[order].astype(np.int8, copy=False)  # a copy already (the rows reordered)
    lv[lv == NULL] = _MERGE_NULL
    starts = np.flatnonzero(np.r_[True, pair_sorted[1:] != pair_sorted[:-1]])
    merged = np.minimum.reduceat(lv, starts, axis=0)
    merged[merged == _MERGE_NULL] = NULL
    return pair_sorted[starts], merged


def _read_ahead(reader: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
    """The reader's batches, the next one read (DuckDB evaluating the levels' SQL, without the
    GIL) while the caller works on the current one (rapidfuzz and numpy): the two cores overlap."""
    def next_batch() -> pa.RecordBatch | None:
        try:
            return reader.read_next_batch()
        except StopIteration:
            return None

    with ThreadPoolExecutor(max_workers=1) as pool:
        ahead = pool.submit(next_batch)
        while (batch := ahead.result()) is not None:
            ahead = pool.submit(next_batch)
            yield batch
            del batch


def _levels_of(reader: pa.RecordBatchReader, compiled: list[CompiledComparison], fcols,
               progress: Callable[[int], None] | None) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Each batch's levels (SQL, then the fuzzy bands), merged per pair within the batch."""
    all_pairs, all_levels = [], []
    for batch in _read_ahead(reader):
        n = batch.num_rows
        if n == 0:
            continue
        levels = np.column_stack([batch.column(f"g{i}").to_numpy(zero_copy_only=False) for i in range(len(compiled))])
        levels = levels.astype(np.int8)
        _apply_fuzzy(batch, levels, compiled, fcols)
        # merged within the batch, then again across batches (a person's records may fall in two):
        # fewer rows kept, and no view into the batch, whose strings would stay alive with it
        pairs, merged = _merge_records(batch.column("pair_idx").to_numpy(zero_copy_only=False), levels)
        all_pairs.append(pairs)
        all_levels.append(merged)
        del batch, levels
        if progress:
            progress(n)
    return all_pairs, all_levels


def compare(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    source: str = "pairs",
    progress: Callable[[int], None] | None = None,
    left: str = "w",
    only: Collection[str] | None = None,
    register: str = "reg",
) -> Gammas:
    """Levels for every pair in `source` (a table with pair_idx, w_idx, person_idx). With `only`,
    just those comparisons are evaluated and the others' columns are null: training's register
    pairs read a few comparisons, and each comparison's SQL costs its share of the time."""
    sql, compiled, fcols = pair_query(settings, source, left, only, register)
    batch_rows = int(settings.engine.get("batch_rows", 500_000))
    # the wanted list is small beside its pairs: hashed, not probed; training's register persons
    # on the left (ns_left, a view over the register) are not, and keep DuckDB's own order
    with _joins_as_written(con) if left == "w" else nullcontext():  # planned as the reader starts
        reader = con.sql(sql).to_arrow_reader(batch_size=batch_rows)
        all_pairs, all_levels = _levels_of(reader, compiled, fcols, progress)
    names = tuple(c.name for c in settings.comparisons)
    if not all_pairs:
        return Gammas(np.zeros(0, np.int64), np.zeros((0, len(names)), np.int8), names)
    pair_idx, merged = _merge_records(np.concatenate(all_pairs), np.vstack(all_levels))
    del all_pairs, all_levels
    if len(compiled) < len(names):  # the comparisons left out stay null, in their places
        full = np.full((len(pair_idx), len(names)), NULL, np.int8)
        full[:, [names.index(c.name) for c in compiled]] = merged
        merged = full
    return Gammas(pair_idx, merged, names)
