"""`linkage screen` against a real workspace built by the nightly job from the committed sample:
every register record screened at the desk gets the candidates and probabilities `linkage run`
gives with the same model; a new person gets what the next night gives after adding it; the
command's JSON Lines, exit codes and errors naming the line and field."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from linkage.model import default_model, save_model
from linkage.pipeline import run
from linkage.rules import DEFAULT_RULES_DIR, rules_hash
from linkage.screen.records import RecordError, check_record
from linkage.screen.service import open_screening
from linkage.settings import load_settings
from linkage.workspace.delta import SourceInput
from linkage.workspace.nightly import nightly

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data_samples" / "sample"
D1, D2 = "2026-03-01", "2026-03-02"
SOURCES = ("wanted", "residents", "id_cards")


def read(name: str) -> pd.DataFrame:
    return pd.read_csv(SAMPLE / f"{name}.csv", dtype=str, keep_default_na=False)


def records(frame: pd.DataFrame, source: str) -> list:
    return [check_record({k: v for k, v in row.items()}, f"{source} row {i + 1}")
            for i, row in enumerate(frame.to_dict("records"))]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict:
    """The sample's workspace after one night (a given model), and `linkage run` on the same files."""
    d = tmp_path_factory.mktemp("screen")
    rules = d / "rules"
    shutil.copytree(DEFAULT_RULES_DIR, rules, ignore=shutil.ignore_patterns("model.json", "examples"))
    model = d / "model.json"
    save_model(default_model(load_settings(rules), rules_hash(rules)), model)
    files = {s: SAMPLE / f"{s}.csv" for s in SOURCES}
    nightly(d / "ws", d / "out", {s: SourceInput(p) for s, p in files.items()}, night=D1, model_path=model, rules=rules)
    result = run(files["wanted"], files["residents"], files["id_cards"], d / "run", rules=rules, model_path=model)
    return {"dir": d, "rules": rules, "model": model, "ws": d / "ws", "matches": pd.read_parquet(result.matches)}


def as_frame(results: list[dict]) -> pd.DataFrame:
    rows = [dict(c, person_id=r["person_id"], _probe=i) for i, r in enumerate(results) for c in r["candidates"]]
    return pd.DataFrame(rows)


def assert_same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    key = ["person_id", "wanted_id"]
    assert len(got) == len(want)
    a = got.sort_values(key).reset_index(drop=True)
    b = want.sort_values(key).reset_index(drop=True)
    assert list(a[key].itertuples(index=False)) == list(b[key].itertuples(index=False))
    np.testing.assert_allclose(a.match_probability, b.match_probability, rtol=0, atol=1e-9)
    np.testing.assert_allclose(a.match_weight, b.match_weight, rtol=0, atol=1e-9)
    mw = [c for c in b.columns if c.startswith("mw_")]
    np.testing.assert_allclose(a[mw].to_numpy(float), b[mw].to_numpy(float), rtol=0, atol=1e-9)
    np.testing.assert_allclose(a.pair_probability, b.pair_probability, rtol=0, atol=1e-9)
    for col in ["rank", "sources", "name_changed", "residence_changed", "birth_date_changed", "id_match",
                "explanation", "blocking_rules", "current_full_name", "current_address", "current_source",
                "person_status", "age"]:
        assert _values(a[col]) == _values(b[col]), col
    # the current record's date: ISO text from the desk, a date in the batch's Parquet
    assert _values(a.current_record_date.astype(str).str[:10]) == _values(b.current_record_date.astype(str).str[:10])


def _values(column: pd.Series) -> list:
    """A column's values, NULL as None (pandas reads a missing value as None, NaN or NaT)."""
    return [None if pd.isna(v) else (int(v) if isinstance(v, float) and v.is_integer() else v) for v in column]


