"""matches.parquet in its two forms: one file, or (past engine.matches_partition_rows) a folder of
Parquet parts. The same run written both ways must read the same through read_matches, DuckDB
and pandas, and every reader in the package (evaluation, the run report, the review app's
loader, cases, labels, decisions) must take the folder as it takes the file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml

from linkage.errors import RulesError
from linkage.evaluate import evaluate
from linkage.matches_io import is_matches, matches_parts, matches_source, read_matches
from linkage.model import default_model, save_model
from linkage.pipeline import run
from linkage.rules import DEFAULT_RULES_DIR, rules_hash
from linkage.settings import load_settings

SAMPLE = Path(__file__).resolve().parents[1] / "data_samples" / "sample"


def _rules(tmp: Path, partition_rows: int | None) -> Path:
    rules = tmp / "rules"
    shutil.copytree(DEFAULT_RULES_DIR, rules, ignore=shutil.ignore_patterns("model.json", "examples"))
    if partition_rows is not None:
        path = rules / "matching.yaml"
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        data["engine"]["matches_partition_rows"] = partition_rows
        path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return rules


@pytest.fixture(scope="module")
def two_forms(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("matches_io")
    rules = {"file": _rules(tmp / "a", None), "parts": _rules(tmp / "b", 100)}
    model = save_model(default_model(load_settings(rules["file"]), rules_hash(rules["file"])), tmp / "model.json")
    got = {}
    for form, r in rules.items():
        got[form] = run(SAMPLE / "wanted.csv", SAMPLE / "residents.csv", SAMPLE / "id_cards.csv", tmp / form,
                        rules=r, model_path=model)
    return {"tmp": tmp, "rules": rules, "model": model, **got}


def test_the_folder_holds_the_files_rows_in_its_order(two_forms):
    single, folder = two_forms["file"].matches, two_forms["parts"].matches
    assert single.is_file() and folder.is_dir()
    parts = matches_parts(folder)
    whole = pd.read_parquet(single)
    assert len(whole) > 300 and len(parts) == pytest.approx(len(whole) / 100, abs=1)
    sizes = [len(pd.read_parquet(p)) for p in parts]
    assert all(s >= 100 for s in sizes[:-1]) and max(sizes) < 100 + 20  # cut after whole wanted records
    a = read_matches(folder).to_pandas().drop(columns="run_id")
    pd.testing.assert_frame_equal(a, whole.drop(columns="run_id"))  # same rows, same order
    owners = pd.concat([pd.read_parquet(p, columns=["wanted_id"]).drop_duplicates().assign(part=i)
                        for i, p in enumerate(parts)])
    assert owners.wanted_id.is_unique  # a wanted record's candidates sit in one part
    # DuckDB (the helper, or a glob over the folder) and pandas (the folder as a dataset)
    con = duckdb.connect()
    n = con.execute(f"SELECT count(*), count(DISTINCT wanted_id) FROM {matches_source(folder)}").fetchall()[0]
    assert n == (len(whole), whole.wanted_id.nunique())
    assert con.execute(f"SELECT count(*) FROM read_parquet('{folder}/*.parquet')").fetchall()[0][0] == len(whole)
    con.close()
    by_pandas = pd.read_parquet(folder).sort_values(["wanted_id", "rank"]).reset_index(drop=True)
    assert list(by_pandas.columns) == list(whole.columns) and len(by_pandas) == len(whole)


def test_the_manifest_says_which_form(two_forms):
    for form in ("file", "parts"):
        m = json.loads(two_forms[form].manifest.read_text(encoding="utf-8"))
        assert m["outputs"]["matches_form"]["form"] == form
        assert m["outputs"]["matches_form"]["rows"] == m["counts"]["matches"] > 0
    assert json.loads(two_forms["parts"].manifest.read_text(encoding="utf-8"))["outputs"]["matches_form"]["parts"] > 2


def test_readers_take_either_form(two_forms, tmp_path):
    from linkage.audit.cases import find_cases
    from linkage.labels import sample_for_review
    from linkage.reports.run_data import flag_counts, locate, probabilities
    from linkage.review.candidates import load_matches

    single, folder = two_forms["file"].matches, two_forms["parts"].matches
    ev = {k: evaluate(SAMPLE / "truth.csv", p, 0.5) for k, p in (("file", single), ("parts", folder))}
    assert ev["file"].summary() == ev["parts"].summary() and ev["file"].true_pairs > 0
    pd.testing.assert_frame_equal(ev["file"].by_scenario, ev["parts"].by_scenario)
    files = {k: locate(two_forms[k].matches.parent) for k in ("file", "parts")}
    assert (probabilities(files["file"]) == probabilities(files["parts"])).all()
    pd.testing.assert_frame_equal(flag_counts(files["file"], 0.5), flag_counts(files["parts"], 0.5))
    assert (two_forms["parts"].matches.parent / "report.html").stat().st_size > 10_000
    wanted = pd.read_csv(SAMPLE / "wanted.csv", dtype=str, keep_default_na=False)
    import pyarrow as pa

    a, b = (load_matches(p, pa.Table.from_pandas(wanted)) for p in (single, folder))
    assert a.drop_columns(["run_id"]).equals(b.drop_columns(["run_id"]))
    threshold = load_settings(two_forms["rules"]["file"]).threshold
    ca, cb = find_cases(single, threshold, 60), find_cases(folder, threshold, 60)
    pd.testing.assert_frame_equal(ca.drop(columns="run_id", errors="ignore"), cb.drop(columns="run_id", errors="ignore"))
    sa, sb = sample_for_review(single, 20, seed=3), sample_for_review(folder, 20, seed=3)
    pd.testing.assert_frame_equal(sa.drop(columns="run_id", errors="ignore"), sb.drop(columns="run_id", errors="ignore"))
    assert not is_matches(tmp_path / "none.parquet")


def test_a_rerun_swaps_a_folder_for_a_file_and_back(two_forms):
    out = two_forms["tmp"] / "swap"
    for form in ("parts", "file", "parts"):
        r = run(SAMPLE / "wanted.csv", SAMPLE / "residents.csv", SAMPLE / "id_cards.csv", out,
                rules=two_forms["rules"][form], model_path=two_forms["model"])
        assert r.matches.is_dir() == (form == "parts")
        assert len(read_matches(r.matches)) == len(pd.read_parquet(two_forms["file"].matches))


def test_a_bad_setting_is_a_rules_error(tmp_path):
    rules = _rules(tmp_path, 0)
    with pytest.raises(RulesError, match="matches_partition_rows"):
        run(SAMPLE / "wanted.csv", SAMPLE / "residents.csv", SAMPLE / "id_cards.csv", tmp_path / "out", rules=rules,
            model_path=None)
