"""The main job end to end on small crafted files: flags, explanation, output contract, manifest,
pair budget, and the commands' exit codes. Real CSV in, real DuckDB workspace, real Parquet out."""

from __future__ import annotations

import math
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from cli import app
from engine_helpers import RESIDENT_BASE, WANTED_BASE
from linkage.errors import BudgetError
from linkage.model import default_model, save_model
from linkage.pipeline import run
from linkage.rules import DEFAULT_RULES_DIR, rules_hash
from linkage.settings import load_settings

RESIDENTS = [
    {"person_id": "080085001234"},  # the base person: Nguyễn Văn Hùng, 12/05/1985
    {"person_id": "001090000011", "full_name": "Trần Thị Mai", "gender": "Nữ", "birth_date": "03/02/1990",
     "hometown": "Xã Nghi Phong, Huyện Nghi Lộc, Tỉnh Nghệ An", "father_name": "Trần Văn Bình",
     "mother_name": "Phạm Thị Hoa", "permanent_address": "Phường Vinh Tân, Thành phố Vinh, Tỉnh Nghệ An"},
    {"person_id": "079070000022", "full_name": "Lê Quang Dũng", "birth_date": "21/09/1970",
     "hometown": "Tỉnh Quảng Nam", "father_name": "Lê Quang Tạo", "mother_name": "Hồ Thị Sen",
     "permanent_address": "Phường Bến Thành, Quận 1, TP Hồ Chí Minh"},
    {"person_id": "036088000033", "full_name": "Phạm Văn Tuấn", "birth_date": "15/06/1988",
     "hometown": "Tỉnh Nam Định", "father_name": "Phạm Văn Khải", "mother_name": "Đỗ Thị Lý",
     "permanent_address": "Xã Hải Hậu, Tỉnh Ninh Bình"},
]

WANTED = [
    # given name changed; same birth date, hometown, parents
    {"wanted_id": "W-given", "full_name": "Nguyễn Văn Minh"},
    # moved: pre-2025 address in another province
    {"wanted_id": "W-moved", "full_name": "Tran Thi Mai", "gender": "Nữ", "birth_date": "03/02/1990",
     "hometown": "Xã Nghi Phong, Huyện Nghi Lộc, Tỉnh Nghệ An", "father_name": "Trần Văn Bình",
     "mother_name": "Phạm Thị Hoa", "permanent_address": "Phường Trúc Bạch, Quận Ba Đình, Hà Nội"},
    # id number given; birth year off by one
    {"wanted_id": "W-id", "full_name": "Lê Quang Dũng", "birth_date": "1971", "id_number": "079070000022",
     "hometown": "Quảng Nam", "father_name": "Lê Quang Tạo", "mother_name": "Hồ Thị Sen",
     "permanent_address": "Phường Bến Thành, Quận 1, TP Hồ Chí Minh"},
    # nobody in the register
    {"wanted_id": "W-none", "full_name": "Đinh Công Tráng", "birth_date": "1960", "hometown": "Tỉnh Hà Nam",
     "father_name": "", "mother_name": "", "permanent_address": "Tỉnh Hà Nam"},
]


def write_inputs(tmp: Path) -> dict[str, Path]:
    wanted = pd.DataFrame([{**WANTED_BASE, **w} for w in WANTED])
    residents = pd.DataFrame([{**RESIDENT_BASE, **r} for r in RESIDENTS])
    cards = pd.DataFrame(
        [{"card_number": "080085001234", "old_id_number": "301234567", "full_name": "Nguyễn Văn Hùng",
          "gender": "Nam", "birth_date": "12/05/1985", "hometown": RESIDENT_BASE["hometown"],
          "permanent_address": RESIDENT_BASE["permanent_address"], "issue_date": "2021-04-01"}]
    )
    paths = {"wanted": tmp / "wanted.csv", "residents": tmp / "residents.csv", "id_cards": tmp / "id_cards.csv"}
    wanted.to_csv(paths["wanted"], index=False)
    residents.to_csv(paths["residents"], index=False)
    cards.to_csv(paths["id_cards"], index=False)
    return paths


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("run")
    paths = write_inputs(tmp)
    model = save_model(default_model(load_settings(), rules_hash()), tmp / "model.json")
    res = run(paths["wanted"], paths["residents"], paths["id_cards"], tmp / "out", model_path=model)
    matches = pd.read_parquet(res.matches)
    return res, matches.set_index(["wanted_id", "person_id"]), paths, model