@pytest.mark.parametrize("reuse", [True, False], ids=["stored rows", "normalised at the desk"])
def test_every_register_record_is_screened_as_the_batch_scores_it(world, reuse):
    """Each resident and card record of the sample, screened as its (known) person, returns that
    person's candidates in `linkage run`'s matches: same wanted ids, probabilities within 1e-9,
    the same ranks, mw_ columns, flags and explanation; both when a record exactly as stored takes
    its stored row (rules/screen.yaml reuse_stored_rows) and when every record is normalised."""
    screening = open_screening(world["ws"], world["rules"])
    screening.screener.config = dataclasses.replace(screening.screener.config, reuse_stored_rows=reuse)
    if not reuse:  # every current record's levels come from the call's comparisons
        screening.screener._rows_out._current = None
    want = world["matches"]
    for source in ("residents", "id_cards"):
        frame = read(source)
        results = screening.screen(records(frame, source), threshold=0.0)
        assert [r["person_id"] for r in results] == frame[frame.columns[0]].tolist()
        assert all(r["in_register"] for r in results)
        got = as_frame(results)
        # one line per record; every person of the source has all its batch candidates
        expected = want[want.person_id.isin(set(frame[frame.columns[0]]))]
        assert_same(got.drop(columns=["_probe", "danger_level", "alert"]), expected.drop(columns=["run_id"]))
        assert len(got) > 300  # the sample's register holds hundreds of leads


def test_a_record_as_stored_takes_its_stored_row_and_a_changed_one_is_normalised(world):
    """Every register record of the sample, sent as stored, has its source fingerprint computed at
    the desk equal to the workspace's (DuckDB's), so none is normalised or blocked again (its
    person's stored candidates and levels are the night's). A record written otherwise is
    normalised; when the values blocking and comparing read come out as stored (a name in
    capitals) it keeps the night's pairs, else (a letter dropped) it is blocked and compared. Each
    gets the answer it gets with reuse turned off, alone and in a call with records as stored."""
    screening = open_screening(world["ws"], world["rules"])
    screener = screening.screener
    seen: list[int] = []
    prepared = screener._memo.prepared

    def spy(columns, source, uid):
        seen.append(len(columns["full_name"]))  # records normalised
        return prepared(columns, source, uid)

    screener._memo.prepared = spy
    blocked = []
    block = screener._block
    screener._block = lambda reg, index: blocked.append(reg.num_rows) or block(reg, index)
    for source in ("residents", "id_cards"):
        screening.screen(records(read(source), source), threshold=0.0)
    assert seen == [] and blocked == []  # the night's candidates and levels, not blocked again
    res = read("residents")
    want = world["matches"]
    leads = res[res.person_id.isin(set(want.person_id))]
    capitals = leads.head(5).copy()
    capitals["full_name"] = capitals.full_name.str.upper()  # the same name, written in capitals
    got_capitals = as_frame(screening.screen(records(capitals, "residents"), threshold=0.0))
    assert seen == [5] and blocked == []  # normalised, alike where the pair stage reads: not blocked
    typo = leads.iloc[45:50].copy()
    typo["full_name"] = typo.full_name.str[:-1]  # the given name's last letter dropped
    seen.clear()
    got = as_frame(screening.screen(records(typo, "residents"), threshold=0.0))
    assert seen == [5] and len(blocked) == 1
    # one call of records as stored and changed ones: the stored ones take the night's pairs, the
    # changed ones are blocked and compared
    stored = leads.iloc[5:45]
    mixed = records(pd.concat([stored.iloc[:20], typo, capitals, stored.iloc[20:]]), "residents")
    seen.clear()
    got_mixed = as_frame(screening.screen(mixed, threshold=0.0))
    assert seen == [10] and len(blocked) == 2 and blocked[1] == blocked[0]  # only the typo persons' records
    screener.config = dataclasses.replace(screener.config, reuse_stored_rows=False)
    for frame, before in ((capitals, got_capitals), (typo, got)):
        again = as_frame(screening.screen(records(frame, "residents"), threshold=0.0))
        assert len(before) >= 5
        assert_same(before.drop(columns=["_probe"]), again.drop(columns=["_probe"]))
    mixed_again = as_frame(screening.screen(mixed, threshold=0.0))
    assert len(got_mixed) >= 50
    assert_same(got_mixed.drop(columns=["_probe"]), mixed_again.drop(columns=["_probe"]))


def test_records_screened_one_per_call_get_the_batchs_rows(world):
    """One record per call (a desk's usual request): a lead's output row and the record's keys are
    then a single row, evaluated by linkage/backends/arrow_row.py; the same rows as the batch."""
    screening = open_screening(world["ws"], world["rules"])
    want = world["matches"]
    residents, cards = read("residents"), read("id_cards")
    res = residents[residents.person_id.isin(set(want.person_id))].head(40)
    card = cards[cards.card_number.isin(set(want.person_id) - set(res.person_id))].head(40)
    results = [r for frame, source in ((res, "residents"), (card, "id_cards"))
               for rec in records(frame, source) for r in screening.screen([rec], threshold=0.0)]
    got = as_frame(results)
    expected = want[want.person_id.isin(set(res.person_id) | set(card.card_number))]
    assert len(expected) >= 80
    assert_same(got.drop(columns=["_probe", "danger_level", "alert"]), expected.drop(columns=["run_id"]))


