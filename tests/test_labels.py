"""Learning from decisions: labels files (review export or plain), accuracy from labels, a
score-stratified sample for review, and a model fitted with labels from a simulated review."""

from __future__ import annotations

import json
import shutil
import warnings

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from linkage.errors import InputError
from linkage.labels import QUEUE_WARNING, draw_review_sample, evaluate_labels, load_labels, sample_for_review


def _matches(tmp_path, n=400, seed=0):
    rng = np.random.default_rng(seed)
    p = np.r_[rng.uniform(0, 1, n // 2), np.full(n - n // 2, 0.999)]
    m = pd.DataFrame({"wanted_id": [f"W{i}" for i in range(n)], "person_id": [f"P{i}" for i in range(n)],
                      "rank": 1, "match_probability": p, "match_weight": np.log2(p / (1 - p + 1e-12))})
    path = tmp_path / "matches.parquet"
    m.to_parquet(path)
    return path, m


def test_review_export_and_plain_files_load_alike(tmp_path):
    export = pd.DataFrame({"wanted_id": ["W1", "W2", "W3", "W4"], "person_id": ["P1", "P2", "P3", "P4"],
                           "decision": ["match", "not_match", "unsure", "pending_confirmation"],
                           "unique_id_l": ["W1", "W2", "W3", "W4"], "unique_id_r": ["P1", "P2", "P3", "P4"],
                           "clerical_match_score": [1.0, 0.0, 0.5, None]})
    export.to_parquet(tmp_path / "export.parquet")
    pd.DataFrame({"wanted_id": ["W1", "W2", "W3"], "person_id": ["P1", "P2", "P3"], "label": ["1", "0", "0.5"]}).to_csv(
        tmp_path / "plain.csv", index=False)
    pd.DataFrame({"unique_id_l": ["W1"], "unique_id_r": ["P1"], "clerical_match_score": [1]}).to_csv(
        tmp_path / "splink.csv", index=False)
    a, b = load_labels(tmp_path / "export.parquet"), load_labels(tmp_path / "plain.csv")
    assert a[["wanted_id", "person_id", "label"]].equals(b[["wanted_id", "person_id", "label"]])
    assert a["label"].tolist() == [1.0, 0.0, 0.5]  # the pending row has no label yet
    assert load_labels(tmp_path / "splink.csv")["label"].tolist() == [1.0]


def test_bad_labels_files_are_named(tmp_path):
    pd.DataFrame({"wanted_id": ["W1"], "label": [1]}).to_csv(tmp_path / "a.csv", index=False)
    with pytest.raises(InputError, match=r"a\.csv: the labels file lacks column\(s\) person_id"):
        load_labels(tmp_path / "a.csv")
    pd.DataFrame({"wanted_id": ["W1"], "person_id": ["P1"]}).to_csv(tmp_path / "b.csv", index=False)
    with pytest.raises(InputError, match=r"b\.csv: the labels file lacks a label column"):
        load_labels(tmp_path / "b.csv")
    pd.DataFrame({"wanted_id": ["W1", "W2"], "person_id": ["P1", "P2"], "label": ["1", "yes"]}).to_csv(
        tmp_path / "c.csv", index=False)
    with pytest.raises(InputError, match=r"c\.csv: row 2: label 'yes' is not a label"):
        load_labels(tmp_path / "c.csv")
    with pytest.raises(InputError, match="labels file not found"):
        load_labels(tmp_path / "nope.csv")


def test_precision_and_recall_from_labels_warn_about_the_queue(tmp_path):
    path, m = _matches(tmp_path, n=10)
    m.loc[:, "match_probability"] = [0.9, 0.9, 0.9, 0.9, 0.2, 0.2, 0.95, 0.95, 0.1, 0.1]
    m.to_parquet(path)
    labels = pd.DataFrame({"wanted_id": [f"W{i}" for i in range(10)] + ["W99"],
                           "person_id": [f"P{i}" for i in range(10)] + ["P99"],
                           "label": [1, 1, 1, 0, 1, 0, 0.5, 1, 0, 0, 1]})
    with pytest.warns(UserWarning, match="not a random sample"):
        e = evaluate_labels(labels, path, threshold=0.8)
    # predicted among sure labels: W0-W3, W7 -> 4 labelled match; matches: W0,W1,W2,W4,W7,W99
    assert (e.predicted, e.true_positives, e.positives, e.unsure_dropped, e.not_in_matches) == (5, 4, 6, 1, 1)
    assert e.precision == pytest.approx(4 / 5) and e.recall == pytest.approx(4 / 6)
    assert QUEUE_WARNING in e.render()


def test_sample_is_stratified_seeded_and_written_atomically(tmp_path):
    path, m = _matches(tmp_path, n=2000)
    s = sample_for_review(path, 90, seed=3)
    assert len(s) == 90 and s[["wanted_id", "person_id"]].drop_duplicates().shape[0] == 90
    # nine bands, ten each: the uncertain middle is drawn as often as the crowded top
    assert s.groupby("band").size().eq(10).all() and s["band"].nunique() == 9
    top = s[s["band"] == "0.99-1"]
    assert top["sample_weight"].iloc[0] == pytest.approx((m["match_probability"] >= 0.99).sum() / 10)
    assert s.equals(sample_for_review(path, 90, seed=3))
    assert not s.equals(sample_for_review(path, 90, seed=4))
    out = draw_review_sample(path, 90, tmp_path / "review" / "sample.parquet", seed=3)
    assert pq.read_table(out.path).num_rows == 90 and "0.99-1" in out.render()
    assert [p.name for p in (tmp_path / "review").iterdir()] == ["sample.parquet"]
    # a weighted estimate from the sample: labels by truth (here: p >= 0.5 are matches)
    s["label"] = (s["match_probability"] >= 0.5).astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        e = evaluate_labels(s, path, threshold=0.5)
    assert e.weighted and e.precision == 1.0 and e.recall == 1.0


def test_small_sample_takes_what_there_is(tmp_path):
    path, _ = _matches(tmp_path, n=20)
    assert len(sample_for_review(path, 500, seed=0)) == 20


# --- A model fitted with labels from a simulated review --------------------------------------------

@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """Two generated draws (training seed, fresh seed) and a rules copy without EM sessions: the
    situation labels are for, a register too small (or too new) for EM, where m comes from the
    rules' defaults."""
    from linkage.settings import load_settings
    from linkage.synth import generate

    base = tmp_path_factory.mktemp("labels")
    rules = base / "rules"
    shutil.copytree(load_settings().path.parent, rules)
    text = (rules / "matching.yaml").read_text(encoding="utf-8")
    start, end = text.index("  sessions:\n"), text.index("\nscoring:")
    (rules / "matching.yaml").write_text(text[:start] + "  sessions: []\n" + text[end:], encoding="utf-8")
    return base, rules, generate(6000, 600, 101, base / "a"), generate(6000, 600, 202, base / "b")


def _f1(run_matches, truth, rules):
    """F1 of a run's output as written: scoring has applied the model's calibration map."""
    from linkage.evaluate import evaluate
    from linkage.settings import load_settings

    return evaluate(truth, run_matches, load_settings(rules).threshold).f1


def test_labels_from_a_simulated_review_beat_em_alone(simulated):
    from linkage.model import save_model
    from linkage.pipeline import compare_pairs, prepare_workspace, run
    from linkage.rules import rules_hash
    from linkage.train import train

    base, rules, a, b = simulated
    ctx = prepare_workspace(a["wanted"], a["residents"], a["id_cards"], base / "ws", rules=rules)
    gammas = compare_pairs(ctx)
    plain = save_model(train(ctx.con, ctx.settings, gammas, rules_hash(rules)), base / "plain.json")
    # the simulated review: a score-stratified sample of the training run's candidates, labelled
    # from the generator's truth, plus unsure labels on other candidates
    first = run(a["wanted"], a["residents"], a["id_cards"], base / "run_a", rules=rules, model_path=plain)
    truth = pd.read_csv(a["truth"], dtype=str)
    true_pairs = set(zip(truth["wanted_id"], truth["person_id"].fillna("")))
    sample = sample_for_review(first.matches, 300, seed=1)
    sample["label"] = [float((w, p) in true_pairs) for w, p in zip(sample["wanted_id"], sample["person_id"])]
    labels = sample[["wanted_id", "person_id", "label"]]
    rest = pd.read_parquet(first.matches).merge(labels, on=["wanted_id", "person_id"], how="left")
    unsure = rest[rest["label"].isna()].head(40)[["wanted_id", "person_id"]].assign(label=0.5)
    labelled_model = train(ctx.con, ctx.settings, gammas, rules_hash(rules), labels=labels)
    with_unsure = train(ctx.con, ctx.settings, gammas, rules_hash(rules), labels=pd.concat([labels, unsure]))
    ctx.con.close()
    labelled = save_model(labelled_model, base / "labelled.json")

    # unsure labels change nothing: same m everywhere, same prior, same calibration
    assert json.loads(labelled_model.identity())["comparisons"] == json.loads(with_unsure.identity())["comparisons"]
    assert labelled_model.wanted_match_share == with_unsure.wanted_match_share
    assert labelled_model.calibration == with_unsure.calibration
    assert with_unsure.training["labels"]["unsure_dropped"] == 40
    # the model file records what the labels did
    used = labelled_model.training["labels"]
    assert used["used"] == 300 and used["matches"] + used["non_matches"] == 300
    assert sum(used["matches_per_level"]["gender"].values()) <= used["matches"]
    assert any(lv.m_source.startswith("labels (") for c in labelled_model.comparisons for lv in c.levels)

    # on a fresh draw, the labelled model beats the one without labels
    f1 = {}
    for name, model in (("plain", plain), ("labelled", labelled)):
        res = run(b["wanted"], b["residents"], b["id_cards"], base / f"run_b_{name}", rules=rules, model_path=model)
        f1[name] = _f1(res.matches, b["truth"], rules)
    print(f"F1 on the fresh draw: {f1}")
    assert f1["labelled"] > f1["plain"], f1
