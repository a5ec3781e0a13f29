"""Namesakes are not strangers: where the full name agrees, the other comparisons are weighed
against u measured on the register's own namesake pairs (linkage/model.py namesake_correction,
linkage/train.py estimate_u_namesake)."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from linkage.errors import RulesError
from linkage.model import default_model, load_model, match_weights, save_model
from linkage.pipeline import compare_pairs, prepare_workspace
from linkage.rules import rules_hash
from linkage.settings import load_settings
from linkage.train import estimate_u_namesake, train

SAMPLE = Path(__file__).resolve().parent.parent / "data_samples" / "sample"


def _model_with_namesake(settings):
    model = default_model(settings, "test")
    gender = model.comparison("gender")
    gender.levels[0].u_namesake, gender.levels[1].u_namesake = 0.98, 0.02
    model.namesake = {"comparison": "full_name", "levels": ["exact"], "pairs": 1000}
    return model


def test_correction_applies_only_where_the_name_agrees():
    settings = load_settings()
    model = _model_with_namesake(settings)
    names = [c.name for c in settings.comparisons]
    full, gender = names.index("full_name"), names.index("gender")
    levels = np.full((3, len(names)), -1, dtype=np.int8)
    levels[:, gender] = 0  # same gender on all three pairs
    levels[0, full] = 0  # same full name
    levels[1, full] = settings.comparison("full_name").level_ids().index("else")
    # pair 2: full name missing on a side (null level)
    w = match_weights(levels, model)
    plain = match_weights(levels, default_model(settings, "test"))
    u = model.comparison("gender").levels[0].u
    assert w[0, gender] == pytest.approx(plain[0, gender] + math.log2(u / 0.98))
    assert w[0, gender] < plain[0, gender]  # sharing a gender says less among namesakes
    assert w[1, gender] == plain[1, gender] and w[2, gender] == plain[2, gender]
    # a model without namesake u is scored as before
    assert np.array_equal(plain, match_weights(levels, default_model(settings, "test")))


def test_model_file_keeps_namesake_u(tmp_path):
    settings = load_settings()
    model = _model_with_namesake(settings)
    back = load_model(save_model(model, tmp_path / "m.json"), settings)
    assert back.namesake == model.namesake
    assert back.comparison("gender").levels[0].u_namesake == 0.98
    assert back.comparison("hometown").levels[0].u_namesake is None


@pytest.fixture(scope="module")
def sample_ctx(tmp_path_factory):
    ctx = prepare_workspace(SAMPLE / "wanted.csv", SAMPLE / "residents.csv", SAMPLE / "id_cards.csv",
                            tmp_path_factory.mktemp("ns"))
    yield ctx
    ctx.con.close()


def test_namesakes_measured_on_the_register(sample_ctx):
    """On the sample's register, namesakes share a gender (Vietnamese given names are gendered)
    and a father's family name (patrilineal family names) far more often than random persons."""
    settings = sample_ctx.settings
    model = default_model(settings, "test")
    estimate_u_namesake(sample_ctx.con, settings, model, lambda _m: None)
    assert model.namesake["pairs"] > 1000
    gender = model.comparison("gender").levels
    assert gender[0].u_namesake > 0.9 > 0.5 >= gender[0].u
    father = {lv.id: lv for lv in model.comparison("father").levels}
    assert father["fuzzy"].u_namesake > 3 * father["fuzzy"].u
    assert model.comparison("marks").levels[0].u_namesake is None  # not in the rules' list
    # the scratch tables are gone: training goes on with the workspace as it was
    tables = {r[0] for r in sample_ctx.con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert not {"nspairs", "ns_left"} & tables


def test_too_few_namesakes_change_nothing(sample_ctx, tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(Path(load_settings().path).parent, rules)
    text = (rules / "matching.yaml").read_text(encoding="utf-8").replace("min_pairs: 500", "min_pairs: 100000000")
    (rules / "matching.yaml").write_text(text, encoding="utf-8")
    settings = load_settings(rules)
    model = default_model(settings, "test")
    estimate_u_namesake(sample_ctx.con, settings, model, lambda _m: None)
    assert model.namesake == {}
    assert any("namesake" in w for w in model.warnings)


def test_trained_model_carries_namesake_u(sample_ctx):
    model = train(sample_ctx.con, sample_ctx.settings, compare_pairs(sample_ctx), rules_hash(None))
    assert model.namesake["levels"] == ["exact", "tones", "ascii", "reordered"]
    assert "namesake pairs" in model.comparison("gender").levels[0].u_namesake_source


@pytest.mark.parametrize("old,new,message", [
    ("levels: [exact, tones, ascii, reordered]", "levels: [exact, same]", "levels"),
    ("comparisons: [gender, birth_date,", "comparisons: [gendre, birth_date,", "comparisons"),
    ("    given: full_name\n", "    given: fullname\n", "given"),
])
def test_namesake_rules_are_checked(tmp_path, old, new, message):
    rules = tmp_path / "rules"
    shutil.copytree(Path(load_settings().path).parent, rules)
    text = (rules / "matching.yaml").read_text(encoding="utf-8")
    assert old in text
    (rules / "matching.yaml").write_text(text.replace(old, new), encoding="utf-8")
    with pytest.raises(RulesError, match=f"namesake_u.{message}"):
        load_settings(rules)
