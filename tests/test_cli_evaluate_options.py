"""The command line of issue 11's tools: `evaluate --calibration --thresholds [--plot]`,
`evaluate --labels`, `sample-for-review`, `train --labels`, on a real run of the committed sample."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from cli import app
from linkage.model import default_model, save_model
from linkage.pipeline import run
from linkage.rules import rules_hash
from linkage.settings import load_settings
from test_pipeline import write_inputs

SAMPLE = Path(__file__).resolve().parent.parent / "data_samples" / "sample"
runner = CliRunner()


@pytest.fixture(scope="module")
def matches(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("evalopts")
    model = save_model(default_model(load_settings(), rules_hash()), tmp / "model.json")
    return run(SAMPLE / "wanted.csv", SAMPLE / "residents.csv", SAMPLE / "id_cards.csv", tmp / "run",
               model_path=model).matches


def test_calibration_and_thresholds_as_json(matches, tmp_path):
    res = runner.invoke(app, ["evaluate", "--truth", str(SAMPLE / "truth.csv"), "--matches", str(matches),
                              "--calibration", "--thresholds", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert 0.0 <= data["calibration"]["ece"] <= 1.0
    assert sum(b["candidates"] for b in data["calibration"]["bands"]) > 400
    assert {row["threshold"] for row in data["thresholds"]} >= {0.5, 0.8, 0.9}
    plots = runner.invoke(app, ["evaluate", "--truth", str(SAMPLE / "truth.csv"), "--matches", str(matches),
                                "--calibration", "--plot", str(tmp_path / "pics")])
    assert plots.exit_code == 0, plots.output
    assert (tmp_path / "pics" / "calibration.png").read_bytes()[:4] == b"\x89PNG"
    assert "expected calibration error" in plots.output


def test_truth_or_labels_exactly_one(matches, tmp_path):
    neither = runner.invoke(app, ["evaluate", "--matches", str(matches)])
    assert neither.exit_code == 2 and "--truth FILE" in neither.output


def test_sample_then_labels_estimate(matches, tmp_path):
    out = tmp_path / "sample.parquet"
    res = runner.invoke(app, ["sample-for-review", "--matches", str(matches), "--n", "30", "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output) == {"path": str(out), "drawn": 30}
    sample = pd.read_parquet(out)
    truth = pd.read_csv(SAMPLE / "truth.csv", dtype=str).dropna(subset=["person_id"])
    true_pairs = set(zip(truth.wanted_id, truth.person_id))
    sample["label"] = [1.0 if p in true_pairs else 0.0 for p in zip(sample.wanted_id, sample.person_id)]
    labels = tmp_path / "labels.parquet"
    sample.to_parquet(labels)
    est = runner.invoke(app, ["evaluate", "--labels", str(labels), "--matches", str(matches), "--json"])
    assert est.exit_code == 0, est.output
    data = json.loads(est.output)
    assert data["labelled"] == 30 and 0.9 <= data["precision"] <= 1.0


def test_train_with_labels(tmp_path):
    paths = write_inputs(tmp_path)
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"wanted_id": ["W-id", "W-none"], "person_id": ["079070000022", "080085001234"],
                  "label": [1, 0]}).to_csv(labels, index=False)
    res = runner.invoke(app, ["train", "--wanted", str(paths["wanted"]), "--residents", str(paths["residents"]),
                              "--out", str(tmp_path / "w"), "--model", str(tmp_path / "m.json"),
                              "--labels", str(labels), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)  # --json: the summary alone on stdout
    assert data["model"] == str(tmp_path / "m.json")
    saved = json.loads((tmp_path / "m.json").read_text())
    assert "labels" in saved["training"]
    bad = runner.invoke(app, ["train", "--wanted", str(paths["wanted"]), "--residents", str(paths["residents"]),
                              "--out", str(tmp_path / "w2"), "--labels", str(paths["wanted"])])
    assert bad.exit_code == 2 and str(paths["wanted"]) in bad.output
