"""What the run report reads from a run directory, and nothing else: the manifest, the model file,
matches.parquet, the quarantine files and the workspace's wanted table. Aggregation is done by
DuckDB on the files, so the report costs the same whether a run wrote 500 or 5 million rows."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from linkage.errors import InputError
from linkage.matches_io import is_matches, matches_source

FLAGS = ("name_changed", "residence_changed", "birth_date_changed", "id_match")
DANGER_LEVELS = ("đặc biệt nguy hiểm", "nguy hiểm", "thường")
LEAD_COLUMNS = ("wanted_id", "person_id", "match_probability", *FLAGS, "explanation")


def _q(path: Path) -> str:
    """A path as a SQL string literal."""
    return "'" + str(path).replace("'", "''") + "'"


@dataclass
class RunFiles:
    """The run directory's files, located once (the model may live outside the run directory)."""

    run_dir: Path
    manifest: dict
    matches: Path
    model_path: Path | None
    quarantine: Path
    workspace: Path


def locate(run_dir: Path) -> RunFiles:
    """Find the run's outputs; a missing manifest or matches file is an input error naming it."""
    run_dir = Path(run_dir)
    mpath = run_dir / "manifest.json"
    if not mpath.is_file():
        raise InputError(f"{mpath}: run manifest not found (is {run_dir} the --out of a `linkage run`?)")
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"{mpath}: not valid JSON: {exc}") from None
    matches = run_dir / "matches.parquet"
    if not is_matches(matches):
        raise InputError(f"{matches}: matches file not found")
    model = run_dir / "model.json"
    if not model.is_file():
        named = (manifest.get("model") or {}).get("path")
        model = Path(named) if named and Path(named).is_file() else None
    return RunFiles(run_dir, manifest, matches, model, run_dir / "quarantine", run_dir / "workspace.duckdb")


