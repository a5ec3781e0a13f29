"""Accuracy of a matches file against a truth file (as the generator writes it).

A candidate at or above the threshold is a predicted match. Precision and recall count
(wanted_id, person_id) pairs; recall@k asks whether the true person is among the first k
candidates whatever their score; false alarms are absent wanted persons with a predicted match.

Only the wanted ids the truth file covers are judged: a candidate of a wanted id the truth says
nothing about is neither right nor wrong, so it is left out and counted as left out (a truth
file for 30 of 500 wanted records must not turn 470 records' candidates into false positives).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import duckdb
import numpy as np
import pandas as pd

from linkage.errors import InputError, UsageError
from linkage.matches_io import is_matches, matches_parts, matches_source

TRUTH_COLUMNS = ("wanted_id", "person_id")  # `scenarios` is optional (labels for recall per scenario)
MATCHES_COLUMNS = ("wanted_id", "person_id", "rank", "match_probability")


@dataclass
class Evaluation:
    threshold: float
    wanted: int
    true_pairs: int
    predicted: int
    true_positives: int
    precision: float
    recall: float
    f1: float
    recall_at_1: float
    recall_at_5: float
    candidates_per_wanted: float
    absent_wanted: int
    false_alarms_on_absent: int
    by_scenario: pd.DataFrame = field(repr=False)
    left_out_candidates: int = 0  # candidates of wanted ids the truth file does not cover
    left_out_wanted: int = 0  # those wanted ids
    flags_by_scenario: pd.DataFrame | None = field(default=None, repr=False)

    def summary(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in ("by_scenario", "flags_by_scenario")}

    def render(self) -> str:
        lines = [
            f"threshold (match_probability) {self.threshold}",
            f"wanted records {self.wanted:,}; with a true person {self.true_pairs:,}; absent {self.absent_wanted:,}",
            f"left out (wanted ids not in the truth file): {self.left_out_candidates:,} candidates "
            f"of {self.left_out_wanted:,} wanted ids",
            f"predicted matches {self.predicted:,}; true positives {self.true_positives:,}",
            f"precision {self.precision:.4f}  recall {self.recall:.4f}  F1 {self.f1:.4f}",
            f"recall@1 {self.recall_at_1:.4f}  recall@5 {self.recall_at_5:.4f}",
            f"candidates per wanted {self.candidates_per_wanted:.2f}",
            f"false alarms on absent wanted persons {self.false_alarms_on_absent:,} of {self.absent_wanted:,}",
            "",
            "recall per scenario label (a record may carry several labels):",
            self.by_scenario.to_string(index=False, float_format=lambda x: f"{x:.3f}"),
        ]
        if self.flags_by_scenario is not None and len(self.flags_by_scenario):
            lines += ["", "change flags among true matches at or above the threshold, by scenario label "
                      "(change: the label means this change; flagged: share with the flag set):",
                      self.flags_by_scenario.to_string(index=False, float_format=lambda x: f"{x:.3f}")]
        return "\n".join(lines)


def check_threshold(threshold: float) -> float:
    """The threshold as a float in [0, 1]: it is a match_probability, so 1.5 or -1 would silently
    predict nothing or everything."""
    try:
        t = float(threshold)
    except (TypeError, ValueError):
        raise UsageError(f"threshold must be a match_probability between 0 and 1, got {threshold!r}") from None
    if not 0.0 <= t <= 1.0:  # also refuses NaN
        raise UsageError(f"threshold {threshold} is outside 0..1: it is a match_probability between 0 and 1")
    return t


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


def _is_parquet(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(4) == b"PAR1"


def _columns(con: duckdb.DuckDBPyConnection, source: str) -> list[str]:
    return [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()]


def _lacks(path: Path, what: str, missing: list[str], present: list[str], expected: Iterable[str]) -> InputError:
    shown = ", ".join(present[:8]) + (", ..." if len(present) > 8 else "")
    return InputError(
        f"{path}: the {what} file lacks column(s) {', '.join(missing)} "
        f"(expected {', '.join(expected)}; it has {shown or 'no columns'})"
    )


def open_truth(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """View `truth` (wanted_id, person_id or NULL when absent, scenarios) over the truth CSV, after
    checking it is one: a wrong file is named with the columns it lacks."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"truth file not found: {path}")
    if _is_parquet(path):
        raise InputError(
            f"{path}: the truth file is a Parquet file; --truth takes the truth CSV "
            "(wanted_id, person_id, scenarios). Are --truth and --matches swapped?"
        )
    source = f"read_csv('{_sql_path(path)}', all_varchar=true, header=true)"
    try:
        cols = _columns(con, source)
    except duckdb.Error:
        raise InputError(
            f"{path}: the truth file is not a readable CSV file (expected columns wanted_id, person_id, scenarios)"
        ) from None
    missing = [c for c in TRUTH_COLUMNS if c not in cols]
    if missing:
        raise _lacks(path, "truth", missing, cols, (*TRUTH_COLUMNS, "scenarios"))
    scenarios = "coalesce(scenarios, '')" if "scenarios" in cols else "''"
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW truth AS SELECT wanted_id, nullif(trim(person_id), '') AS person_id, "
        f"{scenarios} AS scenarios FROM {source} WHERE nullif(trim(wanted_id), '') IS NOT NULL"
    )


