"""Accuracy figures on a crafted truth and matches file, where every number can be counted by hand."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from cli import app
from linkage.errors import InputError, UsageError
from linkage.evaluate import evaluate, threshold_sweep


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


# --- issue 17 item 2: only the wanted ids the truth covers are judged ---------------------------


def _with_uncovered(files):
    """The same files plus candidates for wanted ids X and Y that the truth says nothing about."""
    truth, matches = files
    m = pd.read_parquet(matches)
    extra = pd.DataFrame(
        {"wanted_id": ["X", "X", "Y"], "person_id": ["1", "4", "6"], "rank": [1, 2, 1],
         "match_probability": [0.99, 0.60, 0.97]}
    )
    pd.concat([m, extra], ignore_index=True).to_parquet(matches)
    return truth, matches


def test_candidates_of_wanted_ids_without_truth_are_left_out(files):
    e = evaluate(*_with_uncovered(files), threshold=0.5)
    # the same figures as test_counts: X and Y are neither right nor wrong
    assert (e.predicted, e.true_positives, e.true_pairs, e.wanted) == (4, 2, 3, 5)
    assert e.precision == pytest.approx(2 / 4)
    assert e.candidates_per_wanted == pytest.approx(6 / 5)
    assert (e.left_out_candidates, e.left_out_wanted) == (3, 2)
    assert "left out (wanted ids not in the truth file): 3 candidates of 2 wanted ids" in e.render()


def test_nothing_left_out_when_truth_covers_all(files):
    e = evaluate(*files, threshold=0.5)
    assert (e.left_out_candidates, e.left_out_wanted) == (0, 0)


@pytest.mark.parametrize("threshold", [1.5, -1, float("nan")])
def test_threshold_outside_0_1_is_refused(files, threshold):
    with pytest.raises(UsageError, match="threshold .* outside 0..1"):
        evaluate(*files, threshold=threshold)
    assert UsageError.exit_code == 2


@pytest.mark.parametrize("threshold", ["1.5", "-1"])
def test_cli_refuses_threshold(files, threshold):
    truth, matches = files
    res = CliRunner().invoke(app, ["evaluate", "--truth", str(truth), "--matches", str(matches),
                                   "--threshold", threshold])
    assert res.exit_code == 2, res.output
    assert "threshold" in res.output and "between 0 and 1" in res.output


def test_threshold_bounds_are_accepted(files):
    assert evaluate(*files, threshold=0.0).predicted == 6
    assert evaluate(*files, threshold=1.0).predicted == 0


# --- issue 17 item 6: a wrong file is named with what it lacks ----------------------------------


def test_truth_without_person_id_names_file_and_column(tmp_path, files):
    wanted = tmp_path / "wanted.csv"
    wanted.write_text("wanted_id,full_name,birth_date\nA,Nguyễn Văn Hùng,12/05/1985\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        evaluate(wanted, files[1])
    msg = str(err.value)
    assert str(wanted) in msg and "lacks column(s) person_id" in msg
    assert "Binder" not in msg


def test_swapped_files_are_named(files):
    truth, matches = files
    with pytest.raises(InputError, match=r"truth file is a Parquet file.*swapped") as err:
        evaluate(matches, truth)
    assert str(matches) in str(err.value)
    res = CliRunner().invoke(app, ["evaluate", "--truth", str(matches), "--matches", str(truth)])
    assert res.exit_code == 2
    assert "swapped" in res.output and "search space" not in res.output.lower() and "SELECT" not in res.output


def test_matches_not_parquet_is_named(tmp_path, files):
    truth, _ = files
    csv = tmp_path / "matches.csv"
    csv.write_text("wanted_id,person_id,rank,match_probability\nA,1,1,0.9\n", encoding="utf-8")
    with pytest.raises(InputError, match="not a Parquet file") as err:
        evaluate(truth, csv)
    assert str(csv) in str(err.value)


def test_matches_without_probability_names_column(tmp_path, files):
    truth, matches = files
    pd.read_parquet(matches).drop(columns=["match_probability"]).to_parquet(matches)
    with pytest.raises(InputError, match=r"matches file lacks column\(s\) match_probability") as err:
        evaluate(truth, matches)
    assert str(matches) in str(err.value)


def test_truth_not_csv_is_named(tmp_path, files):
    binary = tmp_path / "truth.csv"
    binary.write_bytes(b"")
    with pytest.raises(InputError, match="truth file") as err:
        evaluate(binary, files[1])
    assert str(binary) in str(err.value)


# --- issue 15 item 3: the threshold sweep counts what evaluate counts ---------------------------


def test_threshold_sweep_agrees_with_evaluate(files):
    truth, matches = _with_uncovered(files)
    ts = [0.0, 0.3, 0.5, 0.6, 0.9, 0.95, 0.99, 1.0]
    sweep = threshold_sweep(truth, matches, ts).set_index("threshold")
    assert list(sweep.index) == ts
    for t in ts:
        e = evaluate(truth, matches, t)
        row = sweep.loc[t]
        assert (row["predicted"], row["true_positives"], row["false_alarms_on_absent"]) == (
            e.predicted, e.true_positives, e.false_alarms_on_absent)
        assert row["precision"] == pytest.approx(e.precision)
        assert row["recall"] == pytest.approx(e.recall)
        assert row["f1"] == pytest.approx(e.f1)
        assert row["absent_wanted"] == e.absent_wanted


def test_threshold_sweep_by_hand(files):
    s = threshold_sweep(*files, [0.5, 0.95]).set_index("threshold")
    # 0.5: A-1 (true), B-8, B-2 (true), E-5 (absent: alarm); 0.95: A-1, E-5
    assert s.loc[0.5, ["predicted", "true_positives", "false_alarms_on_absent"]].tolist() == [4, 2, 1]
    assert s.loc[0.95, ["predicted", "true_positives", "false_alarms_on_absent"]].tolist() == [2, 1, 1]
    assert s.loc[0.95, "false_alarm_rate"] == pytest.approx(1 / 2)


def test_threshold_sweep_refuses_bad_threshold(files):
    with pytest.raises(UsageError):
        threshold_sweep(*files, [0.5, 2.0])