def test_output_contract(result):
    res, m, _, _ = result
    settings = load_settings()
    for col in ["run_id", "sources", "match_weight", "match_probability", "rank", "name_changed",
                "residence_changed", "birth_date_changed", "id_match", "explanation"]:
        assert col in m.columns
    for c in settings.comparisons:
        assert f"mw_{c.name}" in m.columns
    assert m["match_probability"].between(0, 1).all()
    assert (m.groupby(level=0)["rank"].min() == 1).all()


def test_match_weight_is_prior_plus_contributions(result):
    res, m, _, model_path = result
    mw = m[[c for c in m.columns if c.startswith("mw_")]].sum(axis=1)
    prior = m["match_weight"] - mw
    # one prior for the whole run: log2 odds of 0.9 / number of persons (4)
    p = 0.9 / 4
    assert prior.round(4).nunique() == 1
    assert math.isclose(prior.iloc[0], math.log2(p / (1 - p)), abs_tol=1e-4)


def test_given_name_change_is_flagged_and_explained(result):
    _, m, _, _ = result
    row = m.loc[("W-given", "080085001234")]
    assert row["rank"] == 1
    assert bool(row["name_changed"])
    assert "khác tên: Minh → Hùng" in row["explanation"]
    assert "trùng ngày sinh" in row["explanation"]
    assert row["sources"] == "residents+id_cards"


def test_move_is_flagged(result):
    _, m, _, _ = result
    row = m.loc[("W-moved", "001090000011")]
    assert bool(row["residence_changed"])
    assert not bool(row["name_changed"])
    assert "hiện sống nơi khác" in row["explanation"]


def test_id_match_and_birth_date_change(result):
    _, m, _, _ = result
    row = m.loc[("W-id", "079070000022")]
    assert bool(row["id_match"])
    assert bool(row["birth_date_changed"])
    assert row["mw_id_number"] > 10


def test_absent_person_gets_no_likely_candidate(result):
    _, m, _, _ = result
    rows = m.loc[m.index.get_level_values(0) == "W-none"]
    assert (rows["match_probability"] < 0.5).all()


def test_manifest_reconciles(result):
    res, _, paths, _ = result
    import json

    manifest = json.loads(res.manifest.read_text())
    assert manifest["counts"]["tables"] == {"wanted": 4, "register_records": 5, "persons": 4}
    for source, counts in manifest["counts"]["ingest"].items():
        assert counts["rows_read"] == counts["rows_accepted"] + counts["rows_quarantined"]
    assert set(manifest["inputs"]) == {"wanted", "residents", "id_cards"}
    assert manifest["model"]["trained_in_this_run"] is False


def test_same_inputs_and_model_give_identical_bytes(result, tmp_path):
    res, _, paths, model = result
    again = run(paths["wanted"], paths["residents"], paths["id_cards"], tmp_path / "again", model_path=model)
    assert again.matches.read_bytes() == res.matches.read_bytes()


def test_pair_budget_stops_with_rule_and_key(tmp_path):
    paths = write_inputs(tmp_path)
    rules = tmp_path / "rules"
    shutil.copytree(DEFAULT_RULES_DIR, rules, ignore=shutil.ignore_patterns("model.json"))
    text = (rules / "matching.yaml").read_text(encoding="utf-8")
    (rules / "matching.yaml").write_text(text.replace("pair_budget: 60000000", "pair_budget: 0"), encoding="utf-8")
    with pytest.raises(BudgetError, match="blocking rule 'personal_id'.*hottest key '079070000022'"):
        run(paths["wanted"], paths["residents"], paths["id_cards"], tmp_path / "out", rules=rules)
    runner = CliRunner()
    out = runner.invoke(app, ["run", "--wanted", str(paths["wanted"]), "--residents", str(paths["residents"]),
                              "--out", str(tmp_path / "cli"), "--rules", str(rules)])
    assert out.exit_code == 4
    assert "pair budget" in out.output or "budget" in out.output


