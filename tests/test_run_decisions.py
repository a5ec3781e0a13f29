"""`linkage run --decisions STORE`: every candidate carries the reviewers' live decision, and a
pair decided not_match or unsure is marked for review again only when its evidence changed
materially (issue 9, item 4). On a real SQLite file and a real PostgreSQL server."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from cli import app
from linkage.model import default_model, save_model
from linkage.pipeline import run
from linkage.review.store import Store
from linkage.rules import rules_hash
from linkage.settings import load_settings
from test_pipeline import write_inputs


@pytest.fixture(scope="module")
def first(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dec")
    paths = write_inputs(tmp)
    model = save_model(default_model(load_settings(), rules_hash()), tmp / "model.json")
    res = run(paths["wanted"], paths["residents"], paths["id_cards"], tmp / "first", model_path=model)
    return paths, model, pd.read_parquet(res.matches)


def test_decisions_flow_into_the_run(first, store_url, tmp_path):
    paths, model, matches = first
    assert "decision" not in matches.columns  # no store given: no decision column
    top = matches.sort_values("match_weight", ascending=False).reset_index(drop=True)
    assert len(top) >= 3
    a, b, c = top.iloc[0], top.iloc[1], top.iloc[2]
    store = Store.open(store_url)
    store.decide(a.wanted_id, a.person_id, "match", "rv1", match_weight=float(a.match_weight))
    store.decide(b.wanted_id, b.person_id, "not_match", "rv1", match_weight=float(b.match_weight) - 5.0)
    store.decide(c.wanted_id, c.person_id, "unsure", "rv2", match_weight=float(c.match_weight))
    store.close()
    res = run(paths["wanted"], paths["residents"], paths["id_cards"], tmp_path / "second", model_path=model,
              decisions=store_url)
    out = pd.read_parquet(res.matches).set_index(["wanted_id", "person_id"])
    assert out.loc[(a.wanted_id, a.person_id), "decision"] == "match"
    assert out.loc[(b.wanted_id, b.person_id), "decision"] == "not_match"
    assert "+5.0 bits" in out.loc[(b.wanted_id, b.person_id), "requeue_reason"]  # the evidence grew since
    assert out.loc[(c.wanted_id, c.person_id), "decision"] == "unsure"
    assert pd.isna(out.loc[(c.wanted_id, c.person_id), "requeue_reason"])  # same evidence: not asked again
    undecided = out.drop(index=[(a.wanted_id, a.person_id), (b.wanted_id, b.person_id), (c.wanted_id, c.person_id)])
    assert (undecided["decision"] == "none").all()
    expected = {"match": 1, "not_match": 1, "unsure": 1} | ({"none": len(undecided)} if len(undecided) else {})
    assert res.counts["decisions"] == expected


def test_a_missing_store_file_is_an_input_error(first, tmp_path):
    paths, model, _ = first
    res = CliRunner().invoke(app, ["run", "--wanted", str(paths["wanted"]), "--residents", str(paths["residents"]),
                                   "--model", str(model), "--out", str(tmp_path / "o"),
                                   "--decisions", str(tmp_path / "typo.sqlite")])
    assert res.exit_code == 2
    assert res.output.strip().splitlines()[-1] == f"error: {tmp_path / 'typo.sqlite'}: judgement store not found (a SQLite file or a postgresql:// URL)"
