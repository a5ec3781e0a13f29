"""Calibration measured: reliability table, ECE and the reliability diagram on crafted files whose
numbers can be counted by hand; the Platt map and its fit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from linkage.calibrate import calibrated, fit_platt, logit
from linkage.evaluate import calibration, calibration_table, expected_calibration_error, sweep
from linkage.model import Model
from linkage.plots import write_calibration_plot


@pytest.fixture
def files(tmp_path):
    # W1..W4 present (true person 1..4), W5 absent; a wanted id outside the truth (X) is left out.
    truth = pd.DataFrame({"wanted_id": ["W1", "W2", "W3", "W4", "W5"],
                          "person_id": ["1", "2", "3", "4", ""],
                          "scenarios": ["clean", "clean", "clean", "clean", "absent"]})
    matches = pd.DataFrame({
        "wanted_id": ["W1", "W2", "W3", "W3", "W4", "W5", "X"],
        "person_id": ["1", "2", "3", "9", "8", "7", "1"],
        "rank": [1, 1, 1, 2, 1, 1, 1],
        "match_probability": [0.95, 0.92, 0.15, 0.12, 0.55, 0.91, 0.99],
    })
    truth.to_csv(tmp_path / "truth.csv", index=False)
    matches.to_parquet(tmp_path / "m.parquet")
    return tmp_path / "truth.csv", tmp_path / "m.parquet"


def test_reliability_table_counts_by_band(files):
    t = calibration_table(*files, bands=10).set_index("band_low")
    # 0.9 band: W1 (true), W2 (true), W5 (false): predicted mean 0.9267, observed 2/3
    assert t.loc[0.9, "candidates"] == 3 and t.loc[0.9, "true_pairs"] == 2
    assert t.loc[0.9, "predicted"] == pytest.approx((0.95 + 0.92 + 0.91) / 3)
    assert t.loc[0.9, "observed"] == pytest.approx(2 / 3)
    # 0.1 band: W3's true pair (0.15) and its false one (0.12)
    assert t.loc[0.1, "candidates"] == 2 and t.loc[0.1, "observed"] == pytest.approx(0.5)
    assert t.loc[0.5, "observed"] == 0.0
    assert t["candidates"].sum() == 6  # X is not judged
    assert np.isnan(t.loc[0.3, "predicted"])


def test_ece_is_the_weighted_gap(files):
    t = calibration_table(*files, bands=10)
    expected = (3 * abs(2 / 3 - (0.95 + 0.92 + 0.91) / 3) + 2 * abs(0.5 - 0.135) + 1 * 0.55) / 6
    assert expected_calibration_error(t) == pytest.approx(expected)
    c = calibration(*files)
    assert c.ece == pytest.approx(expected)
    text = c.render()
    assert "expected calibration error (ECE) " in text and "0.9-1.0" in text


def test_perfectly_calibrated_scores_have_zero_ece():
    rng = np.random.default_rng(0)
    p = np.repeat([0.05, 0.25, 0.75, 0.95], 2000)
    frame = pd.DataFrame({"match_probability": p, "is_true": rng.random(len(p)) < p})
    assert expected_calibration_error(calibration_table(frame, bands=10)) < 0.02


def test_reliability_diagram_is_a_png(files, tmp_path):
    out = write_calibration_plot(*files, tmp_path / "plots")
    assert out == tmp_path / "plots" / "calibration.png"
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    named = write_calibration_plot(*files, tmp_path / "x" / "calibration_1m.png")
    assert named.is_file() and not list((tmp_path / "x").glob(".*tmp*"))


def test_threshold_table_prints_every_threshold(files):
    s = sweep(*files, thresholds=(0.5, 0.9))
    text = s.render()
    assert "0.500" in text and "0.900" in text and "best F1" in text
    row = s.table.set_index("threshold").loc[0.9]
    assert (row["predicted"], row["true_positives"], row["false_alarms_on_absent"]) == (3, 2, 1)


def _model(cal: dict) -> Model:
    return Model(wanted_match_share=0.9, comparisons=[], rules_hash="", calibration=cal)


def test_calibrated_is_identity_without_a_map():
    p = np.array([0.001, 0.5, 0.8, 0.999])
    assert np.array_equal(calibrated(p, _model({})), p)


def test_platt_map_is_monotone_and_fitted():
    # scores over-confident by a factor 2 in log-odds: the fit should find a ~ 0.5, b ~ 0
    rng = np.random.default_rng(1)
    true_logit = rng.normal(0, 3, 20000)
    y = (rng.random(len(true_logit)) < 1 / (1 + np.exp(-true_logit))).astype(float)
    a, b = fit_platt(2 * true_logit, y)
    assert a == pytest.approx(0.5, abs=0.05) and b == pytest.approx(0.0, abs=0.1)
    p = np.array([0.1, 0.5, 0.9, 0.99])
    out = calibrated(p, _model({"method": "platt", "a": a, "b": b}))
    assert np.all(np.diff(out) > 0)
    assert out[2] == pytest.approx(1 / (1 + np.exp(-(a * logit(np.array([0.9]))[0] + b))))


def test_isotonic_map_changes_only_what_the_labels_cover():
    from linkage.calibrate import fit_isotonic

    # labelled: 40 non-matches at log-odds 1..3 (the model said 0.73-0.95), 60 matches at 20
    x = np.r_[np.linspace(1, 3, 40), np.full(60, 20.0)]
    y = np.r_[np.zeros(40), np.ones(60)]
    cal = {"method": "isotonic", **fit_isotonic(x, y)}
    m = _model(cal)
    p = np.array([0.01, 0.8, 0.9, 0.999, 1 - 1e-9])
    out = calibrated(p, m)
    assert np.all(np.diff(out) >= 0)  # monotone: ranks never change
    assert out[1] < 0.1 and out[2] < 0.1  # the over-confident region the labels saw is pulled down
    assert out[3] == pytest.approx(0.999)  # no labels between 3 and 20: the model's own figure stands
    assert out[0] <= 0.01  # below every labelled block: never above the model's own figure or the first block
    assert out[4] == pytest.approx(cal["p"][-1])