def open_matches(con: duckdb.DuckDBPyConnection, path: Path) -> list[str]:
    """View `matches` over a matches Parquet file (ids as text), after checking it is one; returns
    its columns."""
    path = Path(path)
    if not is_matches(path):
        raise InputError(f"matches file not found: {path}")
    if not _is_parquet(matches_parts(path)[0]):
        raise InputError(
            f"{path}: the matches file is not a Parquet file; --matches takes the matches.parquet "
            "written by `linkage run`. Are --truth and --matches swapped?"
        )
    source = matches_source(path)
    try:
        cols = _columns(con, source)
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{path}: the matches file is not a readable Parquet file ({first})") from None
    missing = [c for c in MATCHES_COLUMNS if c not in cols]
    if missing:
        raise _lacks(path, "matches", missing, cols, MATCHES_COLUMNS)
    con.execute(
        "CREATE OR REPLACE TEMP VIEW matches AS SELECT * REPLACE (CAST(wanted_id AS VARCHAR) AS wanted_id, "
        f"CAST(person_id AS VARCHAR) AS person_id) FROM {source}"
    )
    return cols


def open_judged(con: duckdb.DuckDBPyConnection, truth_path: Path, matches_path: Path) -> list[str]:
    """Views `truth`, `matches` and `judged`: the candidates of wanted ids the truth covers, with
    is_true (the true pair) and absent (the truth says the wanted person is in no register).
    Returns the matches file's columns."""
    open_truth(con, truth_path)
    cols = open_matches(con, matches_path)
    con.execute(
        """
        CREATE OR REPLACE TEMP VIEW judged AS
        WITH covered AS (
            SELECT wanted_id, bool_and(person_id IS NULL) AS absent FROM truth GROUP BY wanted_id
        ),
        pairs AS (SELECT DISTINCT wanted_id, person_id FROM truth WHERE person_id IS NOT NULL)
        SELECT m.*, p.person_id IS NOT NULL AS is_true, c.absent
        FROM matches m
        JOIN covered c ON c.wanted_id = m.wanted_id
        LEFT JOIN pairs p ON p.wanted_id = m.wanted_id AND p.person_id = m.person_id
        """
    )
    return cols


