"""`linkage evaluate --plot`: the precision-recall points against hand counts, and real PNG files
from a real truth CSV and matches Parquet."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from cli import app
from linkage.errors import InputError, UsageError
from linkage.evaluate import evaluate
from linkage.plots import FILES, labelled_pairs, pr_curve, write_plots

TRUTH = "wanted_id,person_id,scenarios\nW1,P1,clean\nW2,P2,typo_edit\nW3,P3,typo_edit|moved_province\nW4,,absent\n"

# (wanted, person, probability, match_weight): true pairs are W1-P1, W2-P2, W3-P3.
MATCHES = [
    ("W1", "P1", 0.99, 12.0),   # true
    ("W2", "P9", 0.90, 8.0),    # false, outranks the true one
    ("W2", "P2", 0.60, 3.0),    # true
    ("W3", "P3", 0.60, 2.5),    # true, tied probability with the one above
    ("W4", "P7", 0.30, -1.0),   # false alarm candidate for an absent person
]


def _write(tmp_path, with_weight: bool = True):
    truth = tmp_path / "truth.csv"
    truth.write_text(TRUTH, encoding="utf-8")
    cols = {
        "wanted_id": [m[0] for m in MATCHES],
        "person_id": [m[1] for m in MATCHES],
        "rank": [1, 1, 2, 1, 1],
        "match_probability": [m[2] for m in MATCHES],
    }
    if with_weight:
        cols["match_weight"] = [m[3] for m in MATCHES]
    matches = tmp_path / "matches.parquet"
    pq.write_table(pa.table(cols), matches)
    return truth, matches


def test_pr_curve_counts_by_hand(tmp_path):
    truth, matches = _write(tmp_path)
    pairs, n_true = labelled_pairs(truth, matches)
    assert n_true == 3
    assert sorted(pairs["is_true"].tolist()) == [False, False, True, True, True]
    curve = pr_curve(pairs, n_true).set_index("threshold")
    # t=0.99: W1 only -> P 1, R 1/3; t=0.9: + false -> P 1/2; t=0.6: both ties enter at once -> 3/4, R 1
    assert curve.loc[0.99, "precision"] == 1.0 and curve.loc[0.99, "recall"] == pytest.approx(1 / 3)
    assert curve.loc[0.90, "precision"] == pytest.approx(1 / 2)
    assert curve.loc[0.60, "precision"] == pytest.approx(3 / 4) and curve.loc[0.60, "recall"] == 1.0
    assert curve.loc[0.30, "precision"] == pytest.approx(3 / 5)
    assert len(curve) == 4  # one point per distinct threshold


@pytest.mark.parametrize("threshold", [0.3, 0.6, 0.9])
def test_curve_agrees_with_evaluate(tmp_path, threshold):
    truth, matches = _write(tmp_path)
    pairs, n_true = labelled_pairs(truth, matches)
    curve = pr_curve(pairs, n_true)
    point = curve[curve["threshold"] >= threshold].iloc[-1]
    ev = evaluate(truth, matches, threshold)
    assert point["precision"] == pytest.approx(ev.precision)
    assert point["recall"] == pytest.approx(ev.recall)


def test_score_without_match_weight_is_log_odds(tmp_path):
    truth, matches = _write(tmp_path, with_weight=False)
    pairs, _ = labelled_pairs(truth, matches)
    got = dict(zip(pairs["match_probability"].round(2), pairs["score"]))
    assert got[0.9] == pytest.approx(math.log2(0.9 / 0.1))
    assert got[0.3] < 0


def _png_shape(path):
    import matplotlib.image as mpimg

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return mpimg.imread(path).shape


def test_write_plots_makes_four_pngs(tmp_path):
    truth, matches = _write(tmp_path)
    paths = write_plots(truth, matches, tmp_path / "plots", threshold=0.5)
    assert set(paths) == set(FILES)
    for kind, path in paths.items():
        assert path.name == FILES[kind] and path.parent == tmp_path / "plots"
        h, w, _ = _png_shape(path)
        assert h > 200 and w > 200
    assert not list((tmp_path / "plots").glob(".*tmp*"))  # no temporary file left behind


def test_plots_differ_with_the_data(tmp_path):
    """The picture is drawn from the data: another matches file gives another image."""
    import matplotlib.image as mpimg

    truth, matches = _write(tmp_path)
    a = write_plots(truth, matches, tmp_path / "a", threshold=0.5)
    pq.write_table(pq.read_table(matches).slice(0, 2), matches)
    b = write_plots(truth, matches, tmp_path / "b", threshold=0.5)
    for kind in FILES:
        ia, ib = mpimg.imread(a[kind]), mpimg.imread(b[kind])
        assert ia.shape != ib.shape or not np.array_equal(ia, ib)


def test_cli_evaluate_plot(tmp_path):
    truth, matches = _write(tmp_path)
    out = tmp_path / "pics"
    res = CliRunner().invoke(app, ["evaluate", "--truth", str(truth), "--matches", str(matches),
                                   "--threshold", "0.5", "--plot", str(out)])
    assert res.exit_code == 0, res.output
    assert "precision 0.7500" in res.output
    for name in FILES.values():
        assert (out / name).is_file()
        assert f"plot: {out / name}" in res.output.replace("\n", "")


def test_cli_evaluate_plot_missing_matches(tmp_path):
    truth, _ = _write(tmp_path)
    res = CliRunner().invoke(app, ["evaluate", "--truth", str(truth), "--matches", str(tmp_path / "nope.parquet"),
                                   "--plot", str(tmp_path / "pics")])
    assert res.exit_code != 0
    assert "matches file not found" in res.output
    assert not (tmp_path / "pics").exists()


# --- issue 17 items 2 and 6: the pictures judge what evaluate judges, and name a wrong file ----


def _with_uncovered(tmp_path):
    """The files above plus a wanted id (W9) the truth says nothing about."""
    truth, matches = _write(tmp_path)
    t = pq.read_table(matches)
    extra = pa.table({"wanted_id": ["W9", "W9"], "person_id": ["P1", "P5"], "rank": [1, 2],
                      "match_probability": [0.99, 0.95], "match_weight": [14.0, 9.0]})
    pq.write_table(pa.concat_tables([t, extra.cast(t.schema)]), matches)
    return truth, matches


def test_pairs_of_wanted_ids_without_truth_are_left_out(tmp_path):
    truth, matches = _with_uncovered(tmp_path)
    pairs, n_true = labelled_pairs(truth, matches)
    assert len(pairs) == len(MATCHES) and n_true == 3
    curve = pr_curve(pairs, n_true)
    for t in (0.3, 0.6, 0.9):
        point = curve[curve["threshold"] >= t].iloc[-1]
        ev = evaluate(truth, matches, t)
        assert point["precision"] == pytest.approx(ev.precision)
        assert point["recall"] == pytest.approx(ev.recall)


def test_write_plots_names_truth_without_person_id(tmp_path):
    _, matches = _write(tmp_path)
    wanted = tmp_path / "wanted.csv"
    wanted.write_text("wanted_id,full_name\nW1,Trần Thị Mai\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        write_plots(wanted, matches, tmp_path / "pics", threshold=0.5)
    assert str(wanted) in str(err.value) and "lacks column(s) person_id" in str(err.value)
    assert "Binder" not in str(err.value)
    assert not (tmp_path / "pics").exists()


def test_labelled_pairs_names_truth_without_person_id(tmp_path):
    _, matches = _write(tmp_path)
    wanted = tmp_path / "wanted.csv"
    wanted.write_text("wanted_id,full_name\nW1,Trần Thị Mai\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"lacks column\(s\) person_id"):
        labelled_pairs(wanted, matches)


def test_write_plots_names_swapped_files(tmp_path):
    truth, matches = _write(tmp_path)
    with pytest.raises(InputError, match="swapped"):
        write_plots(matches, truth, tmp_path / "pics", threshold=0.5)
    with pytest.raises(InputError, match="not a Parquet file"):
        labelled_pairs(truth, truth)
    assert not (tmp_path / "pics").exists()


def test_write_plots_refuses_threshold_outside_0_1(tmp_path):
    truth, matches = _write(tmp_path)
    with pytest.raises(UsageError):
        write_plots(truth, matches, tmp_path / "pics", threshold=1.5)
    assert not (tmp_path / "pics").exists()
