"""`linkage screen --wanted W --model M`: screening without a workspace. The same blocking,
comparisons and model as the workspace's screening (the comparisons without term frequencies
weigh exactly the same on the same pairs), the same output, the planted wanted persons found;
only the TF shares (the wanted list's own) and the prior (rules/screen.yaml's register_persons)
stand in for the register."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from linkage.model import default_model, save_model
from linkage.rules import DEFAULT_RULES_DIR, rules_hash
from linkage.screen.records import check_record
from linkage.screen.service import open_screening, open_wanted_screening
from linkage.settings import load_settings
from linkage.workspace.delta import SourceInput
from linkage.workspace.nightly import nightly

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data_samples" / "sample"
SOURCES = ("wanted", "residents", "id_cards")


def read(name: str) -> pd.DataFrame:
    return pd.read_csv(SAMPLE / f"{name}.csv", dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> dict:
    d = tmp_path_factory.mktemp("screen_wanted")
    rules = d / "rules"
    shutil.copytree(DEFAULT_RULES_DIR, rules, ignore=shutil.ignore_patterns("model.json", "examples"))
    model = d / "model.json"
    save_model(default_model(load_settings(rules), rules_hash(rules)), model)
    nightly(d / "ws", d / "out", {s: SourceInput(SAMPLE / f"{s}.csv") for s in SOURCES}, night="2026-03-01",
            model_path=model, rules=rules)
    truth = read("truth")
    res = read("residents")
    planted = res[res.person_id.isin(set(truth.person_id))]
    return {"dir": d, "rules": rules, "model": model, "ws": d / "ws", "truth": truth, "planted": planted}


def screened(screening, frame: pd.DataFrame) -> list[dict]:
    recs = [check_record({k: v for k, v in row.items() if v != ""}, f"row {i}")
            for i, row in enumerate(frame.to_dict("records"))]
    return screening.screen(recs, threshold=0.0)


def as_new_persons(frame: pd.DataFrame) -> pd.DataFrame:
    """The records with person ids nobody in the register holds (the id's first six digits kept:
    province, gender and century, birth year), so the workspace screens each as a new person, on
    its own, as a screening without a register does."""
    taken = set(read("residents").person_id) | set(read("id_cards").card_number)
    out = frame.copy()
    out["person_id"] = [p[:6] + p[6:][::-1] for p in out.person_id]
    return out[~out.person_id.isin(taken)]


def test_same_blocking_comparisons_and_output_as_the_workspace(setup):
    """Each pair both give weighs the same in every comparison without TF levels; the output has
    the same fields; only TF comparisons, the prior and the competition may move the scores."""
    settings = load_settings(setup["rules"])
    tf = {c.name for c in settings.comparisons if c.tf}
    # an interaction term (absorbs) takes back weight from the comparisons it absorbs: TF ones too
    plain = [f"mw_{c.name}" for c in settings.comparisons
             if not c.tf and not tf & set(c.params.get("absorbs") or [])]
    assert plain and len(plain) < len(settings.comparisons)
    frame = as_new_persons(setup["planted"])
    assert len(frame) > 0.95 * len(setup["planted"])
    bare = screened(open_wanted_screening(SAMPLE / "wanted.csv", setup["model"], setup["rules"]), frame)
    ws = screened(open_screening(setup["ws"], setup["rules"]), frame)
    assert not any(r["in_register"] for r in ws)
    assert [r["person_id"] for r in bare] == frame.person_id.tolist()
    assert all(not r["in_register"] for r in bare)  # no register behind it: every record is a new person
    common = 0
    for a, b in zip(bare, ws):
        by_id = {c["wanted_id"]: c for c in b["candidates"]}
        for c in a["candidates"]:
            if c["wanted_id"] in by_id:
                other = by_id[c["wanted_id"]]
                assert set(c) == set(other)
                np.testing.assert_allclose([c[m] for m in plain], [other[m] for m in plain], rtol=0, atol=1e-9)
                common += 1
    assert common >= 100


def test_the_planted_wanted_persons_come_first(setup):
    """The register record of a wanted person (the sample's truth) gets that wanted record as its
    first candidate about as often as the workspace's screening gives it."""
    frame = setup["planted"]
    truth = setup["truth"].groupby("person_id").wanted_id.agg(set).to_dict()

    def top1(results: list[dict]) -> float:
        hits = [bool(r["candidates"]) and min(r["candidates"], key=lambda c: c["rank"])["wanted_id"]
                in truth[r["person_id"]] for r in results]
        return float(np.mean(hits))

    bare = top1(screened(open_wanted_screening(SAMPLE / "wanted.csv", setup["model"], setup["rules"]), frame))
    ws = top1(screened(open_screening(setup["ws"], setup["rules"]), frame))
    assert len(frame) > 200
    assert bare >= ws - 0.02 and bare > 0.8, (bare, ws)


def test_register_persons_sets_the_prior(setup, tmp_path):
    """A larger register (rules/screen.yaml) lowers every probability: the prior is the register's."""
    rules = tmp_path / "rules"
    shutil.copytree(setup["rules"], rules)
    conf = yaml.safe_load((rules / "screen.yaml").read_text(encoding="utf-8"))
    frame = setup["planted"].head(40)
    got = {}
    for n in (1_000_000, 100_000_000):
        conf["register_persons"] = n
        (rules / "screen.yaml").write_text(yaml.safe_dump(conf, allow_unicode=True), encoding="utf-8")
        s = open_wanted_screening(SAMPLE / "wanted.csv", setup["model"], rules)
        got[n] = {(r["person_id"], c["wanted_id"]): c["match_weight"] for r in screened(s, frame)
                  for c in r["candidates"]}
    both = set(got[1_000_000]) & set(got[100_000_000])
    assert len(both) > 20
    diff = [got[1_000_000][k] - got[100_000_000][k] for k in both]
    np.testing.assert_allclose(diff, np.log2(100), rtol=0, atol=1e-5)  # log2 of the registers' ratio


def _cli(args: list[str], stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli", "screen", *args], input=stdin, capture_output=True,
                          text=True, cwd=ROOT)


def test_the_command_screens_against_a_wanted_file(setup, tmp_path):
    row = setup["planted"].iloc[0]
    want = setup["truth"][setup["truth"].person_id == row.person_id].wanted_id.tolist()
    lines = json.dumps({k: v for k, v in row.to_dict().items() if v}, ensure_ascii=False) + "\n" + \
        json.dumps({"person_id": "999999999999", "full_name": "Không Ai Cả", "birth_date": "01/02/1950"},
                   ensure_ascii=False) + "\n"
    p = _cli(["--wanted", str(SAMPLE / "wanted.csv"), "--model", str(setup["model"]),
              "--rules", str(setup["rules"]), "-"], lines)
    assert p.returncode == 0, p.stderr
    out = [json.loads(line) for line in p.stdout.splitlines()]
    assert [o["person_id"] for o in out] == [row.person_id, "999999999999"]
    assert out[0]["candidates"] and out[0]["candidates"][0]["wanted_id"] in want
    assert out[1]["candidates"] == []


@pytest.mark.parametrize("args, message", [
    (["--wanted", "W"], "--model is needed with --wanted"),
    (["--model", "M"], "--wanted is needed with --model"),
    (["--workspace", "WS", "--wanted", "W", "--model", "M"], "not both"),
    ([], "--workspace DIR"),
    (["--wanted", "/nonexistent/wanted.csv", "--model", "M"], "--wanted /nonexistent/wanted.csv: no such file"),
])
def test_the_options_are_checked(args, message):
    p = _cli([*args, "-"], "")
    assert p.returncode == 2 and message in p.stderr, p.stderr


def test_a_missing_model_is_a_clear_error(tmp_path):
    p = _cli(["--wanted", str(SAMPLE / "wanted.csv"), "--model", str(tmp_path / "none.json"), "-"], "")
    assert p.returncode == 2 and "--model" in p.stderr and "no such file" in p.stderr
