"""Accuracy figures on a crafted truth and matches file, where every number can be counted by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from linkage.errors import InputError
from linkage.evaluate import evaluate


@pytest.fixture
def files(tmp_path):
    truth = pd.DataFrame(
        {
            "wanted_id": ["A", "B", "C", "D", "E"],
            "person_id": ["1", "2", "3", "", ""],
            "scenarios": ["clean", "given_changed", "given_changed|moved_province", "absent", "absent_hard_negative"],
        }
    )
    matches = pd.DataFrame(
        {
            "wanted_id": ["A", "A", "B", "B", "C", "E"],
            "person_id": ["1", "9", "8", "2", "7", "5"],
            "rank": [1, 2, 1, 2, 1, 1],
            "match_probability": [0.99, 0.01, 0.90, 0.60, 0.30, 0.95],
        }
    )
    truth.to_csv(tmp_path / "truth.csv", index=False)
    matches.to_parquet(tmp_path / "m.parquet")
    return tmp_path / "truth.csv", tmp_path / "m.parquet"


def test_counts(files):
    e = evaluate(*files, threshold=0.5)
    assert (e.predicted, e.true_positives, e.true_pairs) == (4, 2, 3)
    assert e.precision == pytest.approx(2 / 4)
    assert e.recall == pytest.approx(2 / 3)
    assert e.f1 == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    assert e.recall_at_1 == pytest.approx(1 / 3)
    assert e.recall_at_5 == pytest.approx(2 / 3)
    assert e.candidates_per_wanted == pytest.approx(6 / 5)
    assert (e.absent_wanted, e.false_alarms_on_absent) == (2, 1)


def test_by_scenario(files):
    by = evaluate(*files, threshold=0.5).by_scenario.set_index("label")
    assert by.loc["given_changed", "records"] == 2
    assert by.loc["given_changed", "recall"] == pytest.approx(0.5)
    assert by.loc["clean", "recall_at_1"] == pytest.approx(1.0)
    assert by.loc["absent_hard_negative", "false_alarm_rate"] == pytest.approx(1.0)


def test_threshold_moves_precision(files):
    e = evaluate(*files, threshold=0.95)
    assert (e.predicted, e.true_positives) == (2, 1)


def test_missing_file(tmp_path, files):
    with pytest.raises(InputError, match="not found"):
        evaluate(tmp_path / "nope.csv", files[1])
