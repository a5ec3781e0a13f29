"""Training's own costs: it reads its sampled persons' records from a copy when they are few
(a large register), and hands the scorer the pairs' weights it computed. Either way the model and
the scored pairs are what they were."""

from __future__ import annotations

from pathlib import Path

import pytest

import linkage.train as training
from linkage.pipeline import compare_pairs, prepare_workspace
from linkage.score import score
from linkage.train import train, train_weighed, training_register

SAMPLE = Path(__file__).resolve().parent.parent / "data_samples" / "sample"


@pytest.fixture(scope="module")
def sample_ctx(tmp_path_factory):
    ctx = prepare_workspace(SAMPLE / "wanted.csv", SAMPLE / "residents.csv", SAMPLE / "id_cards.csv",
                            tmp_path_factory.mktemp("train"))
    yield ctx
    ctx.con.close()


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
    assert copied == ["train_reg", "reg"]
    assert _levels(with_copy) == _levels(whole) and with_copy.conditions == whole.conditions
    assert with_copy.wanted_match_share == whole.wanted_match_share


def test_training_register_copies_every_record_of_the_persons_named(sample_ctx):
    con = sample_ctx.con
    n_p = con.execute("SELECT count(DISTINCT person_idx) FROM reg").fetchall()[0][0]
    con.execute("CREATE OR REPLACE TEMP TABLE _right AS SELECT * FROM (VALUES (3), (5), (5)) t(person_idx)")
    con.execute("CREATE OR REPLACE TEMP TABLE _left AS SELECT * FROM (VALUES (8, 3), (13, 21)) t(w_idx, person_idx)")
    try:
        assert training_register(con, ["_right", "_left"], ["_left"], n_p) == "train_reg"
        want = con.sql("SELECT * FROM reg WHERE person_idx IN (3, 5, 8, 13, 21) ORDER BY r_idx").to_arrow_table()
        got = con.sql("SELECT * FROM train_reg ORDER BY r_idx").to_arrow_table()
        assert got.equals(want) and len(set(got.column("person_idx").to_pylist())) == 5
        # the columns asked for, of the same records
        assert training_register(con, ["_right"], [], n_p, ["gender", "full_name_ascii"]) == "train_reg"
        got = con.sql("SELECT * FROM train_reg ORDER BY r_idx").to_arrow_table()
        assert got.column_names == ["r_idx", "person_idx", "gender", "full_name_ascii"]
        assert got.equals(want.filter(want.column("person_idx").to_numpy() <= 5).select(got.column_names))
        # most of the register: no copy, the register itself
        assert training_register(con, ["_right", "_left"], ["_left"], 10) == "reg"
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
