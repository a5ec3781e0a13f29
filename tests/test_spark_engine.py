"""Parity of the Spark engine (local mode) with the DuckDB engine on the committed sample: the
same candidate pairs and blocking counts, the same matches (pairs, ranks, every column;
probabilities within 1e-9) for `run` with a given model, and the same model from `train` (m and
u within 1e-9: both engines hand the same levels to the same training code)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from linkage.errors import BudgetError
from linkage.model import load_model, save_model
from linkage.pipeline import compare_pairs, fit_model, prepare_workspace, run
from linkage.settings import load_settings
from spark_session import spark  # noqa: F401  (the shared session fixture)

SAMPLE = Path(__file__).resolve().parents[1] / "data_samples" / "sample"
RULES = Path(__file__).resolve().parents[1] / "rules"
TOL = 1e-9


def _inputs(tmp: Path) -> dict[str, Path]:
    """A frozen copy of the sample, so both engines read the same bytes."""
    tmp.mkdir(parents=True, exist_ok=True)
    for name in ("wanted.csv", "residents.csv", "id_cards.csv"):
        shutil.copy(SAMPLE / name, tmp / name)
    return {"wanted": tmp / "wanted.csv", "residents": tmp / "residents.csv", "id_cards": tmp / "id_cards.csv"}


def _train(files: dict[str, Path], out: Path, engine: str):
    ctx = prepare_workspace(files["wanted"], files["residents"], files["id_cards"], out, engine=engine)
    try:
        return fit_model(ctx, compare_pairs(ctx)), ctx.counts
    finally:
        ctx.con.close()


@pytest.fixture(scope="module")
def trained(tmp_path_factory, spark):  # noqa: F811
    tmp = tmp_path_factory.mktemp("spark_parity")
    files = _inputs(tmp / "in")
    duck, duck_counts = _train(files, tmp / "train_duckdb", "duckdb")
    sp, sp_counts = _train(files, tmp / "train_spark", "spark")
    model_path = save_model(duck, tmp / "model.json")
    return {"tmp": tmp, "files": files, "duckdb": duck, "spark": sp, "model": model_path,
            "counts": {"duckdb": duck_counts, "spark": sp_counts}}


@pytest.fixture(scope="module")
def runs(trained):
    tmp, files = trained["tmp"], trained["files"]
    out = {}
    for engine in ("duckdb", "spark"):
        out[engine] = run(files["wanted"], files["residents"], files["id_cards"], tmp / f"run_{engine}",
                          model_path=trained["model"], engine=engine)
    return out


def test_train_gives_the_same_model(trained):
    duck, sp = trained["duckdb"], trained["spark"]
    assert [c.name for c in duck.comparisons] == [c.name for c in sp.comparisons]
    for cd, cs in zip(duck.comparisons, sp.comparisons):
        for ld, ls in zip(cd.levels, cs.levels):
            assert ld.id == ls.id
            assert abs(ld.m - ls.m) <= TOL, (cd.name, ld.id, ld.m, ls.m)
            assert abs(ld.u - ls.u) <= TOL, (cd.name, ld.id, ld.u, ls.u)
            assert ld.m_source == ls.m_source and ld.u_source == ls.u_source
            given_d, given_s = ld.u_given, ls.u_given
            assert set(given_d) == set(given_s), (cd.name, ld.id)  # conditional u (model.conditional_u)
            assert all(abs(given_d[k] - given_s[k]) <= TOL for k in given_d), (cd.name, ld.id, given_d, given_s)
    assert abs(duck.wanted_match_share - sp.wanted_match_share) <= TOL
    assert duck.training["candidate_pairs"] == sp.training["candidate_pairs"] > 0
    assert duck.training["persons"] == sp.training["persons"]


def test_blocking_counts_are_the_same(trained):
    duck, sp = trained["counts"]["duckdb"], trained["counts"]["spark"]
    assert sp["engine"]["name"] == "spark"
    assert duck["tables"] == sp["tables"]
    assert duck["candidate_pairs"] == sp["candidate_pairs"] > 0
    assert duck["blocking"] == sp["blocking"]  # per rule: key-join pairs, hot keys, pairs, new, cumulative


def test_run_with_a_given_model_gives_the_same_matches(runs):
    a = pd.read_parquet(runs["duckdb"].matches)
    b = pd.read_parquet(runs["spark"].matches)
    assert len(a) > 100 and list(a.columns) == list(b.columns)
    assert list(zip(a.wanted_id, a.person_id, a["rank"])) == list(zip(b.wanted_id, b.person_id, b["rank"]))
    for col in ("match_probability", "pair_probability", "match_weight"):
        assert np.allclose(a[col], b[col], rtol=0, atol=TOL), col
    same = [c for c in a.columns if c not in ("match_probability", "pair_probability", "match_weight")]
    pd.testing.assert_frame_equal(a[same], b[same])
    assert runs["duckdb"].run_id == runs["spark"].run_id  # same inputs, rules and model


def test_run_manifest_names_the_engine(runs):
    manifest = json.loads(Path(runs["spark"].manifest).read_text(encoding="utf-8"))
    assert manifest["counts"]["engine"]["name"] == "spark"
    assert manifest["counts"]["engine"]["master"].startswith("local")
    assert "engine" not in json.loads(Path(runs["duckdb"].manifest).read_text(encoding="utf-8"))["counts"]


def test_pair_budget_stops_spark_blocking_naming_rule_and_key(tmp_path, trained):
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    text = (rules / "matching.yaml").read_text(encoding="utf-8")
    (rules / "matching.yaml").write_text(text.replace("pair_budget: 60000000", "pair_budget: 10"), encoding="utf-8")
    assert load_settings(rules).pair_budget == 10
    files = {}
    for name, path in trained["files"].items():  # the first 2,000 rows of each file are enough here
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)[:2001]
        files[name] = tmp_path / path.name
        files[name].write_text("".join(lines), encoding="utf-8")
    with pytest.raises(BudgetError, match=r"blocking rule '\w+' would produce [\d,]+ candidate pairs.*hottest key"):
        prepare_workspace(files["wanted"], files["residents"], files["id_cards"], tmp_path / "out", rules=rules,
                          engine="spark")
