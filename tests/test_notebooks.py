"""The analyst notebooks run top to bottom (each code cell executed in order, in one namespace),
on the committed sample, and produce what their text promises."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


def run_notebook(path: Path, env: dict[str, str], monkeypatch) -> dict:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    namespace: dict = {}
    for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
        if cell["cell_type"] == "code":
            exec(compile("".join(cell["source"]), f"{path.name}", "exec"), namespace)
    return namespace


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