def test_sql_the_evaluator_lacks_is_left_to_duckdb_with_the_same_answer(world, monkeypatch):
    """Rules using SQL the Arrow evaluator does not implement still screen as the batch scores:
    those expressions (here every list_has_any and strpos: comparison levels, a blocking filter,
    the explanation) are run by DuckDB."""
    from linkage.backends import arrow_sql

    monkeypatch.delitem(arrow_sql._FUNCTIONS, "list_has_any")
    monkeypatch.delitem(arrow_sql._FUNCTIONS, "strpos")
    screening = open_screening(world["ws"], world["rules"])
    assert screening.screener._rows_out is None
    assert any(e.fn is None for e in screening.screener._levels)
    assert any(e.fn is None for e in screening.screener._filters.values())
    frame = read("residents")
    want = world["matches"]
    leads = frame[frame.person_id.isin(set(want.person_id))].head(60)
    sample = pd.concat([leads, frame.head(40)]).drop_duplicates("person_id")
    got = as_frame(screening.screen(records(sample, "residents"), threshold=0.0))
    expected = want[want.person_id.isin(set(sample.person_id))]
    assert len(expected) >= 60
    assert_same(got.drop(columns=["_probe", "danger_level", "alert"]), expected.drop(columns=["run_id"]))


def test_the_registers_birth_dates_and_places_are_normalised_when_the_desk_opens(world):
    """rules/screen.yaml prewarm_columns: the register's distinct values of those columns are in
    the memo before any record is screened (the parity test above screens with them)."""
    screening = open_screening(world["ws"], world["rules"])
    memo = screening.screener._memo
    residents, cards = read("residents"), read("id_cards")
    dates = (set(residents.birth_date) | set(cards.birth_date)) - {""}
    places = (set(residents.hometown) | set(cards.hometown) | set(residents.birth_place)) - {""}
    assert dates <= set(memo._where["dates"])
    assert places <= set(memo._where["places"])
    assert "names" not in memo._where  # names are left to the calls


def test_the_threshold_keeps_the_leads_at_or_above_it(world):
    screening = open_screening(world["ws"], world["rules"])
    t = screening.screener.config.threshold
    assert t == load_settings(world["rules"]).threshold  # screen.yaml: null = scoring.threshold
    res = read("residents")
    want = world["matches"]
    leads = want[want.match_probability >= t]
    sample = res[res.person_id.isin(set(leads.person_id))].head(40)
    results = screening.screen(records(pd.concat([sample, res.head(40)]), "residents"))
    got = as_frame(results)
    expected = leads[leads.person_id.isin(set(sample.person_id) | set(res.head(40).person_id))]
    assert set(zip(got.person_id, got.wanted_id)) == set(zip(expected.person_id, expected.wanted_id))
    assert (got.match_probability >= t).all()


def test_a_new_person_gets_what_the_next_night_gives_after_adding_it(world, tmp_path):
    """A workspace without three persons (their records withheld); each withheld resident record
    screened at the desk (not in the register: the TF counts and the prior count it in) gets the
    candidates and probabilities of a night that adds just that record."""
    truth = read("truth")
    res = read("residents")
    linked = truth.person_id[truth.person_id.isin(set(res.person_id))].drop_duplicates()
    withheld = list(linked.iloc[[0, 7, 19]])
    base = {"wanted": read("wanted"), "residents": res[~res.person_id.isin(withheld)],
            "id_cards": read("id_cards")}
    base["id_cards"] = base["id_cards"][~base["id_cards"].card_number.isin(withheld)]
    files = {}
    for s, f in base.items():
        files[s] = tmp_path / f"{s}.csv"
        f.to_csv(files[s], index=False)
    ws = tmp_path / "ws"
    nightly(ws, tmp_path / "out", {s: SourceInput(p) for s, p in files.items()}, night=D1,
            model_path=world["model"], rules=world["rules"])
    screening = open_screening(ws, world["rules"])
    found = 0
    for k, person in enumerate(withheld):
        new = res[res.person_id == person]
        got = screening.screen(records(new, "residents"), threshold=0.0)
        assert not got[0]["in_register"]
        copy, out = tmp_path / f"ws{k}", tmp_path / f"out{k}"
        shutil.copytree(ws, copy, ignore=shutil.ignore_patterns("screen"))
        delta = tmp_path / f"residents_delta{k}.csv"
        new.to_csv(delta, index=False)
        nightly(copy, out, {"residents": SourceInput(None, delta)}, night=D2, rules=world["rules"])
        night = pd.read_parquet(out / D2 / "matches.parquet")
        expected = night[night.person_id == person]
        found += len(expected)
        assert_same(as_frame(got).drop(columns=["_probe", "danger_level", "alert"]), expected.drop(columns=["run_id"]))
    assert found >= 3


