"""`linkage enrich` on real files: fills, precision upgrades, conflicts listed and never applied,
the input never touched; confirmed matches from a labels file and from the judgement store."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import cli
from linkage.review.store import Store

runner = CliRunner()

WANTED = ["wanted_id", "full_name", "gender", "birth_date", "hometown", "current_address", "id_number",
          "father_name", "mother_name", "decision_date", "issuing_unit"]
RESIDENTS = ["person_id", "full_name", "gender", "birth_date", "hometown", "permanent_address", "current_address",
             "father_name", "mother_name", "status", "updated_at"]
CARDS = ["card_number", "old_id_number", "full_name", "gender", "birth_date", "hometown", "permanent_address", "issue_date"]

P1, P2, P3, P4, P5, P6 = "087090001234", "087091005678", "001085002468", "079088001357", "079088002468", "079077003579"


def _w(i: str, **kw: str) -> dict[str, str]:
    row = {c: "" for c in WANTED}
    row.update(wanted_id=i, full_name="Trần Văn Hùng", gender="Nam", decision_date="01/02/2020",
               issuing_unit="Công an tỉnh Đồng Tháp")
    row.update(kw)
    return row


def _r(pid: str, **kw: str) -> dict[str, str]:
    row = {c: "" for c in RESIDENTS}
    row.update(person_id=pid, full_name="Trần Văn Hùng", gender="Nam", birth_date="12/03/1990",
               hometown="Xã Tân Phước, Huyện Lai Vung, Tỉnh Đồng Tháp", status="alive", updated_at="2019-05-01")
    row.update(kw)
    return row


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, Path]:
    wanted = [
        # empty id and mother, a birth year only, a province only, a father without diacritics
        _w("W1", birth_date="1990", hometown="Tỉnh Đồng Tháp", father_name="Tran Van Loc"),
        # another birth date and another 12-digit id: conflicts
        _w("W2", birth_date="12/03/1991", id_number="087091999999", hometown="Tỉnh Đồng Tháp"),
        # an old CMND the card records: upgrade
        _w("W3", id_number="123456789", birth_date="05/06/1985"),
        # an address the register updated after the wanted record's date: newer
        _w("W4", current_address="Ấp 17, Xã Tân Phước, Huyện Lai Vung, Tỉnh Đồng Tháp", birth_date="1988"),
        # an address that differs, the register record older than the wanted record: conflict
        _w("W5", current_address="Thôn 3, Xã Chí Đám, Huyện Đoan Hùng, Tỉnh Phú Thọ", birth_date="1988"),
        # not a confirmed match (label 0): untouched
        _w("W6", birth_date="1977"),
    ]
    residents = [
        _r(P1, father_name="Trần Văn Lộc", mother_name="Lê Thị Hoa"),
        _r(P2, birth_date="12/03/1990", mother_name="Phạm Thị Lan"),
        _r(P3, birth_date="05/06/1985"),
        _r(P4, birth_date="20/10/1988", current_address="Số 5 đường Lê Lợi, Phường 1, Thành phố Cao Lãnh, Tỉnh Đồng Tháp",
           updated_at="2024-06-30"),
        _r(P5, birth_date="20/10/1988", current_address="Số 9 đường Trần Phú, Phường 2, Thành phố Cao Lãnh, Tỉnh Đồng Tháp",
           updated_at="2018-01-01"),
        _r(P6, birth_date="01/01/1977"),
    ]
    cards = [{"card_number": P3, "old_id_number": "123456789", "full_name": "Trần Văn Hùng", "gender": "Nam",
              "birth_date": "05/06/1985", "hometown": "", "permanent_address": "", "issue_date": "2021-07-01"}]
    paths = {"wanted": tmp_path / "wanted.csv", "residents": tmp_path / "residents.csv", "id_cards": tmp_path / "cards.csv",
             "labels": tmp_path / "labels.csv"}
    pd.DataFrame(wanted, columns=WANTED).to_csv(paths["wanted"], index=False)
    pd.DataFrame(residents, columns=RESIDENTS).to_csv(paths["residents"], index=False)
    pd.DataFrame(cards, columns=CARDS).to_csv(paths["id_cards"], index=False)
    pd.DataFrame({"wanted_id": ["W1", "W2", "W3", "W4", "W5", "W6"], "person_id": [P1, P2, P3, P4, P5, P6],
                  "label": [1, 1, 1, 1, 1, 0]}).to_csv(paths["labels"], index=False)
    return paths


def _propose(files: dict[str, Path], out: Path, *how: str) -> dict:
    got = runner.invoke(cli.app, ["enrich", "--wanted", str(files["wanted"]), "--out", str(out), "--residents",
                                  str(files["residents"]), "--id-cards", str(files["id_cards"]), "--json", *how])
    assert got.exit_code == 0, got.output
    return json.loads(got.stdout)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_fills_precision_upgrades_and_conflicts(files, tmp_path: Path) -> None:
    before = _digest(files["wanted"])
    _propose(files, tmp_path / "out", "--labels", str(files["labels"]))
    ch = pd.read_csv(tmp_path / "out" / "changes.csv", dtype=str, keep_default_na=False)
    got = {(r.wanted_id, r.field): (r.rule, r.register_value, r.current_value) for r in ch.itertuples()}
    assert got[("W1", "id_number")] == ("fill_empty", P1, "")
    assert got[("W1", "mother_name")] == ("fill_empty", "Lê Thị Hoa", "")
    assert got[("W1", "birth_date")] == ("more_precise", "12/03/1990", "1990")
    assert got[("W1", "hometown")][0] == "more_precise"
    assert got[("W1", "father_name")] == ("restore_marks", "Trần Văn Lộc", "Tran Van Loc")
    assert got[("W3", "id_number")] == ("id_upgrade", P3, "123456789")
    assert got[("W4", "current_address")][0] == "register_newer"
    assert got[("W4", "birth_date")][0] == "more_precise"
    assert not any(w == "W6" for w, _ in got)  # label 0: not a confirmed match
    assert (ch["source_record"].str.startswith(("residents:", "id_cards:"))).all()
    # conflicts are listed and never proposed
    cf = pd.read_csv(tmp_path / "out" / "conflicts.csv", dtype=str, keep_default_na=False)
    conflicts = {(r.wanted_id, r.field) for r in cf.itertuples()}
    assert {("W2", "birth_date"), ("W2", "id_number"), ("W5", "current_address")} <= conflicts
    assert not conflicts & set(got)
    assert ("W2", "hometown") in got  # a consistent upgrade on a record that also has conflicts
    assert _digest(files["wanted"]) == before


def test_apply_writes_a_copy_and_never_a_conflict(files, tmp_path: Path) -> None:
    before = _digest(files["wanted"])
    _propose(files, tmp_path / "out", "--labels", str(files["labels"]))
    ch = pd.read_csv(tmp_path / "out" / "changes.csv", dtype=str, keep_default_na=False)
    ch["approved"] = "yes"
    ch.loc[(ch["wanted_id"] == "W4") & (ch["field"] == "birth_date"), "approved"] = ""  # the steward declines one
    cf = pd.read_csv(tmp_path / "out" / "conflicts.csv", dtype=str, keep_default_na=False)
    slipped = cf[(cf["wanted_id"] == "W2") & (cf["field"] == "birth_date")].assign(rule="conflict", approved="yes")
    stale = ch[(ch["wanted_id"] == "W3") & (ch["field"] == "id_number")].assign(current_value="999999999")
    approved = pd.concat([ch[~((ch["wanted_id"] == "W3") & (ch["field"] == "id_number"))], slipped, stale])
    approved.to_csv(tmp_path / "approved.csv", index=False)
    got = runner.invoke(cli.app, ["enrich", "--wanted", str(files["wanted"]), "--out", str(tmp_path / "fixed"),
                                  "--apply", str(tmp_path / "approved.csv"), "--json"])
    assert got.exit_code == 0, got.output
    summary = json.loads(got.stdout)
    copy = pd.read_csv(tmp_path / "fixed" / "wanted_enriched.csv", dtype=str, keep_default_na=False).set_index("wanted_id")
    assert copy.loc["W1", "birth_date"] == "12/03/1990" and copy.loc["W1", "id_number"] == P1
    assert copy.loc["W1", "father_name"] == "Trần Văn Lộc"
    assert copy.loc["W2", "birth_date"] == "12/03/1991"  # the conflict was not applied
    assert copy.loc["W3", "id_number"] == "123456789"  # stale approval: not applied
    assert copy.loc["W4", "birth_date"] == "1988"  # declined
    assert copy.loc["W6"].equals(pd.read_csv(files["wanted"], dtype=str, keep_default_na=False).set_index("wanted_id").loc["W6"])
    skipped = pd.read_csv(tmp_path / "fixed" / "skipped_changes.csv", dtype=str, keep_default_na=False)
    assert set(zip(skipped["wanted_id"], skipped["field"])) == {("W2", "birth_date"), ("W3", "id_number")}
    log = pd.read_parquet(tmp_path / "fixed" / "wanted_enriched.changes.parquet")
    assert len(log) == summary["applied"] == int((approved["rule"] != "conflict").sum()) - 2
    row = log[(log["record_id"] == "W1") & (log["field"] == "birth_date")].iloc[0]
    assert (row["before"], row["after"], row["rule"]) == ("1990", "12/03/1990", "enrich:more_precise")
    assert _digest(files["wanted"]) == before  # the input is never touched


def test_confirmed_matches_from_the_judgement_store(files, tmp_path: Path) -> None:
    store_path = tmp_path / "review.sqlite"
    store = Store.open(store_path)
    try:
        store.decide("W1", P1, "match", "an")
        store.decide("W2", P2, "not_match", "an")
        store.decide("W3", P3, "match", "an", danger_level="đặc biệt nguy hiểm")  # waits for a second reviewer
    finally:
        store.close()
    summary = _propose(files, tmp_path / "out", "--decisions", str(store_path))
    assert summary["counts"]["confirmed_matches"] == 1
    ch = pd.read_parquet(tmp_path / "out" / "changes.parquet")
    assert set(ch["wanted_id"]) == {"W1"}


def test_usage_errors(files, tmp_path: Path) -> None:
    both = runner.invoke(cli.app, ["enrich", "--wanted", str(files["wanted"]), "--out", str(tmp_path / "o"),
                                   "--residents", str(files["residents"])])
    assert both.exit_code == 2 and "--decisions" in both.output
    bad = runner.invoke(cli.app, ["enrich", "--wanted", str(files["wanted"]), "--out", str(tmp_path / "o"),
                                  "--apply", str(tmp_path / "nothing.csv")])
    assert bad.exit_code == 2 and "nothing.csv" in bad.output
