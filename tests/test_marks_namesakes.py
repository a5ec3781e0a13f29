"""Identifying marks tell namesakes apart (issue 12: "adding identifying marks raises recall@1 on
namesakes"), shown by the real engine on generated people.

A small `linkage.synth` population gives wanted persons whose notice describes their marks in the
officer's own words and whose ID card prints them. Each of them gets a namesake in the registers:
another person (own personal ID, birth day and month, parents) with the same full name, birth year,
gender and hometown, whose card shows other marks. The wanted record keeps only what a thin notice
holds (name, gender, birth year, hometown, marks): nothing but the marks can tell the two apart.
`linkage run` with the rules' default model, once with the project's rules and once with the same
rules minus the `marks` comparison. Recall@1 counts the true person first AND above the namesake:
a tie is a coin toss for the reviewer, not a person told apart.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from linkage.model import default_model, save_model
from linkage.normalize.marks import normalize_marks
from linkage.pipeline import run
from linkage.rules import rules_hash
from linkage.settings import load_settings
from linkage.synth import generate

RULES = Path(__file__).resolve().parent.parent / "rules"
THIN = ("id_number", "father_name", "mother_name", "other_names", "birth_place", "permanent_address", "current_address")


def _rules_without_marks(dest: Path) -> Path:
    """A copy of the project's rules with the `marks` comparison cut out of matching.yaml."""
    shutil.copytree(RULES, dest)
    p = dest / "matching.yaml"
    text = p.read_text(encoding="utf-8")
    cut = re.sub(r"\n  - name: marks\n(?:(?:    .*)?\n)*", "\n", text)
    assert cut != text and "kind: marks" not in cut
    p.write_text(cut, encoding="utf-8")
    return dest


def _plant_namesakes(gen: Path, case: Path, seed: int = 5) -> dict[str, tuple[str, str]]:
    """Write case/{wanted,residents,id_cards}.csv; return wanted_id -> (true person, namesake)."""
    read = lambda n: pd.read_csv(gen / f"{n}.csv", dtype=str, keep_default_na=False)  # noqa: E731
    wanted, truth, res, cards = read("wanted"), read("truth"), read("residents"), read("id_cards")
    rng = np.random.default_rng(seed)
    card_keys = dict(zip(cards["card_number"], normalize_marks(cards["identifying_marks"])["marks_keys"]))
    wanted = wanted.assign(_keys=normalize_marks(wanted["identifying_marks"])["marks_keys"],
                           _person=wanted["wanted_id"].map(dict(zip(truth["wanted_id"], truth["person_id"]))))
    # notices whose marks the true person's card shows (the generator writes them in other words)
    told = wanted[[bool(k) and bool(set(k) & set(card_keys.get(p) or [])) for k, p in zip(wanted["_keys"], wanted["_person"])]]
    res_i, card_i = res.set_index("person_id"), cards.set_index("card_number")
    used, others = set(res["person_id"]), cards["card_number"].tolist()
    new_res, new_cards, new_wanted, pairs = [], [], [], {}
    for _, w in told.iterrows():  # a few hundred planted rows: one at a time is clearer than vectorised
        p = w["_person"]
        q = p
        while q in used:  # the namesake's personal ID: same province, gender/century and birth year digits
            q = p[:6] + f"{int(rng.integers(0, 10**6)):06d}"
        used.add(q)
        year = res_i.loc[p, "birth_date"][-4:]
        date = f"{int(rng.integers(1, 29)):02d}/{int(rng.integers(1, 13)):02d}/{year}"
        stranger = res.iloc[int(rng.integers(len(res)))]
        r = res_i.loc[p].copy()
        r["birth_date"], r["father_name"], r["mother_name"] = date, stranger["father_name"], stranger["mother_name"]
        new_res.append(r.rename(q))
        other = p
        while other == p or set(card_keys[other]) & set(w["_keys"]):  # a card with none of the notice's marks
            other = others[int(rng.integers(len(others)))]
        c = card_i.loc[p].copy()
        c["birth_date"], c["identifying_marks"], c["old_id_number"] = date, card_i.loc[other, "identifying_marks"], ""
        new_cards.append(c.rename(q))
        thin = w.drop(["_keys", "_person"]).copy()
        thin[list(THIN)] = ""
        thin["full_name"], thin["gender"] = res_i.loc[p, "full_name"], res_i.loc[p, "gender"]
        thin["hometown"], thin["birth_date"] = res_i.loc[p, "hometown"], year
        new_wanted.append(thin)
        pairs[w["wanted_id"]] = (p, q)
    case.mkdir(parents=True, exist_ok=True)
    pd.concat([res_i, pd.DataFrame(new_res)]).rename_axis("person_id").reset_index().to_csv(case / "residents.csv", index=False)
    pd.concat([card_i, pd.DataFrame(new_cards)]).rename_axis("card_number").reset_index().to_csv(case / "id_cards.csv", index=False)
    pd.DataFrame(new_wanted).to_csv(case / "wanted.csv", index=False)
    return pairs


def _recall_at_1(case: Path, rules: Path, tag: str, pairs: dict[str, tuple[str, str]]) -> tuple[float, pd.DataFrame]:
    model = save_model(default_model(load_settings(rules), rules_hash(rules)), case / f"model_{tag}.json")
    result = run(case / "wanted.csv", case / "residents.csv", case / "id_cards.csv", case / f"out_{tag}",
                 rules=rules, model_path=model)
    m = pd.read_parquet(result.matches, columns=["wanted_id", "person_id", "rank", "match_weight"])
    w = {wid: g.set_index("person_id")["match_weight"] for wid, g in m.groupby("wanted_id")}
    hits = 0
    for wid, (true, namesake) in pairs.items():
        got = w.get(wid, pd.Series(dtype=float))
        assert true in got.index and namesake in got.index, wid  # both are candidates either way
        first = m[(m["wanted_id"] == wid) & (m["rank"] == 1)]["person_id"].iloc[0]
        hits += int(first == true and got[true] > got.drop(true).max())
    return hits / len(pairs), m


@pytest.fixture(scope="module")
def case(tmp_path_factory) -> tuple[Path, dict[str, tuple[str, str]]]:
    root = tmp_path_factory.mktemp("namesakes")
    generate(3000, 300, 41, root / "gen")
    pairs = _plant_namesakes(root / "gen", root / "case")
    return root / "case", pairs


def test_marks_put_the_true_person_before_the_namesake(case) -> None:
    folder, pairs = case
    assert len(pairs) >= 50  # enough notices describe marks the card shows
    with_marks, _ = _recall_at_1(folder, RULES, "with", pairs)
    without, _ = _recall_at_1(folder, _rules_without_marks(folder / "rules_without_marks"), "without", pairs)
    # without marks the namesake's evidence equals the true person's: never told apart
    assert without <= 0.05
    assert with_marks >= 0.9
    # and the marks are what decided: the true person's card agrees, the namesake's does not
    mw = pd.read_parquet(folder / "out_with" / "matches.parquet", columns=["wanted_id", "person_id", "mw_marks"])
    mw = mw.set_index(["wanted_id", "person_id"])["mw_marks"]
    true_w = np.array([mw[(w, p)] for w, (p, _) in pairs.items()])
    namesake_w = np.array([mw[(w, q)] for w, (_, q) in pairs.items()])
    assert (true_w > 0).mean() >= 0.9 and (namesake_w <= 0).all()
