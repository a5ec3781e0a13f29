"""Relatives are not the same person: the kinship comparison's levels on crafted records, the
interaction term taking back the family's stacked evidence, and the prior share's fixed point."""

from __future__ import annotations

import numpy as np
import pytest
from engine_helpers import pair_levels, workspace

from linkage.errors import RulesError
from linkage.model import absorb, default_model, load_model, match_weights, save_model
from linkage.settings import load_settings
from linkage.train import estimate_share, presence

SIBLING = {"person_id": "080088000002", "full_name": "Nguyễn Văn Minh", "birth_date": "03/02/1988"}
CHANGER = {"person_id": "080085000003", "full_name": "Nguyễn Văn Minh"}  # same birth date 12/05/1985
UNDATED = {"person_id": "080085000004", "full_name": "Nguyễn Văn Minh", "birth_date": ""}
SAME = {"person_id": "080085000005"}
STRANGER = {"person_id": "080088000006", "full_name": "Nguyễn Văn Minh", "birth_date": "03/02/1988",
            "father_name": "Trần Văn Ba", "mother_name": "Phạm Thị Bốn"}


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    return workspace(tmp_path_factory.mktemp("kin"), [{}], [SIBLING, CHANGER, UNDATED, SAME, STRANGER])


def test_kinship_levels(con):
    ids = [r["person_id"] for r in (SIBLING, CHANGER, UNDATED, SAME, STRANGER)]
    levels = pair_levels(con, [("W1", p) for p in ids])
    assert [lv["kinship"] for lv in levels] == ["else", "same_date", "undated", None, None]


def _weights(con, person_ids):
    settings = load_settings()
    rows = pair_levels(con, [("W1", p) for p in person_ids])
    levels = np.array([[-1 if r[c.name] is None else c.level_ids().index(r[c.name]) for c in settings.comparisons]
                       for r in rows], dtype=np.int8)
    model = default_model(settings, "test")
    return settings, model, levels, match_weights(levels, model)


def test_sibling_family_evidence_counts_once(con):
    settings, model, levels, mw = _weights(con, [SIBLING["person_id"], CHANGER["person_id"]])
    names = [c.name for c in settings.comparisons]
    k = names.index("kinship")
    absorbed = [names.index(a) for a in model.comparison("kinship").absorbs]
    w_level = model.comparison("kinship").levels[2].weight  # else: the sibling level
    sib = mw[0]
    # every term stays in its own column; the kinship term takes back exactly the positive surplus
    assert sib[k] == pytest.approx(w_level - np.maximum(sib[absorbed], 0).sum())
    assert sib[k] < -20
    assert sib[absorbed].clip(min=0).sum() + sib[k] == pytest.approx(w_level)
    # the given-name changer (same full birth date) keeps every agreement: the kinship term is 0
    assert mw[1, k] == 0.0
    assert mw[1].sum() > mw[0].sum() + 20


def test_kinship_term_never_adds(con):
    """Family evidence weaker than the level's own weight stays as it is: the term takes a surplus
    back and is never positive (it raised a father's name and a family name to 18 bits)."""
    settings, model, levels, _ = _weights(con, [SIBLING["person_id"]])
    names = [c.name for c in settings.comparisons]
    k = names.index("kinship")
    absorbed = [names.index(a) for a in model.comparison("kinship").absorbs]
    w_level = model.comparison("kinship").levels[2].weight
    weak = np.zeros((1, len(names)))
    weak[0, absorbed[:2]] = w_level / 4  # two absorbed agreements worth half the level's weight
    weak[0, k] = w_level
    out = absorb(levels[:1].copy(), model, weak)
    assert out[0, k] == 0.0
    assert out[0, absorbed].sum() == pytest.approx(w_level / 2)


def test_interaction_rules_are_checked(tmp_path):
    import shutil

    rules = tmp_path / "rules"
    shutil.copytree(load_settings().path.parent, rules)
    text = (rules / "matching.yaml").read_text(encoding="utf-8")
    (rules / "matching.yaml").write_text(text.replace("absorbs: [full_name,", "absorbs: [full_nam,"), encoding="utf-8")
    with pytest.raises(RulesError, match="absorbs: unknown comparison"):
        default_model(load_settings(rules), "x")


def test_model_file_keeps_the_interaction(tmp_path):
    settings = load_settings()
    model = default_model(settings, "x")
    model.calibration = {"method": "platt", "a": 0.8, "b": -0.2}
    back = load_model(save_model(model, tmp_path / "model.json"), settings)
    kin = back.comparison("kinship")
    assert kin.absorbs == model.comparison("kinship").absorbs and kin.absorb_at == ["undated", "else"]
    assert back.calibration == model.calibration


def test_share_is_the_fixed_point_of_presence():
    # 10 wanted records, 1,000 persons; 6 have one overwhelming candidate, 4 have none
    w_idx = np.arange(6)
    weights = np.full(6, 60.0)
    share, expected = estimate_share(weights, w_idx, 10, 1000, start=0.9)
    assert share == pytest.approx(0.6, abs=1e-6) and expected == pytest.approx(6.0, abs=1e-4)


def test_presence_lets_candidates_compete_with_none_of_them():
    # one wanted record, three candidates each at odds 1 after the prior: P(present) = 3 / (1 + 3)
    p = presence(np.full(3, np.log2(2000)), np.zeros(3, dtype=int), 1, 0.5, 1000)
    assert p[0] == pytest.approx(0.75, rel=1e-3)
    # a record without candidates is absent
    assert presence(np.zeros(0), np.zeros(0, dtype=int), 2, 0.5, 1000).tolist() == [0.0, 0.0]