def left_out(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    """Candidates, and their wanted ids, that the truth file does not cover (never judged)."""
    n, w = con.execute(
        "SELECT count(*), count(DISTINCT wanted_id) FROM matches m ANTI JOIN truth t ON t.wanted_id = m.wanted_id"
    ).fetchone()
    return int(n), int(w)


def change_scenarios(rules: Path | None = None) -> dict[str, list[str]]:
    """Flag -> the truth labels that mean its change (rules/matching.yaml flags.*.truth_scenarios)."""
    from linkage.settings import load_settings

    return {f: list(spec["truth_scenarios"]) for f, spec in load_settings(rules).flags.items() if spec.get("truth_scenarios")}


def flags_table(hits: pd.DataFrame, changes: dict[str, list[str]]) -> pd.DataFrame:
    """Per flag and scenario label, among true matches at or above the threshold (`hits`: one row
    per such pair with `scenarios` and the flag columns): how many, whether the label means the
    flag's change, the share flagged (for a label that is not a change: among its records without
    the change, so the share is a false-flag rate); plus the totals 'with change' (any of the change labels)
    and 'without change' (none of them): the targets are >= 0.95 with and <= 0.02 without."""
    rows = []
    labels = hits["scenarios"].fillna("").str.split("|")
    for flag, change in changes.items():
        if flag not in hits.columns:
            continue
        flagged = hits[flag].fillna(False).astype(bool)
        has = labels.map(lambda ls, c=set(change): bool(c.intersection(ls)))
        for name, sel in (("with change", has), ("without change", ~has)):
            rows.append({"flag": flag, "scenario": name, "change": name == "with change",
                         "records": int(sel.sum()), "flagged": float(flagged[sel].mean()) if sel.any() else float("nan")})
        per = pd.DataFrame({"label": labels, "flagged": flagged, "has": has}).explode("label")
        # a change label: its records; any other label: its records without the change (false flags)
        per = per[(per["label"] != "") & (per["label"].isin(change) | ~per["has"])]
        for label, grp in per.groupby("label", sort=True):
            rows.append({"flag": flag, "scenario": label, "change": label in change,
                         "records": len(grp), "flagged": float(grp["flagged"].mean())})
    return pd.DataFrame(rows, columns=["flag", "scenario", "change", "records", "flagged"])


def evaluate(truth_path: Path, matches_path: Path, threshold: float = 0.5, rules: Path | None = None) -> Evaluation:
    threshold = check_threshold(threshold)
    con = duckdb.connect()
    try:
        cols = open_judged(con, Path(truth_path), Path(matches_path))
        truth = con.execute("SELECT wanted_id, person_id, scenarios FROM truth").df()
        matches = con.execute("SELECT wanted_id, person_id, rank, match_probability FROM judged").df()
        changes = {f: c for f, c in change_scenarios(rules).items() if f in cols}
        flag_hits = None
        if changes:
            flag_cols = ", ".join(f"j.{f}" for f in changes)
            flag_hits = con.execute(
                f"SELECT t.scenarios, {flag_cols} FROM judged j JOIN truth t USING (wanted_id, person_id) "
                f"WHERE j.is_true AND j.match_probability >= {threshold}"
            ).df()
        n_left, w_left = left_out(con)
    finally:
        con.close()
    pred = matches[matches["match_probability"] >= threshold]
    true_pairs = truth.dropna(subset=["person_id"])
    key = ["wanted_id", "person_id"]
    tp = pred.merge(true_pairs[key], on=key).shape[0]
    hit = true_pairs.merge(matches[key + ["rank", "match_probability"]], on=key, how="left")
    found = hit["match_probability"] >= threshold
    at1 = hit["rank"] == 1
    at5 = hit["rank"] <= 5
    n_true = len(true_pairs)
    precision = tp / len(pred) if len(pred) else 0.0
    recall = tp / n_true if n_true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    absent = truth[truth["person_id"].isna()]["wanted_id"]
    alarms = pred[pred["wanted_id"].isin(absent)]["wanted_id"].nunique()

    labels = hit.assign(found=found, at1=at1, label=hit["scenarios"].str.split("|")).explode("label")
    labels = labels[labels["label"] != ""]
    by = (
        labels.groupby("label")
        .agg(records=("wanted_id", "size"), recall=("found", "mean"), recall_at_1=("at1", "mean"))
        .reset_index()
        .sort_values("recall")
    )
    absent_labels = truth[truth["person_id"].isna()].assign(label=lambda d: d["scenarios"].str.split("|")).explode("label")
    absent_labels = absent_labels[absent_labels["label"] != ""]
    if len(absent_labels):
        fa = absent_labels.assign(alarm=absent_labels["wanted_id"].isin(pred["wanted_id"]))
        fa_by = fa.groupby("label").agg(records=("wanted_id", "size"), false_alarm_rate=("alarm", "mean")).reset_index()
        by = pd.concat([by, fa_by], ignore_index=True)
    return Evaluation(
        threshold=threshold,
        wanted=len(truth),
        true_pairs=n_true,
        predicted=len(pred),
        true_positives=tp,
        precision=precision,
        recall=recall,
        f1=f1,
        recall_at_1=float(at1.mean()) if n_true else 0.0,
        recall_at_5=float(at5.mean()) if n_true else 0.0,
        candidates_per_wanted=len(matches) / len(truth) if len(truth) else 0.0,
        absent_wanted=int(len(absent)),
        false_alarms_on_absent=int(alarms),
        by_scenario=by,
        left_out_candidates=n_left,
        left_out_wanted=w_left,
        flags_by_scenario=flags_table(flag_hits, changes) if flag_hits is not None else None,
    )


def _at_or_above(values: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """How many values are >= each threshold (values sorted ascending): one binary search each."""
    return len(values) - np.searchsorted(values, thresholds, side="left")


def threshold_sweep(truth_path: Path, matches_path: Path, thresholds: Iterable[float]) -> pd.DataFrame:
    """What `evaluate` counts, at many thresholds from one read of the files: one row per threshold
    with predicted, true_positives, precision, recall, f1, false_alarms_on_absent, absent_wanted and
    false_alarm_rate. For choosing `scoring.threshold` in rules/matching.yaml."""
    ts = np.array([check_threshold(t) for t in thresholds], dtype=float)
    con = duckdb.connect()
    try:
        open_judged(con, Path(truth_path), Path(matches_path))
        n_true, n_absent = con.execute(
            "SELECT count(person_id), count(*) - count(person_id) FROM truth"
        ).fetchone()
        probs = con.execute(
            """
            SELECT list(match_probability ORDER BY match_probability) FILTER (WHERE match_probability IS NOT NULL),
                   list(match_probability ORDER BY match_probability) FILTER (WHERE is_true AND match_probability IS NOT NULL)
            FROM judged
            """
        ).fetchone()
        absent_best = con.execute(
            "SELECT max(match_probability) AS p FROM judged WHERE absent GROUP BY wanted_id ORDER BY p"
        ).fetchnumpy()["p"]
    finally:
        con.close()
    all_p, true_p = (np.asarray(v or [], dtype=float) for v in probs)
    absent_best = np.asarray(absent_best, dtype=float)
    absent_best = absent_best[~np.isnan(absent_best)]
    predicted = _at_or_above(all_p, ts)
    tp = _at_or_above(true_p, ts)
    alarms = _at_or_above(absent_best, ts)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / np.maximum(predicted, 1), 0.0)
        recall = tp / n_true if n_true else np.zeros(len(ts))
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return pd.DataFrame({
        "threshold": ts,
        "predicted": predicted.astype(int),
        "true_positives": tp.astype(int),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "false_alarms_on_absent": alarms.astype(int),
        "absent_wanted": int(n_absent),
        "false_alarm_rate": alarms / n_absent if n_absent else np.zeros(len(ts)),
    })



# --- Calibration: does a probability of 0.9 come true nine times in ten? -------------------------

def judged_probabilities(truth_path: Path, matches_path: Path) -> pd.DataFrame:
    """Every judged candidate's match_probability and whether it is the true pair (the candidates
    of wanted ids the truth covers, as `evaluate` counts them)."""
    con = duckdb.connect()
    try:
        open_judged(con, Path(truth_path), Path(matches_path))
        return con.execute(
            "SELECT match_probability, is_true FROM judged WHERE match_probability IS NOT NULL"
        ).df()
    finally:
        con.close()


def calibration_table(truth: Path | pd.DataFrame, matches: Path | None = None, bands: int = 10) -> pd.DataFrame:
    """Reliability table: per probability band (equal width over 0..1), the candidates in it, their
    mean predicted probability and the observed share of true pairs, with the gap between the two.

    `truth` is the truth CSV (with `matches` the matches Parquet), or a frame of already judged
    candidates (match_probability, is_true). A calibrated model has observed ~ predicted in every
    band; a reviewer can then read 0.9 as "nine in ten of these are the person"."""
    pairs = truth if isinstance(truth, pd.DataFrame) else judged_probabilities(Path(truth), Path(matches))
    if bands < 1:
        raise UsageError(f"bands must be at least 1, got {bands}")
    p = pairs["match_probability"].to_numpy(dtype=float)
    hit = pairs["is_true"].to_numpy(dtype=bool)
    band = np.minimum((p * bands).astype(int), bands - 1)
    n = np.bincount(band, minlength=bands)
    sum_p = np.bincount(band, weights=p, minlength=bands)
    sum_hit = np.bincount(band, weights=hit.astype(float), minlength=bands)
    with np.errstate(divide="ignore", invalid="ignore"):
        predicted = np.where(n > 0, sum_p / np.maximum(n, 1), np.nan)
        observed = np.where(n > 0, sum_hit / np.maximum(n, 1), np.nan)
    edges = np.arange(bands + 1) / bands
    return pd.DataFrame({
        "band_low": edges[:-1],
        "band_high": edges[1:],
        "candidates": n.astype(int),
        "true_pairs": sum_hit.astype(int),
        "predicted": predicted,
        "observed": observed,
        "gap": observed - predicted,
    })


def expected_calibration_error(table: pd.DataFrame) -> float:
    """ECE: the candidate-weighted mean of |observed - predicted| over the bands of a
    `calibration_table` (0 = perfectly calibrated)."""
    n = table["candidates"].to_numpy(dtype=float)
    if n.sum() == 0:
        return 0.0
    gap = np.nan_to_num(np.abs(table["gap"].to_numpy(dtype=float)))
    return float((n * gap).sum() / n.sum())


@dataclass
class Calibration:
    """What `linkage evaluate --calibration` prints: the reliability table and its ECE."""

    table: pd.DataFrame
    ece: float

    def render(self) -> str:
        rows = [
            f"{r.band_low:.1f}-{r.band_high:.1f}  {r.candidates:>9,}  {r.true_pairs:>9,}  "
            + (f"{r.predicted:9.3f}  {r.observed:9.3f}  {r.gap:+8.3f}" if r.candidates else f"{'-':>9}  {'-':>9}  {'-':>8}")
            for r in self.table.itertuples()
        ]
        return "\n".join([
            "reliability (match_probability band: candidates, true pairs, mean predicted, observed share, gap)",
            f"{'band':<8}  {'candidates':>9}  {'true':>9}  {'predicted':>9}  {'observed':>9}  {'gap':>8}",
            *rows,
            f"expected calibration error (ECE) {self.ece:.4f}",
        ])


def calibration(truth_path: Path, matches_path: Path, bands: int = 10) -> Calibration:
    """Reliability table and ECE of a matches file against the truth, in one object."""
    table = calibration_table(Path(truth_path), Path(matches_path), bands)
    return Calibration(table, expected_calibration_error(table))


@dataclass
class Sweep:
    """What `linkage evaluate --thresholds` prints: `threshold_sweep`'s table."""

    table: pd.DataFrame

    def render(self) -> str:
        t = self.table
        lines = [f"{'threshold':>9}  {'predicted':>9}  {'precision':>9}  {'recall':>7}  {'F1':>6}  {'false alarms on absent':>24}"]
        for r in t.itertuples():
            lines.append(
                f"{r.threshold:9.3f}  {r.predicted:9,}  {r.precision:9.4f}  {r.recall:7.4f}  {r.f1:6.4f}  "
                f"{r.false_alarms_on_absent:>7,} of {r.absent_wanted:,} ({r.false_alarm_rate:6.1%})"
            )
        best = t.loc[t["f1"].idxmax()] if len(t) else None
        if best is not None:
            lines.append(f"best F1 {best['f1']:.4f} at threshold {best['threshold']:.3f}; "
                         "set it as scoring.threshold in rules/matching.yaml (see docs/matching.md)")
        return "\n".join(lines)


DEFAULT_THRESHOLDS = (0.3, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98, 0.99)


def sweep(truth_path: Path, matches_path: Path, thresholds: Iterable[float] = DEFAULT_THRESHOLDS) -> Sweep:
    """`threshold_sweep` wrapped for printing."""
    return Sweep(threshold_sweep(truth_path, matches_path, thresholds))
