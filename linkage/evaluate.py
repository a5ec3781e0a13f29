"""Accuracy of a matches file against a truth file (as the generator writes it).

A candidate at or above the threshold is a predicted match. Precision and recall count
(wanted_id, person_id) pairs; recall@k asks whether the true person is among the first k
candidates whatever their score; false alarms are absent wanted persons with a predicted match.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from linkage.errors import InputError


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

    def summary(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "by_scenario"}

    def render(self) -> str:
        lines = [
            f"threshold (match_probability) {self.threshold}",
            f"wanted records {self.wanted:,}; with a true person {self.true_pairs:,}; absent {self.absent_wanted:,}",
            f"predicted matches {self.predicted:,}; true positives {self.true_positives:,}",
            f"precision {self.precision:.4f}  recall {self.recall:.4f}  F1 {self.f1:.4f}",
            f"recall@1 {self.recall_at_1:.4f}  recall@5 {self.recall_at_5:.4f}",
            f"candidates per wanted {self.candidates_per_wanted:.2f}",
            f"false alarms on absent wanted persons {self.false_alarms_on_absent:,} of {self.absent_wanted:,}",
            "",
            "recall per scenario label (a record may carry several labels):",
            self.by_scenario.to_string(index=False, float_format=lambda x: f"{x:.3f}"),
        ]
        return "\n".join(lines)


def _read(path: Path, what: str, sql: str, con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    if not Path(path).is_file():
        raise InputError(f"{what} file not found: {path}")
    try:
        return con.execute(sql.format(path=str(path).replace("'", "''"))).df()
    except duckdb.Error as exc:
        raise InputError(f"{path}: cannot read the {what} file: {exc}") from None


def evaluate(truth_path: Path, matches_path: Path, threshold: float = 0.5) -> Evaluation:
    con = duckdb.connect()
    truth = _read(
        truth_path,
        "truth",
        "SELECT CAST(wanted_id AS VARCHAR) AS wanted_id, nullif(CAST(person_id AS VARCHAR), '') AS person_id, "
        "coalesce(CAST(scenarios AS VARCHAR), '') AS scenarios FROM read_csv('{path}', all_varchar=true)",
        con,
    )
    matches = _read(
        matches_path,
        "matches",
        "SELECT wanted_id, person_id, rank, match_probability FROM read_parquet('{path}')",
        con,
    )
    missing = set(["wanted_id", "person_id", "scenarios"]) - set(truth.columns)
    if missing:
        raise InputError(f"{truth_path}: missing column(s) {sorted(missing)}")
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
    by = (
        labels.groupby("label")
        .agg(records=("wanted_id", "size"), recall=("found", "mean"), recall_at_1=("at1", "mean"))
        .reset_index()
        .sort_values("recall")
    )
    absent_labels = truth[truth["person_id"].isna()].assign(label=lambda d: d["scenarios"].str.split("|")).explode("label")
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
    )
