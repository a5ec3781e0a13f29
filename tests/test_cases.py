"""Close-case candidates (issue 12 item 2): `linkage cases` on planted deceased and over-80
persons, one deceased under a changed name, and the audit's deceased link with and without the
run's matches. Planted persons on a slice of the committed sample, through `linkage run`."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import cli
from linkage.audit.run import audit
from linkage.pipeline import run

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data_samples" / "sample"
REF = "2026-06-01"
ADDR = "Ấp Tân Hòa, Xã Bình An, Huyện Long Thành, Tỉnh Đồng Nai"

# wanted_id, person_id, wanted name (and card name), residents name, birth, status, wanted id number?
PLANTED = [
    ("TN-800001", "001070000111", "Đỗ Văn Khải", "Đỗ Văn Khải", "03/04/1970", "Đã chết", True),  # deceased
    ("TN-800002", "001035000222", "Bùi Thị Nga", "Bùi Thị Nga", "09/09/1935", "Còn sống", True),  # 90 years old
    # deceased under a changed name: the card (2018) and the wanted notice keep the old name
    ("TN-800003", "001080000333", "Hoàng Văn Tý", "Hoàng Minh Quân", "17/06/1980", "deceased", False),
    ("TN-800004", "001086000444", "Đặng Văn Hưng", "Đặng Văn Hưng", "21/01/1986", "alive", True),  # no case
]


def _write(tmp: Path) -> dict[str, Path]:
    res = pd.read_csv(SAMPLE / "residents.csv", dtype=str, keep_default_na=False).head(1500)
    cards = pd.read_csv(SAMPLE / "id_cards.csv", dtype=str, keep_default_na=False)
    cards = cards[cards.card_number.isin(res.person_id)]
    rr, cc, ww = [], [], []
    for k, (wid, pid, wname, rname, birth, status, with_id) in enumerate(PLANTED):
        gender = "Nữ" if "Thị" in wname else "Nam"
        parents = {"father_name": f"Cha {k} Văn Thành", "mother_name": f"Mẹ {k} Thị Hương"}
        rr.append({"person_id": pid, "full_name": rname, "gender": gender, "birth_date": birth,
                   "birth_place": "Tỉnh Đồng Nai", "hometown": "Xã Bình An, Tỉnh Đồng Nai", "permanent_address": ADDR,
                   "current_address": ADDR, "ethnicity": "Kinh", **parents, "status": status, "updated_at": "2023-05-05"})
        cc.append({"card_number": pid, "full_name": wname, "gender": gender, "birth_date": birth,
                   "hometown": "Xã Bình An, Tỉnh Đồng Nai", "permanent_address": ADDR, "issue_date": "2018-02-02"})
        ww.append({"wanted_id": wid, "full_name": wname, "gender": gender, "birth_date": birth,
                   "birth_place": "Tỉnh Đồng Nai", "hometown": "Xã Bình An, Tỉnh Đồng Nai", "permanent_address": ADDR,
                   "current_address": ADDR, "ethnicity": "Kinh", "id_number": pid if with_id else "", **parents,
                   "decision_number": f"{100 + k}/QĐ-CSĐT", "decision_date": "01/02/2020",
                   "issuing_unit": "Công an tỉnh Đồng Nai", "offence": "Trộm cắp tài sản", "danger_level": "nguy hiểm"})
    columns = pd.read_csv(SAMPLE / "wanted.csv", nrows=0).columns
    tmp.mkdir(parents=True, exist_ok=True)
    paths = {"wanted": tmp / "wanted.csv", "residents": tmp / "residents.csv", "id_cards": tmp / "id_cards.csv"}
    pd.DataFrame(ww).reindex(columns=columns).astype(object).fillna("").to_csv(paths["wanted"], index=False)
    pd.concat([res, pd.DataFrame(rr)], ignore_index=True).fillna("").to_csv(paths["residents"], index=False)
    pd.concat([cards, pd.DataFrame(cc)], ignore_index=True).fillna("").to_csv(paths["id_cards"], index=False)
    return paths


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("cases")
    rules = tmp / "rules"
    shutil.copytree(ROOT / "rules", rules)
    text = (rules / "dates.yaml").read_text(encoding="utf-8")
    assert "reference_date: null" in text
    (rules / "dates.yaml").write_text(text.replace("reference_date: null", f"reference_date: {REF}"), encoding="utf-8")
    paths = _write(tmp / "data")
    run(paths["wanted"], paths["residents"], paths["id_cards"], tmp / "run", rules=rules)
    return {**paths, "rules": rules, "matches": tmp / "run" / "matches.parquet", "tmp": tmp}


def test_cases_cli_lists_deceased_and_over_80(world):
    out = world["tmp"] / "cases"
    res = CliRunner().invoke(cli.app, ["cases", "--matches", str(world["matches"]), "--out", str(out),
                                       "--rules", str(world["rules"])])
    assert res.exit_code == 0, res.output
    assert "Hồ sơ đề xuất xem xét đóng: 3" in res.output  # Vietnamese by default
    cases = pq.read_table(out / "cases.parquet").to_pandas().set_index("wanted_id")
    assert sorted(cases.index) == ["TN-800001", "TN-800002", "TN-800003"]
    assert cases.loc["TN-800001", "reason"] == "deceased"
    assert cases.loc["TN-800002", "reason"] == "over_age" and cases.loc["TN-800002", "age"] == 90
    changed = cases.loc["TN-800003"]  # deceased in the register under the new name
    assert changed.reason == "deceased" and changed.person_id == "001080000333"
    assert changed.current_full_name == "Hoàng Minh Quân"
    assert (cases["match_probability"] >= 0.8).all() and cases["explanation"].str.len().gt(0).all()
    assert '"cases": 3' in (out / "summary.json").read_text(encoding="utf-8")


def test_cases_threshold_and_bad_input(world, tmp_path):
    m = pd.read_parquet(world["matches"])
    m.loc[m["wanted_id"] == "TN-800001", "match_probability"] = 0.5  # below the threshold now
    lowered = tmp_path / "matches.parquet"
    m.to_parquet(lowered)
    res = CliRunner().invoke(cli.app, ["cases", "--matches", str(lowered), "--out", str(tmp_path / "o"),
                                       "--rules", str(world["rules"]), "--json"])
    assert res.exit_code == 0, res.output
    assert '"cases": 2' in res.output
    res = CliRunner().invoke(cli.app, ["cases", "--matches", str(lowered), "--out", str(tmp_path / "o3"),
                                       "--threshold", "0.4", "--rules", str(world["rules"]), "--json"])
    assert '"cases": 3' in res.output
    bad = tmp_path / "bad.parquet"
    pd.DataFrame({"wanted_id": ["x"]}).to_parquet(bad)
    res = CliRunner().invoke(cli.app, ["cases", "--matches", str(bad), "--out", str(tmp_path / "o2")])
    assert res.exit_code != 0 and "person_status" in res.output


def _linked(out: Path) -> pd.DataFrame:
    issues = pq.read_table(out / "issues.parquet").to_pandas()
    return issues[issues["rule"] == "song.wanted_deceased_link"]


def test_audit_deceased_link_uses_matches(world):
    today = date.fromisoformat(REF)
    exact = audit(world["wanted"], "wanted", world["tmp"] / "a1", residents=world["residents"], today=today)
    with_m = audit(world["wanted"], "wanted", world["tmp"] / "a2", residents=world["residents"],
                   matches=world["matches"], today=today, rules=world["rules"])
    ids_exact = set(_linked(exact.out_dir)["record_id"])
    ids_match = set(_linked(with_m.out_dir)["record_id"])
    assert "TN-800001" in ids_exact and "TN-800003" not in ids_exact  # exact keys miss the changed name
    assert {"TN-800001", "TN-800003"} <= ids_match and "TN-800004" not in ids_match
    assert _linked(with_m.out_dir)["suggestion"].str.contains("best candidate p=").all()
    page = (with_m.out_dir / "report.html").read_text(encoding="utf-8")  # the audit report shows the cases
    assert "Đề xuất xem xét đóng hồ sơ" in page and "TN-800003" in page
    assert "Đề xuất xem xét đóng hồ sơ" not in (exact.out_dir / "report.html").read_text(encoding="utf-8")


def test_audit_report_section_lists_the_cases(world):
    from linkage.audit.cases import cases as find
    from linkage.audit.report_html import close_cases_section

    result = find(world["matches"], None, 0.8, world["rules"])
    html = str(close_cases_section(result, "vi"))
    assert "Đề xuất xem xét đóng hồ sơ" in html
    assert all(w in html for w in ("TN-800001", "TN-800002", "TN-800003")) and "TN-800004" not in html
    assert "đã chết" in html and "trên 80 tuổi" in html