def load_model(files: RunFiles) -> dict | None:
    """The model the run used (its m, u, weights and prior), or None when the file is gone."""
    if files.model_path is None:
        return None
    try:
        return json.loads(files.model_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def quarantine_reasons(files: RunFiles) -> pd.DataFrame:
    """Quarantined problems and rows per source and reason (columns source, reason, problems, rows)."""
    frames = []
    for path in sorted(files.quarantine.glob("*.parquet")):
        con = duckdb.connect()
        try:
            cols = {c for c in con.execute(f"SELECT * FROM read_parquet({_q(path)}) LIMIT 0").df().columns}
            row = "row_number" if "row_number" in cols else ("row" if "row" in cols else None)
            rows = f"count(DISTINCT {row})" if row else "count(*)"
            frames.append(con.execute(
                f"SELECT {_q(path.stem)} AS source, coalesce(reason, '?') AS reason, count(*) AS problems, "
                f"{rows} AS rows FROM read_parquet({_q(path)}) GROUP BY ALL ORDER BY problems DESC, reason").df())
        except duckdb.Error:
            continue
        finally:
            con.close()
    if not frames:
        return pd.DataFrame(columns=["source", "reason", "problems", "rows"])
    return pd.concat(frames, ignore_index=True)


def probabilities(files: RunFiles) -> np.ndarray:
    """Every candidate's match_probability (one float column: small even for big runs)."""
    con = duckdb.connect()
    try:
        return con.execute(f"SELECT match_probability FROM {matches_source(files.matches)}").df()[
            "match_probability"].to_numpy(dtype=float)
    finally:
        con.close()


def flag_counts(files: RunFiles, threshold: float) -> pd.DataFrame:
    """Per change flag: candidates carrying it, and those at or above the threshold."""
    con = duckdb.connect()
    try:
        cols = set(con.execute(f"SELECT * FROM {matches_source(files.matches)} LIMIT 0").df().columns)
        present = [f for f in FLAGS if f in cols]
        if not present:
            return pd.DataFrame(columns=["flag", "candidates", "above"])
        sel = ", ".join(f"count(*) FILTER (WHERE {f}) AS {f}, count(*) FILTER (WHERE {f} AND match_probability >= ?) "
                        f"AS {f}__above" for f in present)
        row = con.execute(f"SELECT {sel} FROM {matches_source(files.matches)}", [threshold] * len(present)).df().iloc[0]
    finally:
        con.close()
    return pd.DataFrame({"flag": present, "candidates": [int(row[f]) for f in present],
                         "above": [int(row[f + "__above"]) for f in present]})


def danger_counts(files: RunFiles, threshold: float) -> pd.DataFrame | None:
    """Per danger level of the wanted record: wanted records, those with a candidate, candidates,
    and candidates at or above the threshold. None when the workspace or its column is missing."""
    if not files.workspace.is_file():
        return None
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH {_q(files.workspace)} AS ws (READ_ONLY)")
        cols = set(con.execute("SELECT * FROM ws.wanted LIMIT 0").df().columns)
        if not {"wanted_id", "danger_level"} <= cols:
            return None
        return con.execute(
            f"""
            WITH w AS (SELECT CAST(wanted_id AS VARCHAR) AS wanted_id,
                              coalesce(nullif(trim(danger_level), ''), '') AS level FROM ws.wanted),
                 m AS (SELECT CAST(wanted_id AS VARCHAR) AS wanted_id, match_probability
                       FROM {matches_source(files.matches)})
            SELECT w.level,
                   count(DISTINCT w.wanted_id) AS wanted,
                   count(DISTINCT m.wanted_id) AS with_candidate,
                   count(m.wanted_id) AS candidates,
                   count(m.wanted_id) FILTER (WHERE m.match_probability >= ?) AS above
            FROM w LEFT JOIN m USING (wanted_id)
            GROUP BY w.level
            """, [threshold]).df()
    except duckdb.Error:
        return None
    finally:
        con.close()


def leads(files: RunFiles, limit: int = 50) -> pd.DataFrame:
    """The first `limit` rank-1 candidates by probability: only the columns a reader needs to find
    the pair, never the records themselves."""
    con = duckdb.connect()
    try:
        cols = set(con.execute(f"SELECT * FROM {matches_source(files.matches)} LIMIT 0").df().columns)
        sel = ", ".join(c if c in cols else f"NULL AS {c}" for c in LEAD_COLUMNS)
        return con.execute(
            f"SELECT {sel} FROM {matches_source(files.matches)} WHERE rank = 1 "
            f"ORDER BY match_probability DESC, wanted_id, person_id LIMIT {int(limit)}").df()
    finally:
        con.close()


def threshold_sweep(truth: Path, matches: Path) -> tuple[pd.DataFrame, int]:
    """Precision, recall and F1 at every distinct match_probability threshold (predicted: p >= t),
    counted on the same (wanted_id, person_id) pairs as linkage.evaluate; and the number of true
    pairs. One DuckDB join and a cumulative sum: no loop per pair."""
    con = duckdb.connect()
    try:
        pairs = con.execute(
            f"""
            WITH t AS (SELECT CAST(wanted_id AS VARCHAR) AS wanted_id, nullif(CAST(person_id AS VARCHAR), '') AS person_id
                       FROM read_csv({_q(truth)}, all_varchar=true))
            SELECT m.match_probability AS p, t.person_id IS NOT NULL AS hit
            FROM read_parquet({_q(matches)}) m
            LEFT JOIN t ON t.wanted_id = CAST(m.wanted_id AS VARCHAR) AND t.person_id = CAST(m.person_id AS VARCHAR)
            ORDER BY p DESC
            """).df()
        n_true = int(con.execute(f"SELECT count(*) FROM read_csv({_q(truth)}, all_varchar=true) "
                                 "WHERE nullif(person_id, '') IS NOT NULL").fetchall()[0][0])
    except duckdb.Error as exc:
        raise InputError(f"cannot read {truth} / {matches}: {exc}") from None
    finally:
        con.close()
    p = pairs["p"].to_numpy(dtype=float)
    tp = np.cumsum(pairs["hit"].to_numpy(dtype=bool))
    predicted = np.arange(1, len(p) + 1)
    last = np.r_[p[1:] != p[:-1], True] if len(p) else np.zeros(0, dtype=bool)  # ties go together
    precision = tp[last] / predicted[last]
    recall = tp[last] / n_true if n_true else np.zeros(int(last.sum()))
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return pd.DataFrame({"threshold": p[last], "precision": precision, "recall": recall, "f1": f1}), n_true
