"""The analyst notebooks run top to bottom (each code cell executed in order, in one namespace),
on the committed sample, and produce what their text promises."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


def run_notebook(path: Path, env: dict[str, str], monkeypatch) -> dict:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    namespace: dict = {}
    for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
        if cell["cell_type"] == "code":
            exec(compile("".join(cell["source"]), f"{path.name}", "exec"), namespace)
    return namespace


def test_the_analyst_notebooks_are_there():
    assert {"triage_overview.ipynb", "threshold_tuning.ipynb"} <= {p.name for p in NOTEBOOKS}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path, monkeypatch):
    root = Path(__file__).resolve().parent.parent
    ns = run_notebook(path, {"LINKAGE_ROOT": str(root), "LINKAGE_NOTEBOOK_OUT": str(tmp_path)}, monkeypatch)
    if path.name == "triage_overview.ipynb":
        matches = ns["matches"]
        assert isinstance(matches, pd.DataFrame) and len(matches) > 400
        assert set(ns["flags"].index) == {"name_changed", "residence_changed", "birth_date_changed", "id_match"}
        assert ns["flags"]["id_match"] > 0
        assert (ns["first"]["name_changed"]).all()
    if path.name == "threshold_tuning.ipynb":
        _check_threshold_tuning(ns, root)


def _check_threshold_tuning(ns: dict, root: Path) -> None:
    """The sweep table counts what `linkage evaluate` counts, the chart is a real PNG, and the text
    names the rules key that really sets the threshold."""
    from linkage.evaluate import evaluate
    from linkage.settings import load_settings

    sweep, threshold = ns["sweep"], load_settings(root / "rules").threshold
    assert {"threshold", "precision", "recall", "f1", "false_alarms_on_absent", "false_alarm_rate"} <= set(sweep.columns)
    assert sweep["threshold"].is_monotonic_increasing and len(sweep) >= 10
    assert sweep["recall"].is_monotonic_decreasing and sweep["false_alarms_on_absent"].is_monotonic_decreasing
    ev = evaluate(ns["truth_path"], ns["matches_path"], threshold)
    now = sweep.set_index("threshold").loc[threshold]
    assert (now["precision"], now["recall"], now["false_alarms_on_absent"]) == pytest.approx(
        (ev.precision, ev.recall, ev.false_alarms_on_absent))
    assert ev.absent_wanted == 50 and ev.recall > 0.9  # the committed sample: 500 wanted, 50 absent
    assert ns["chart_path"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = "".join("".join(c["source"]) for c in json.loads(
        (root / "notebooks" / "threshold_tuning.ipynb").read_text(encoding="utf-8"))["cells"] if c["cell_type"] == "markdown")
    assert "scoring.threshold" in text and "rules/matching.yaml" in text
    raw = yaml.safe_load((root / "rules" / "matching.yaml").read_text(encoding="utf-8"))
    assert raw["scoring"]["threshold"] == threshold
