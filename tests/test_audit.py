"""The audit finds each planted defect, under its exact rule and record, and nothing else.

Each source gets one small CSV: a clean base person and, per case, one more person (own id, own
given name) with one defect planted. The audit must report exactly the expected (rule, field)
set on that record, and nothing on the clean person.
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict

import pyarrow.parquet as pq
import pytest

from linkage.audit import audit
from test_audit_data import GIVEN, TODAY, variant, write_csv

from linkage.normalize.legacy import TCVN3, encode_legacy

NFD = unicodedata.normalize("NFD", "Nguyễn Văn Thuận")
# TCVN3 bytes read as Windows-1252, as an old spreadsheet shows them
MOJIBAKE = encode_legacy("Nguyễn Văn Khải", TCVN3).decode("cp1252")

# case -> (changes to the record, {(rule, field), ...} expected on it)
WANTED_CASES: dict[str, tuple[dict, set]] = {
    "id_format": ({"id_number": "0800850012345"}, {("dung.id_format", "id_number")}),
    "id_province": ({"id_number": "990085001234"}, {("dung.id_province", "id_number")}),
    "id_year_future": ({"id_number": "080399001234"}, {("dung.id_year_future", "id_number")}),
    "id_gender": ({"id_number": "080185001299"}, {("dung.id_gender", "id_number")}),
    "id_century": ({"birth_date": "12/05/2005", "id_number": "080005001299", "decision_date": "01/02/2024"},
                   {("dung.id_century", "id_number")}),
    "id_birth_year": ({"id_number": "080086001299"}, {("dung.id_birth_year", "id_number")}),
    "cmnd_prefix": ({"id_number": "990123456"}, {("dung.cmnd_prefix", "id_number")}),
    "cmnd_province": ({"id_number": "012345678"}, {("dung.cmnd_province", "id_number")}),
    "date_format": ({"birth_date": "mười hai"}, {("dung.date_format", "birth_date"),
                                                 ("song.wanted_partial_birth_date", "birth_date")}),
    "date_impossible": ({"birth_date": "31/02/1985"}, {("dung.date_impossible", "birth_date"),
                                                       ("song.wanted_partial_birth_date", "birth_date")}),
    "date_future": ({"decision_date": "01/01/2031"}, {("dung.date_future", "decision_date")}),
    "age_over_max": ({"birth_date": "1890"}, {("dung.age_over_max", "birth_date"),
                                              ("song.wanted_partial_birth_date", "birth_date")}),
    "event_date_too_old": ({"decision_date": "01/01/1930"}, {("dung.event_date_too_old", "decision_date")}),
    "under_age": ({"birth_date": "12/05/2010", "id_number": "080210001299"},
                  {("dung.wanted_under_age", "birth_date")}),
    "event_before_birth": ({"decision_date": "01/02/1980"}, {("dung.event_before_birth", "decision_date")}),
    "place_unknown": ({"hometown": "Xã Foo Bar, Tỉnh Baz"}, {("dung.place_unknown", "hometown")}),
    "place_unit_not_found": ({"permanent_address": "Phường Bến Nghé, Quận 1, Tỉnh Long An"},
                             {("dung.place_unit_not_found", "permanent_address")}),
    "place_misspelt": ({"hometown": "Xa Tam Pu, Huyen Dk Hoa, Tinh Long An"},  # read as another ward
                       {("dung.place_unit_not_found", "hometown")}),
    "place_uncertain": ({"hometown": "Thi tran Hau Nghia"}, {("dung.place_uncertain", "hometown")}),
    "gender_value": ({"gender": "Khác"}, {("dung.gender_value", "gender")}),
    "ethnicity_value": ({"ethnicity": "Kinhh"}, {("dung.ethnicity_value", "ethnicity")}),
    "no_marks": ({"identifying_marks": ""}, {("du.required", "identifying_marks")}),
    "danger_level_value": ({"danger_level": "rất nguy hiểm"}, {("dung.danger_level_value", "danger_level")}),
    "name_chars": ({"full_name": "Nguyễn Văn Tiến #2"}, {("dung.name_chars", "full_name")}),
    "required": ({"offence": ""}, {("du.required", "offence")}),
    "legacy_encoding": ({"full_name": MOJIBAKE}, {("sach.legacy_encoding", "full_name")}),
    "not_nfc": ({"full_name": NFD}, {("sach.not_nfc", "full_name")}),
    "spacing": ({"full_name": " Nguyễn  Văn Lực"}, {("sach.spacing", "full_name")}),
    "confusable": ({"father_name": "Ðặng Văn Tư"}, {("sach.confusable", "father_name")}),
    "tone_style": ({"hometown": "Xã Tân Phú, Huyện Đức Hoà, Tỉnh Long An"}, {("sach.tone_style", "hometown")}),
    "keystroke_residue": ({"full_name": "Nguyeenx Vawn Thaanj"}, {("sach.keystroke_residue", "full_name")}),
    "placeholder_text": ({"hometown": "Không rõ"}, {("sach.placeholder", "hometown")}),
    "placeholder_date": ({"birth_date": "01/01/1900"}, {("sach.placeholder", "birth_date"),
                                                        ("du.required", "birth_date"),
                                                        ("song.wanted_partial_birth_date", "birth_date")}),
    "id_separators": ({"id_number": "080.085.001.299"}, {("sach.id_separators", "id_number")}),
    "birth_jan1": ({"birth_date": "01/01/1985"}, {("sach.birth_jan1", "birth_date")}),
    "name_case": ({"full_name": "NGUYỄN VĂN BẢO"}, {("sach.name_case", "full_name")}),
    # correct names that look odd to naive rules: one-letter words in capitals, minority prefixes
    "short_words_clean": ({"full_name": "Y Ý"}, set()),
    "prefix_name_clean": ({"full_name": "H'Hen Niê", "gender": "Nữ", "id_number": "080185004321"}, set()),
    "over_age": ({"birth_date": "12/05/1940", "id_number": "080040001299"}, {("song.wanted_over_age", "birth_date")}),
    "no_id": ({"id_number": ""}, {("song.wanted_no_id", "id_number")}),
    "partial_birth_date": ({"birth_date": "1985"}, {("song.wanted_partial_birth_date", "birth_date")}),
}


def _issues(out) -> dict[str, set]:
    t = pq.read_table(out / "issues.parquet").to_pylist()
    found: dict[str, set] = defaultdict(set)
    for r in t:
        found[r["record_id"]].add((r["rule"], r["field"]))
    return found


@pytest.fixture(scope="module")
def wanted_audit(tmp_path_factory):
    assert len(WANTED_CASES) < len(GIVEN)  # one given name per record: no probable duplicates
    d = tmp_path_factory.mktemp("wanted")
    records = [variant("wanted", 0)]
    ids = {}
    for i, (name, (changes, _)) in enumerate(WANTED_CASES.items(), start=1):
        records.append(variant("wanted", i, **changes))
        ids[name] = records[-1]["wanted_id"]
    path = write_csv(d / "wanted.csv", "wanted", records)
    result = audit(path, "wanted", d / "out", today=TODAY)
    return result, _issues(d / "out"), ids


def test_clean_record_has_no_issue(wanted_audit):
    _result, found, _ids = wanted_audit
    assert found.get("W00", set()) == set()


@pytest.mark.parametrize("case", sorted(WANTED_CASES))
def test_wanted_defect_found_exactly(wanted_audit, case):
    _result, found, ids = wanted_audit
    assert found.get(ids[case], set()) == WANTED_CASES[case][1]


def test_outputs_and_counts(wanted_audit):
    result, found, _ids = wanted_audit
    assert result.report.read_text(encoding="utf-8").startswith("<!doctype html>")
    assert result.rows_read == len(WANTED_CASES) + 1 == result.rows_accepted
    assert result.issue_count == sum(len(v) for v in found.values())
    summary = pq.read_table(result.summary).to_pandas()
    rule_rows = summary[summary.section == "rule"].set_index("rule")
    assert rule_rows.loc["dung.id_gender", "issues"] == 1
    assert rule_rows.loc["song.wanted_deceased_link", "checked"] == False  # noqa: E712 (no --residents)
    fields = summary[summary.section == "field"].set_index("field")
    n = len(WANTED_CASES) + 1
    assert fields.loc["offence", "filled"] == n - 1
    assert fields.loc["offence", "completeness"] == pytest.approx((n - 1) / n)
    assert fields.loc["gender", "validity"] == pytest.approx((n - 1) / n)  # "Khác" filled but not valid


def test_duplicates_within_the_wanted_list(tmp_path):
    same_id = "080085777777"
    records = [
        variant("wanted", 0),
        variant("wanted", 1, id_number=same_id),
        variant("wanted", 2, id_number=same_id),
        variant("wanted", 3, full_name="Trần Thị Mai", birth_date="03/04/1990", gender="Nữ", id_number=""),
        variant("wanted", 4, full_name="TRAN THI MAI", birth_date="1990-04-03", gender="Nữ", id_number=""),
    ]
    out = tmp_path / "out"
    result = audit(write_csv(tmp_path / "w.csv", "wanted", records), "wanted", out, today=TODAY)
    found = _issues(out)
    assert {("sach.duplicate_id", "id_number"), ("sach.duplicate_person", "full_name")} <= found["W01"]
    assert {("sach.duplicate_id", "id_number"), ("sach.duplicate_person", "full_name")} <= found["W02"]
    # same person written in capitals without marks and an ISO date: one person, two records
    assert ("sach.duplicate_person", "full_name") in found["W03"]
    assert ("sach.duplicate_person", "full_name") in found["W04"]
    assert not any(r.startswith("sach.duplicate") for r, _ in found.get("W00", set()))
    assert result.overview["duplicate_records"] == 4
    assert result.overview["duplicate_groups"] == 2


def test_quarantined_rows_are_reported(tmp_path):
    records = [
        variant("wanted", 0),
        variant("wanted", 1, full_name=""),  # required by ingestion: quarantined
        variant("wanted", 2),
        variant("wanted", 3, wanted_id="W02"),  # repeats W02: quarantined, W02 kept
    ]
    out = tmp_path / "out"
    result = audit(write_csv(tmp_path / "w.csv", "wanted", records), "wanted", out, today=TODAY)
    assert (result.rows_read, result.rows_accepted, result.rows_quarantined) == (4, 2, 2)
    rows = pq.read_table(out / "issues.parquet").to_pylist()
    by = {(r["rule"], r["record_id"], r["row"]) for r in rows}
    assert ("ingest.missing_required", "W01", 2) in by
    assert ("ingest.duplicate_id", "W02", 4) in by
    assert ("sach.duplicate_id", "W02", 3) not in by  # the row kept: the defect is reported once
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "Bị loại khi nhập" in html and "duplicate_id" in html  # the report speaks Vietnamese by default


def test_residents_rules(tmp_path):
    records = [
        variant("residents", 0),
        variant("residents", 1, status="deceased"),
        variant("residents", 2, status="đã chết"),
        variant("residents", 3, status="sống?"),
        variant("residents", 4, updated_at="2019-06-30"),
        variant("residents", 5, ethnicity=""),
        variant("residents", 6, person_id="08008500000"),  # 11 digits, restored? no: kept in quarantine
    ]
    out = tmp_path / "out"
    audit(write_csv(tmp_path / "r.csv", "residents", records), "residents", out, today=TODAY)
    found = _issues(out)
    assert found.get("080085000000", set()) == set()
    assert found["080085000001"] == {("song.deceased", "status")}
    assert found["080085000002"] == {("song.deceased", "status")}
    assert found["080085000003"] == {("dung.status_value", "status")}
    assert found["080085000004"] == {("song.stale", "updated_at")}
    assert found["080085000005"] == {("du.required", "ethnicity")}
    assert found["08008500000"] == {("ingest.malformed_id", "person_id")}


def test_id_card_rules(tmp_path):
    records = [
        variant("id_cards", 0),
        variant("id_cards", 1, old_id_number="012345678"),  # Hà Nội CMND, Long An / HCMC places
        variant("id_cards", 2, old_id_number="3001234"),  # 7 digits
        variant("id_cards", 3, issue_date="2030-01-01"),
        variant("id_cards", 4, issue_date="1980-01-01"),  # before birth
        variant("id_cards", 5, old_id_number="300 000 005"),
    ]
    out = tmp_path / "out"
    audit(write_csv(tmp_path / "c.csv", "id_cards", records), "id_cards", out, today=TODAY)
    found = _issues(out)
    assert found.get("080085000000", set()) == set()
    assert found["080085000001"] == {("dung.cmnd_province", "old_id_number")}
    assert found["080085000002"] == {("dung.id_format", "old_id_number")}
    assert found["080085000003"] == {("dung.date_future", "issue_date")}
    assert found["080085000004"] == {("dung.event_before_birth", "issue_date")}
    assert found["080085000005"] == {("sach.id_separators", "old_id_number")}


def test_wanted_linked_to_deceased_resident(tmp_path):
    residents = [
        variant("residents", 0),
        variant("residents", 1, full_name="Lê Văn Tám", birth_date="20/10/1970", status="deceased"),
        variant("residents", 2, status="deceased", person_id="080085123456"),
        variant("residents", 3, full_name="Lê Văn Tám", birth_date="20/10/1971", status="alive"),
    ]
    wanted = [
        variant("wanted", 0),
        variant("wanted", 1, full_name="LE VAN TAM", birth_date="1970", id_number=""),  # name + year
        variant("wanted", 2, id_number="080085123456"),  # the deceased resident's id
        variant("wanted", 3, full_name="Lê Văn Tám", birth_date="20/10/1971", id_number=""),  # alive namesake
    ]
    rpath = write_csv(tmp_path / "r.csv", "residents", residents)
    out = tmp_path / "out"
    result = audit(write_csv(tmp_path / "w.csv", "wanted", wanted), "wanted", out, residents=rpath, today=TODAY)
    rows = pq.read_table(out / "issues.parquet").to_pylist()
    linked = {r["record_id"]: r["suggestion"] for r in rows if r["rule"] == "song.wanted_deceased_link"}
    assert set(linked) == {"W01", "W02"}
    assert "080085000001" in linked["W01"] and "name and birth date" in linked["W01"]
    assert "080085123456" in linked["W02"] and "id number" in linked["W02"]
    assert result.overview["linked_to_deceased"] == 2


def test_report_shows_only_the_field_value(wanted_audit, tmp_path):
    result, _found, _ids = wanted_audit
    html = result.report.read_text(encoding="utf-8")
    assert "<script" not in html and "http://" not in html and "https://" not in html
    # the defect's value is shown (invisible edge space made visible), but not the rest of the record
    assert "⟨ ⟩Nguyễn ⟨ ⟩Văn Lực" in html.replace("</span>", "").replace('<span class="mark">', "")
    assert "Lê Thị Lan" not in html  # mother's name: never a defect in this file


def test_parquet_source_is_audited_like_csv(tmp_path):
    import pyarrow as pa

    records = [variant("wanted", 0), variant("wanted", 1, gender="Khác"), variant("wanted", 2, full_name="Lê  Văn Tám")]
    pq.write_table(pa.Table.from_pylist(records), tmp_path / "w.parquet")
    out = tmp_path / "out"
    audit(tmp_path / "w.parquet", "wanted", out, today=TODAY)
    found = _issues(out)
    assert found.get("W00", set()) == set()
    assert found["W01"] == {("dung.gender_value", "gender")}
    assert found["W02"] == {("sach.spacing", "full_name")}