def _cli(args: list[str], stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli", "screen", *args], input=stdin, capture_output=True,
                          text=True, cwd=ROOT, timeout=300)


def test_the_command_reads_json_lines_and_prints_one_line_per_record(world, tmp_path):
    want = world["matches"]
    res = read("residents")
    lead = want.sort_values("match_probability").iloc[-1]
    rows = [res[res.person_id == lead.person_id].iloc[0].to_dict(),
            {"person_id": "999999999999", "full_name": "Không Ai Cả", "birth_date": "01/02/1950"}]
    lines = "\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n\n"
    p = _cli(["--workspace", str(world["ws"]), "--rules", str(world["rules"]), "-"], lines)
    assert p.returncode == 0, p.stderr
    out = [json.loads(line) for line in p.stdout.splitlines()]
    assert [o["person_id"] for o in out] == [lead.person_id, "999999999999"]
    first = {c["wanted_id"]: c for c in out[0]["candidates"]}
    assert abs(first[lead.wanted_id]["match_probability"] - lead.match_probability) <= 1e-9
    assert first[lead.wanted_id]["explanation"] == lead.explanation
    assert out[1]["candidates"] == [] and out[1]["in_register"] is False
    f = tmp_path / "in.jsonl"
    f.write_text(lines, encoding="utf-8")
    p2 = _cli(["--workspace", str(world["ws"]), str(f), "--threshold", "0", "--rules", str(world["rules"])])
    assert p2.returncode == 0, p2.stderr
    again = [json.loads(line) for line in p2.stdout.splitlines()]
    assert len(again[0]["candidates"]) >= len(out[0]["candidates"])


@pytest.mark.parametrize("line, message", [
    ('{"person_id": "0722 0505 5449", "full_name": ""}', "line 2: field 'full_name': required"),
    ('{"person_id": "12345", "full_name": "An"}', "line 2: field 'person_id': expected a 12-digit"),
    ('{"card_number": "072205055449", "full_name": "An", "status": "alive"}', "line 2: field 'status': not a column of the id_cards"),
    ('{"person_id": "072205055449", "full_name": ["An"]}', "line 2: field 'full_name': expected text"),
    ('{"person_id": "072205055449", "full_name": "An"', "line 2: not valid JSON"),
    ('["072205055449"]', "line 2: expected a JSON object"),
])
def test_a_bad_record_stops_the_command_naming_the_line_and_field(world, line, message):
    good = json.dumps({"person_id": "072205055449", "full_name": "Đinh Nghiệp Thịnh"}, ensure_ascii=False)
    p = _cli(["--workspace", str(world["ws"]), "--rules", str(world["rules"])], good + "\n" + line + "\n")
    assert p.returncode == 2
    assert message in p.stderr and "stdin" in p.stderr
    assert p.stdout == ""  # nothing screened before every record was checked


def test_check_record_repairs_ids_as_ingest_does():
    r = check_record({"card_number": " 0722.0505-5449 ", "full_name": "An", "old_id_number": ""}, "x")
    assert (r.source, r.person_id, r.values["old_id_number"]) == ("id_cards", "072205055449", None)
    with pytest.raises(RecordError, match="'source'"):
        check_record({"source": "wanted", "person_id": "072205055449", "full_name": "An"}, "x")


def test_a_folder_without_a_workspace_is_a_clear_error(tmp_path):
    p = _cli(["--workspace", str(tmp_path)], "")
    assert p.returncode == 2 and "no workspace there" in p.stderr
