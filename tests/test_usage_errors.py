"""Output locations that cannot be used are usage errors: exit 2 and one line naming the path and
what is wrong, before any work starts (issue 17, item 5). And a run's inputs that leave nothing
to link stop the run (item 3)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from cli import app
from linkage.model import default_model, save_model
from linkage.rules import rules_hash
from linkage.settings import load_settings
from test_pipeline import write_inputs

SAMPLE = Path(__file__).resolve().parent.parent / "data_samples" / "sample"
runner = CliRunner()


def not_writable(tmp_path: Path) -> Path:
    """A directory this process cannot write in: a read-only folder for a normal user; for root
    (CI), /sys, which refuses new files whatever the permissions say."""
    if os.geteuid() != 0:
        d = tmp_path / "ro"
        d.mkdir()
        d.chmod(0o500)
        return d
    return Path("/sys")


@pytest.fixture
def inputs(tmp_path) -> dict[str, Path]:
    return write_inputs(tmp_path)


def one_error_line(result, *needles: str) -> None:
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    for n in needles:
        assert n in lines[0], lines[0]
    assert "Traceback" not in result.output


def test_out_naming_a_file(tmp_path, inputs):
    f = tmp_path / "a-file"
    f.write_text("x")
    for args in (
        ["ingest", "--wanted", str(inputs["wanted"]), "--out", str(f)],
        ["run", "--wanted", str(inputs["wanted"]), "--residents", str(inputs["residents"]), "--out", str(f)],
        ["audit", "--source", "wanted", str(inputs["wanted"]), "--out", str(f)],
        ["synth", "--residents", "10", "--wanted", "1", "--out", str(f)],
    ):
        one_error_line(runner.invoke(app, args), str(f), "is not a directory")


def test_out_file_naming_a_directory(tmp_path, inputs):
    one_error_line(
        runner.invoke(app, ["normalize", "--source", "wanted", str(inputs["wanted"]), "--out", str(tmp_path)]),
        str(tmp_path), "is a directory",
    )
    one_error_line(
        runner.invoke(app, ["clean", "--source", "wanted", str(inputs["wanted"]), "--out", str(tmp_path)]),
        str(tmp_path), "is a directory",
    )


def test_out_where_nothing_can_be_written(tmp_path, inputs):
    place = not_writable(tmp_path) / "linkage-out"
    for args in (
        ["ingest", "--wanted", str(inputs["wanted"]), "--out", str(place)],
        ["run", "--wanted", str(inputs["wanted"]), "--residents", str(inputs["residents"]), "--out", str(place)],
        ["audit", "--source", "wanted", str(inputs["wanted"]), "--out", str(place)],
        ["normalize", "--source", "wanted", str(inputs["wanted"]), "--out", str(place / "n.parquet")],
    ):
        one_error_line(runner.invoke(app, args), str(place), "cannot")


def test_evaluate_plot_into_an_unusable_place_prints_nothing_half_done(tmp_path):
    """The plot folder is checked first: a bad --plot is one error line, not metrics then a traceback."""
    f = tmp_path / "plots"
    f.write_text("x")
    matches = _matches(tmp_path)
    one_error_line(
        runner.invoke(app, ["evaluate", "--truth", str(SAMPLE / "truth.csv"), "--matches", str(matches), "--plot", str(f)]),
        str(f), "is not a directory",
    )


def _matches(tmp_path: Path) -> Path:
    m = pd.DataFrame({"wanted_id": ["W000001"], "person_id": ["000000000001"], "rank": [1],
                      "match_probability": [0.9], "match_weight": [5.0]})
    path = tmp_path / "matches.parquet"
    m.to_parquet(path)
    return path


def test_threshold_out_of_range(tmp_path):
    matches = _matches(tmp_path)
    for t in ("1.5", "-1"):
        res = runner.invoke(app, ["evaluate", "--truth", str(SAMPLE / "truth.csv"), "--matches", str(matches),
                                  "--threshold", t])
        one_error_line(res, "threshold")


def test_every_row_rejected_stops_the_run(tmp_path, inputs):
    blank = pd.read_csv(inputs["wanted"], dtype=str)
    blank["full_name"] = ""
    blank.to_csv(inputs["wanted"], index=False)
    model = save_model(default_model(load_settings(), rules_hash()), tmp_path / "model.json")
    args = ["run", "--wanted", str(inputs["wanted"]), "--residents", str(inputs["residents"]),
            "--out", str(tmp_path / "o")]
    for extra in (["--model", str(model)], ["--train"]):  # with a model, and when it would train
        res = runner.invoke(app, args + extra)
        assert res.exit_code == 2, res.output
        last = res.output.strip().splitlines()[-1]
        assert last.startswith(f"error: {inputs['wanted']}: no usable wanted row: 4 read, all quarantined"), last
        assert "Traceback" not in res.output
    assert not (tmp_path / "o" / "matches.parquet").exists()


def test_quarantine_share_warns_in_summary_and_manifest(tmp_path, inputs):
    df = pd.read_csv(inputs["residents"], dtype=str)
    df.loc[0, "person_id"] = ""  # 1 of 4 rows quarantined: 25 % > the default 5 %
    df.to_csv(inputs["residents"], index=False)
    model = save_model(default_model(load_settings(), rules_hash()), tmp_path / "model.json")
    res = runner.invoke(app, ["run", "--wanted", str(inputs["wanted"]), "--residents", str(inputs["residents"]),
                              "--model", str(model), "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    assert "warning: residents: 1 of 4 rows quarantined (25.0%, above the 5%" in res.output
    manifest = (tmp_path / "o" / "manifest.json").read_text(encoding="utf-8")
    assert "residents: 1 of 4 rows quarantined" in manifest