def test_blocking_command_reports_rules(tmp_path):
    paths = write_inputs(tmp_path)
    out = CliRunner().invoke(app, ["blocking", "--wanted", str(paths["wanted"]), "--residents",
                                   str(paths["residents"]), "--id-cards", str(paths["id_cards"]),
                                   "--out", str(tmp_path / "b")])
    assert out.exit_code == 0, out.output
    assert "personal_id" in out.output and "dob_gender_hometown" in out.output
    assert "total candidate pairs" in out.output


def test_run_without_model_trains_and_says_so(tmp_path):
    paths = write_inputs(tmp_path)
    rules = tmp_path / "rules"
    shutil.copytree(DEFAULT_RULES_DIR, rules, ignore=shutil.ignore_patterns("model.json"))
    text = (rules / "matching.yaml").read_text(encoding="utf-8")
    (rules / "matching.yaml").write_text(text.replace("u_sample_pairs: 1000000", "u_sample_pairs: 2000"), encoding="utf-8")
    out = CliRunner().invoke(app, ["run", "--wanted", str(paths["wanted"]), "--residents", str(paths["residents"]),
                                   "--out", str(tmp_path / "o"), "--rules", str(rules)])
    assert out.exit_code == 0, out.output
    assert "training one on this run's pairs first" in out.output
    assert (tmp_path / "o" / "model.json").is_file()
    assert (tmp_path / "o" / "matches.parquet").is_file()


def test_missing_input_file_exit_code(tmp_path):
    out = CliRunner().invoke(app, ["run", "--wanted", str(tmp_path / "nope.csv"), "--residents",
                                   str(tmp_path / "nope2.csv"), "--out", str(tmp_path / "o")])
    assert out.exit_code == 2
    assert "nope.csv" in out.output


def test_sample_run_is_byte_identical(tmp_path):
    """The committed sample, twice, with the same model: the same bytes."""
    sample = Path(__file__).resolve().parent.parent / "data_samples" / "sample"
    model = save_model(default_model(load_settings(), rules_hash()), tmp_path / "model.json")
    outs = []
    for name in ("a", "b"):
        res = run(sample / "wanted.csv", sample / "residents.csv", sample / "id_cards.csv", tmp_path / name,
                  model_path=model)
        outs.append(res.matches.read_bytes())
    assert outs[0] == outs[1]
    m = pd.read_parquet(tmp_path / "a" / "matches.parquet")
    assert m["wanted_id"].nunique() > 400


def test_normalisation_may_give_duckdb_its_own_memory_limit(tmp_path, monkeypatch):
    """engine.normalise_memory_limit holds while the registers are normalised (their dictionaries
    and chunks sit in Python beside DuckDB); the stages after it get engine.memory_limit back."""
    import duckdb

    import linkage.pipeline as pipeline

    rules = tmp_path / "rules"
    shutil.copytree(DEFAULT_RULES_DIR, rules, ignore=shutil.ignore_patterns("model.json"))
    text = (rules / "matching.yaml").read_text(encoding="utf-8")
    text, n = re.subn(r'\bmemory_limit: "[^"]+"', 'memory_limit: "900MB"', text)
    text, m = re.subn(r'normalise_memory_limit: (null|"[^"]+")', 'normalise_memory_limit: "300MB"', text)
    assert n == m == 1, "the engine settings in rules/matching.yaml changed their keys"
    (rules / "matching.yaml").write_text(text, encoding="utf-8")
    seen: dict[str, str] = {}
    normalise, block = pipeline._normalise, pipeline.block

    def limit(con) -> str:
        return con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]

    def spy_normalise(ctx, sources, bar):
        seen["normalise"] = limit(ctx.con)
        return normalise(ctx, sources, bar)

    def spy_block(con, *args, **kwargs):
        seen["block"] = limit(con)
        return block(con, *args, **kwargs)

    monkeypatch.setattr(pipeline, "_normalise", spy_normalise)
    monkeypatch.setattr(pipeline, "block", spy_block)
    paths = write_inputs(tmp_path)
    model = save_model(default_model(load_settings(rules), rules_hash(rules)), tmp_path / "model.json")
    run(paths["wanted"], paths["residents"], paths["id_cards"], tmp_path / "out", rules=rules, model_path=model)
    scratch = duckdb.connect()
    expected = {}
    for stage, value in (("normalise", "300MB"), ("block", "900MB")):
        scratch.execute(f"SET memory_limit = '{value}'")
        expected[stage] = limit(scratch)
    assert seen == expected and expected["normalise"] != expected["block"]
