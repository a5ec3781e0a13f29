"""Comparisons are not independent among non-matches: where a condition holds (the full name
agrees, the birth place agrees, ...), the other comparisons are weighed against u measured among
the non-matching pairs that meet it (linkage/model.py conditional_correction, linkage/train.py
estimate_u_given). Also what training does to stay cheap at scale: its sampled persons read from a
copy, its EM posterior in threads, its weight sums handed to the scorer: the same numbers."""

from __future__ import annotations

import json
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
from linkage.compare import compare
import linkage.train as training
from linkage.score import score
from linkage.train import estimate_u_given, sample_u_pairs, train, train_weighed, training_register

SAMPLE = Path(__file__).resolve().parent.parent / "data_samples" / "sample"


def _model_with_namesake(settings):
    model = default_model(settings, "test")
    gender = model.comparison("gender")
    gender.levels[0].u_given["namesake"], gender.levels[1].u_given["namesake"] = 0.98, 0.02
    model.conditions = [{"name": "namesake", "comparison": "full_name", "levels": ["exact"], "pairs": 1000}]
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
    assert back.conditions == model.conditions
    assert back.comparison("gender").levels[0].u_given == {"namesake": 0.98}
    assert back.comparison("hometown").levels[0].u_given == {}


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
    estimate_u_given(sample_ctx.con, settings, model, None, lambda _m: None)
    namesake = next(c for c in model.conditions if c["name"] == "namesake")
    assert namesake["pairs"] > 1000
    gender = model.comparison("gender").levels
    assert gender[0].u_given["namesake"] > 0.9 > 0.5 >= gender[0].u
    father = {lv.id: lv for lv in model.comparison("father").levels}
    assert father["fuzzy"].u_given["namesake"] > 3 * father["fuzzy"].u
    assert "namesake" not in model.comparison("marks").levels[0].u_given  # not in the rules' list
    # read against register pairs, not wanted pairs: a birth date known by its year only is rare
    # in the register, and namesakes are more often of one generation, not less
    year_only = {lv.id: lv for lv in model.comparison("birth_date").levels}["year_known"]
    assert year_only.u_given.get("namesake", year_only.u) >= year_only.u
    # the scratch tables are gone: training goes on with the workspace as it was
    tables = {r[0] for r in sample_ctx.con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert not [t for t in tables if t.startswith(("nspairs", "ns_", "rrpairs", "train_"))]


def test_too_few_namesakes_change_nothing(sample_ctx, tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(Path(load_settings().path).parent, rules)
    text = (rules / "matching.yaml").read_text(encoding="utf-8").replace("min_pairs: 500", "min_pairs: 100000000")
    (rules / "matching.yaml").write_text(text, encoding="utf-8")
    settings = load_settings(rules)
    model = default_model(settings, "test")
    estimate_u_given(sample_ctx.con, settings, model, None, lambda _m: None)
    assert "namesake" not in [c["name"] for c in model.conditions]
    assert all("namesake" not in lv.u_given for c in model.comparisons for lv in c.levels)
    assert any("namesake" in w for w in model.warnings)


def test_trained_model_carries_namesake_u(sample_ctx):
    model = train(sample_ctx.con, sample_ctx.settings, compare_pairs(sample_ctx), rules_hash(None))
    rules = [c["name"] for c in sample_ctx.settings.model["conditional_u"]]
    kept = [c["name"] for c in model.conditions]
    assert kept == [n for n in rules if n in kept]  # the rules' order: the first that holds wins
    assert {"namesake", "birth_province", "name_family_middle"} <= set(kept)
    for name in set(rules) - set(kept):  # met by too few sampled pairs on a small register: said
        assert any(f"'{name}'" in w for w in model.warnings)
    assert model.conditions[0]["levels"] == ["exact", "tones", "ascii", "reordered"]
    assert "namesake pairs" in model.comparison("gender").levels[0].u_given_source["namesake"]
    # born in one commune: random pairs almost never are, so register pairs born there are
    # sampled; they share the hometown commune far more often than strangers do
    home_ward = model.comparison("hometown").levels[0]
    assert "birth_commune" in kept and home_ward.u_given["birth_commune"] > 20 * home_ward.u
    assert "register pairs sharing" in home_ward.u_given_source["birth_commune"]


@pytest.mark.parametrize("old,new,message", [
    ("levels: [exact, tones, ascii, reordered]", "levels: [exact, same]", "levels"),
    ("comparisons: [gender, birth_date,", "comparisons: [gendre, birth_date,", "comparisons"),
    ("      given: full_name\n", "      given: fullname\n", "given"),
    ("      pairs: namesakes\n", "      pairs: namesake\n", "pairs"),
    ("    - name: hometown\n", "    - name: namesake\n", "name"),
    ("      key: birth_place_district_code\n", "", "key"),
])
def test_namesake_rules_are_checked(tmp_path, old, new, message):
    rules = tmp_path / "rules"
    shutil.copytree(Path(load_settings().path).parent, rules)
    text = (rules / "matching.yaml").read_text(encoding="utf-8")
    assert old in text
    (rules / "matching.yaml").write_text(text.replace(old, new), encoding="utf-8")
    with pytest.raises(RulesError, match=rf"conditional_u\[\d\]\.{message}"):
        load_settings(rules)


def test_where_two_conditions_hold_the_least_surprising_stands():
    """Two conditions on one comparison: a pair meeting both is corrected once, by the condition
    under which its level is commonest among non-matches (the smaller weight)."""
    settings = load_settings()
    model = _model_with_namesake(settings)
    model.comparison("gender").levels[0].u_given["given_name"] = 0.9
    model.conditions.append({"name": "given_name", "comparison": "given_name", "levels": ["exact"], "pairs": 1000})
    names = [c.name for c in settings.comparisons]
    full, given, gender = names.index("full_name"), names.index("given_name"), names.index("gender")
    levels = np.full((3, len(names)), -1, dtype=np.int8)
    levels[:, gender] = 0
    levels[:, given] = 0  # pairs 0-1: same given name
    levels[0, full] = 0  # pair 0: namesakes too
    levels[1:, full] = settings.comparison("full_name").level_ids().index("else")
    levels[2, given] = settings.comparison("given_name").level_ids().index("else")
    w = match_weights(levels, model)[:, gender]
    plain = match_weights(levels, default_model(settings, "test"))[:, gender]
    u = model.comparison("gender").levels[0].u
    assert w[0] == pytest.approx(plain[0] + math.log2(u / 0.98))  # the namesake condition (0.98 > 0.9), not both
    assert w[1] == pytest.approx(plain[1] + math.log2(u / 0.9))
    assert w[2] == plain[2]


def test_each_pairs_weights_are_its_own_across_blocks_and_with_a_kept_plan():
    """match_weights corrects a block of rows at a time (model._BLOCK) and the desk keeps the
    model's weight_plan: a pair's weights are the same whichever rows share the call, in whichever
    block it falls, with the plan given or read again, to the bit."""
    from linkage import model as M

    settings = load_settings()
    model = _model_with_namesake(settings)
    model.comparison("gender").levels[0].u_given["given_name"] = 0.9
    model.conditions.append({"name": "given_name", "comparison": "given_name", "levels": ["exact"], "pairs": 1000})
    sizes = np.array([len(c.levels) for c in model.comparisons])
    rng = np.random.default_rng(5)
    n = M._BLOCK + 70
    levels = (rng.integers(0, 1 << 20, (n, len(sizes))) % (sizes + 1) - 1).astype(np.int8)  # -1: null
    whole = match_weights(levels, model)
    assert np.array_equal(whole, match_weights(levels, model, plan=M.weight_plan(model)))
    picked = rng.choice(n, 300, replace=False)
    picked[:2] = [0, n - 1]
    one_by_one = np.vstack([match_weights(levels[i:i + 1], model) for i in picked])
    assert one_by_one.tobytes() == whole[picked].tobytes()
    plain = match_weights(levels, default_model(settings, "test"))
    assert (whole != plain).any()  # the conditions did apply somewhere


def test_model_files_of_the_namesake_only_form_still_load(tmp_path):
    settings = load_settings()
    model = _model_with_namesake(settings)
    data = json.loads(model.to_json())
    data["namesake"] = {k: v for k, v in data.pop("conditions")[0].items() if k != "name"}
    for c in data["comparisons"]:
        for lv in c["levels"]:
            given, source = lv.pop("u_given"), lv.pop("u_given_source")
            lv["u_namesake"], lv["u_namesake_source"] = given.get("namesake"), source.get("namesake", "")
    (tmp_path / "old.json").write_text(json.dumps(data), encoding="utf-8")
    back = load_model(tmp_path / "old.json", settings)
    assert back.conditions == model.conditions
    assert back.comparison("gender").levels[0].u_given == {"namesake": 0.98}


def test_places_measured_among_random_pairs(sample_ctx):
    """Among random pairs born in the same province, the hometown and the address agree on the
    province far more often than among all random pairs: the place condition's u says so, and a
    pair agreeing on all three places weighs less than the three agreements added up."""
    settings = sample_ctx.settings
    model = default_model(settings, "test")
    sample_u_pairs(sample_ctx.con, 200_000, 1)
    random = compare(sample_ctx.con, settings, source="upairs")
    sample_ctx.con.execute("DROP TABLE upairs")
    from linkage.train import estimate_u

    estimate_u(model, random)
    estimate_u_given(sample_ctx.con, settings, model, random, lambda _m: None)
    home = {lv.id: lv for lv in model.comparison("hometown").levels}
    assert home["province"].u_given["birth_province"] > 3 * home["province"].u
    names = [c.name for c in settings.comparisons]
    levels = np.full((1, len(names)), -1, dtype=np.int8)
    for comp in ("birth_place", "hometown", "address"):
        levels[0, names.index(comp)] = settings.comparison(comp).level_ids().index("province")
    conditioned = match_weights(levels, model)[0]
    model.conditions = []
    independent = match_weights(levels, model)[0]
    assert conditioned[names.index("birth_place")] == independent[names.index("birth_place")]
    assert conditioned[names.index("hometown")] < independent[names.index("hometown")] - 1.0


def test_a_condition_never_takes_a_weight_below_log2_m():
    """Given the full name's family_middle level the family name agrees for certain (u_given 1):
    a common family name's term-frequency weight must not turn negative beyond log2(m)."""
    settings = load_settings()
    model = default_model(settings, "test")
    fam = model.comparison("family_name")
    fam.levels[0].u_given["name_family_middle"] = 1.0
    model.conditions = [{"name": "name_family_middle", "comparison": "full_name", "levels": ["family_middle"], "pairs": 1000}]
    names = [c.name for c in settings.comparisons]
    levels = np.full((1, len(names)), -1, dtype=np.int8)
    levels[0, names.index("full_name")] = settings.comparison("full_name").level_ids().index("family_middle")
    levels[0, names.index("family_name")] = 0
    common = {"family_name": {0: np.array([0.38])}}  # "Nguyễn": 38% of persons
    w = match_weights(levels, model, common)[0, names.index("family_name")]
    assert w == pytest.approx(math.log2(fam.levels[0].m))


def test_other_name_is_silent_where_the_full_name_agrees():
    """A card with the old name and a residents record naming it as an other name say one thing
    (merged per person, each comparison at its best level): the alias is silent where the full
    name agrees, and speaks where it does not (a renamed person found by the old name)."""
    settings = load_settings()
    model = default_model(settings, "test")
    names = [c.name for c in settings.comparisons]
    full, alias = names.index("full_name"), names.index("alias")
    levels = np.full((2, len(names)), -1, dtype=np.int8)
    levels[:, alias] = 0  # an other name equals the name
    levels[0, full] = 0  # same full name (the old card)
    levels[1, full] = settings.comparison("full_name").level_ids().index("else")
    w = match_weights(levels, model)
    assert w[0, alias] == 0.0
    assert w[1, alias] == pytest.approx(model.comparison("alias").levels[0].weight) and w[1, alias] > 5


def test_silent_at_is_checked(tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(Path(load_settings().path).parent, rules)
    text = (rules / "matching.yaml").read_text(encoding="utf-8")
    old = "silent_at: {full_name: [exact, tones, ascii, reordered]}"
    assert old in text
    (rules / "matching.yaml").write_text(text.replace(old, "silent_at: {full_name: [exact, same]}"), encoding="utf-8")
    with pytest.raises(RulesError, match=r"alias\.silent_at\.full_name: unknown or no levels \['same'\]"):
        default_model(load_settings(rules), "test")


def test_register_pairs_compare_only_what_they_read(sample_ctx):
    """compare(only=...) gives the full comparison's levels for the comparisons named and nulls
    elsewhere: training's register pairs evaluate a few comparisons, and their levels must be those
    of a full comparison."""
    con, settings = sample_ctx.con, sample_ctx.settings
    sample_u_pairs(con, 3000, 5)
    full = compare(con, settings, source="upairs")
    only = {"full_name", "address", "father"}
    part = compare(con, settings, source="upairs", only=only)
    assert part.names == full.names and np.array_equal(part.pair_idx, full.pair_idx)
    read = [j for j, n in enumerate(full.names) if n in only]
    left = [j for j, n in enumerate(full.names) if n not in only]
    assert np.array_equal(part.levels[:, read], full.levels[:, read])
    assert (full.levels[:, read] >= 0).any() and (full.levels[:, left] >= 0).any()  # both sides hold values
    assert (part.levels[:, left] == -1).all()
    con.execute("DROP TABLE upairs")



def _correct_whole_block(levels: np.ndarray, plan, weights: np.ndarray) -> None:
    """The correction as first written: every condition over the whole block (the reference)."""
    cols = np.arange(levels.shape[1])[None, :]
    best = None
    for name, j, mask in plan.held:
        at = mask[levels[:, j]]
        if not at.any():
            continue
        ratio = plan.ratios[name][cols, levels]
        rows = at[:, None] & (levels >= 0)
        best = np.where(rows, ratio, np.nan) if best is None else np.where(rows, np.fmin(best, ratio), best)
    if best is None:
        return
    has = ~np.isnan(best)
    weights[has] = np.maximum(weights[has] + best[has], plan.floors[cols, levels][has])


def test_the_correction_reads_only_where_a_condition_holds_and_gives_the_same_weights(sample_ctx):
    """conditional_correction over the rows where each condition holds equals the whole-block
    reference, on random levels (nulls included) and on pairs that mostly agree."""
    from linkage.model import conditional_correction, plain_weights, weight_plan
    from linkage.train import posterior

    model = train(sample_ctx.con, sample_ctx.settings, compare_pairs(sample_ctx), "test")
    assert len(model.conditions) >= 3
    plan = weight_plan(model)
    rng = np.random.default_rng(3)
    levels = np.stack([rng.integers(-1, len(c.levels), 50_000) for c in model.comparisons], axis=1).astype(np.int8)
    agreeing = np.minimum(levels, 1)
    for lv in (levels, agreeing):
        got = conditional_correction(lv, model, plain_weights(lv, model, plan), plan)
        want = plain_weights(lv, model, plan)
        _correct_whole_block(lv, plan, want)
        assert np.array_equal(got, want, equal_nan=True)
        assert (got != plain_weights(lv, model, plan)).sum() > 1000  # conditions held and changed weights
    # EM's posterior in slices, in threads or not: the same numbers
    only = list(range(0, levels.shape[1], 2))
    one = posterior(agreeing, model, 0.01, only=only, rows=4096, threads=1)
    assert np.array_equal(one, posterior(agreeing, model, 0.01, only=only, rows=4096, threads=2))
    assert 0 < one.mean() < 1


def _levels(model) -> list:
    return [(lv.m, lv.u, lv.u_given) for c in model.comparisons for lv in c.levels]


def test_training_reads_a_copy_of_its_persons_as_it_reads_the_register(sample_ctx, monkeypatch):
    """Training's copy of its sampled persons' records (taken when they are few: at 10M
    residents) gives the model that reading the whole register gives: every record of every
    person a sample holds, on either side of a pair, is in it."""
    con, settings = sample_ctx.con, sample_ctx.settings
    gammas = compare_pairs(sample_ctx)
    copied = []
    real = training.training_register
    monkeypatch.setattr(training, "training_register", lambda *a: copied.append(real(*a)) or copied[-1])
    monkeypatch.setattr(training, "_COPY_SHARE", 1.0)  # always copy
    with_copy = train(con, settings, gammas, "test")
    monkeypatch.setattr(training, "_COPY_SHARE", 0.0)  # never
    whole = train(con, settings, gammas, "test")
    assert [table for table, _ in copied] == ["train_reg", "reg"] and copied[0][1] == copied[1][1] > 0
    assert _levels(with_copy) == _levels(whole) and with_copy.conditions == whole.conditions
    assert with_copy.wanted_match_share == whole.wanted_match_share


def test_training_register_copies_every_record_of_the_persons_named(sample_ctx):
    con = sample_ctx.con
    n_p = con.execute("SELECT count(DISTINCT person_idx) FROM reg").fetchall()[0][0]
    con.execute("CREATE OR REPLACE TEMP TABLE _right AS SELECT * FROM (VALUES (3), (5), (5)) t(person_idx)")
    con.execute("CREATE OR REPLACE TEMP TABLE _left AS SELECT * FROM (VALUES (8, 3), (13, 21)) t(w_idx, person_idx)")
    try:
        assert training_register(con, ["_right", "_left"], ["_left"], n_p) == ("train_reg", 5)
        want = con.sql("SELECT * FROM reg WHERE person_idx IN (3, 5, 8, 13, 21) ORDER BY r_idx").to_arrow_table()
        got = con.sql("SELECT * FROM train_reg ORDER BY r_idx").to_arrow_table()
        assert got.equals(want) and len(set(got.column("person_idx").to_pylist())) == 5
        # the columns asked for, of the same records
        assert training_register(con, ["_right"], [], n_p, ["gender", "full_name_ascii"]) == ("train_reg", 2)
        got = con.sql("SELECT * FROM train_reg ORDER BY r_idx").to_arrow_table()
        assert got.column_names == ["r_idx", "person_idx", "gender", "full_name_ascii"]
        assert got.equals(want.filter(want.column("person_idx").to_numpy() <= 5).select(got.column_names))
        # most of the register: no copy, the register itself
        assert training_register(con, ["_right", "_left"], ["_left"], 10) == ("reg", 5)
    finally:
        con.execute("DROP TABLE IF EXISTS _right; DROP TABLE IF EXISTS _left; DROP TABLE IF EXISTS train_reg")


def test_the_scorer_takes_trainings_weights(sample_ctx):
    """The weights training hands over are those the scorer computes: the same scored table."""
    con, settings = sample_ctx.con, sample_ctx.settings
    gammas = compare_pairs(sample_ctx)
    trained = train_weighed(con, settings, gammas, "test")
    assert trained.weights is not None and len(trained.weights) == len(gammas.pair_idx)
    given = score(con, settings, trained.model, gammas, weights=trained.weights)
    with_weights = con.execute("SELECT * FROM scored ORDER BY ALL").fetchall()
    assert given == score(con, settings, trained.model, gammas)
    assert con.execute("SELECT * FROM scored ORDER BY ALL").fetchall() == with_weights and with_weights
