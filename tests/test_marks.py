"""Identifying marks (issue 12, item 3): each rule of rules/marks.yaml read from the ways officers
write it: with or without diacritics, "C"/"cách", "cm"/"phân", abbreviations, word order, several
marks in one text, and missing parts."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from linkage.errors import RulesError
from linkage.normalize.marks import Mark, normalize_marks, read_marks
from linkage.normalize.table import normalize_table

RULES = Path(__file__).resolve().parent.parent / "rules"


def keys(text: str) -> list[str | None]:
    return [m.key for m in read_marks(text)]


# --- one written form per row: (text, kind, landmark, side, directions, distance)
CASES = [
    ("Sẹo chấm C 1cm dưới sau cánh mũi trái", "seo", "canh_mui", "trai", ("duoi", "sau"), 1.0),
    ("Nốt ruồi C 2cm trên trước đuôi mắt phải", "not_ruoi", "duoi_mat", "phai", ("tren", "truoc"), 2.0),
    ("not ruoi c:2cm tren truoc duoi mat phai", "not_ruoi", "duoi_mat", "phai", ("tren", "truoc"), 2.0),
    ("NỐT RUỒI cách 2 phân trên trước đuôi mắt P", "not_ruoi", "duoi_mat", "phai", ("tren", "truoc"), 2.0),
    ("N.ruồi C: 2 cm trên, trước đuôi mắt phải", "not_ruoi", "duoi_mat", "phai", ("tren", "truoc"), 2.0),
    ("Sẹo chấm C1cm dưới sau c.mũi T", "seo", "canh_mui", "trai", ("duoi", "sau"), 1.0),
    ("Sẹo chấm cách cánh mũi trái 1cm về phía dưới sau", "seo", "canh_mui", "trai", ("duoi", "sau"), 1.0),
    ("Sẹo lồi 1 phân rưỡi dưới cằm", "seo", "cam", "", ("duoi",), 1.5),
    ("Sẹo lồi C 1,5cm dưới cằm", "seo", "cam", "", ("duoi",), 1.5),  # a decimal comma
    ("SẸO CÁCH 0,5CM CÁNH MŨI PHẢI", "seo", "canh_mui", "phai", (), 0.5),
    ("Vết sẹo dài 5mm ở trán", "seo", "tran", "", (), 0.5),
    ("Hình xăm chữ Mẹ ở cánh tay trái", "hinh_xam", "canh_tay", "trai", (), None),
    ("Xăm hình rồng mu bàn tay phải", "hinh_xam", "ban_tay", "phai", (), None),
    ("Bớt chàm ở gò má phải", "bot", "go_ma", "phai", (), None),
    ("Nốt ruồi dưới mắt trái", "not_ruoi", "mat", "trai", ("duoi",), None),
    ("Nốt ruồi ở đuôi lông mày trái", "not_ruoi", "duoi_may", "trai", (), None),
    ("Nốt ruồi khóe miệng phải", "not_ruoi", "mep", "phai", (), None),
    ("Tàn nhang hai bên gò má", "tan_nhang", "go_ma", "", (), None),
]


@pytest.mark.parametrize("text,kind,landmark,side,dirs,dist", CASES, ids=[c[0] for c in CASES])
def test_each_written_form_is_read(text, kind, landmark, side, dirs, dist):
    (m,) = read_marks(text)
    assert (m.kind, m.landmark, m.side, m.directions) == (kind, landmark, side, dirs)
    assert m.distance_cm == (pytest.approx(dist) if dist is not None else None)


def test_the_same_mark_written_differently_has_one_key():
    written = ["Sẹo chấm C 1cm dưới sau cánh mũi trái", "seo cham c 1cm duoi sau canh mui trai",
               "SẸO CHẤM: cách 1 phân dưới sau cánh mũi bên trái", "S. chấm C1cm dưới-sau c.mũi trái"]
    assert {tuple(keys(t)) for t in written} == {("seo|canh_mui|trai",)}


def test_several_marks_in_one_text():
    text = "Sẹo chấm C 1cm dưới sau cánh mũi trái, nốt ruồi C 2cm trên trước đuôi mắt phải"
    assert keys(text) == ["seo|canh_mui|trai", "not_ruoi|duoi_mat|phai"]
    for sep in ("; ", " + ", "\n", " và "):
        assert keys(text.replace(", ", sep)) == ["seo|canh_mui|trai", "not_ruoi|duoi_mat|phai"]


def test_place_written_before_the_kind():
    (m,) = read_marks("Trán có sẹo dài 3cm")
    assert (m.kind, m.landmark, m.distance_cm, m.shapes) == ("seo", "tran", 3.0, ("dài",))


def test_diacritics_tell_duoi_from_duoi():
    """"dưới mắt" (below the eye) and "đuôi mắt" (the eye's tail) differ when written with
    diacritics; folded, "duoi mat" is read as the landmark (documented in rules/marks.yaml)."""
    assert keys("Nốt ruồi dưới mắt trái") == ["not_ruoi|mat|trai"]
    assert keys("Nốt ruồi đuôi mắt trái") == ["not_ruoi|duoi_mat|trai"]
    assert keys("not ruoi duoi mat trai") == ["not_ruoi|duoi_mat|trai"]


def test_missing_parts():
    (m,) = read_marks("Nốt ruồi")
    assert m.kind == "not_ruoi" and m.key is None  # no place: never evidence of the same mark
    assert keys("Sẹo ở cằm") == ["seo|cam|?"]  # side not written
    assert read_marks("Không có") == [] and read_marks("") == [] and read_marks("   ") == []


def test_detail_keeps_what_a_reviewer_reads():
    (m,) = read_marks("Sẹo chấm C 1cm dưới sau cánh mũi trái")
    assert m.detail == "seo|canh_mui|trai|duoi+sau|1|chấm"
    assert Mark("bot", "go_ma", "phai").detail == "bot|go_ma|phai|||"


def test_normalize_marks_columns_and_counts():
    s = pd.Series(["Sẹo chấm C 1cm dưới sau cánh mũi trái, nốt ruồi C 2cm trên trước đuôi mắt phải",
                   None, "Không có", "Sẹo chấm C 1cm dưới sau cánh mũi trái", ""], index=[5, 6, 7, 8, 9])
    out = normalize_marks(s)
    assert list(out.index) == [5, 6, 7, 8, 9]
    assert out.loc[5, "marks_keys"] == ["not_ruoi|duoi_mat|phai", "seo|canh_mui|trai"]
    assert out.loc[8, "marks_keys"] == ["seo|canh_mui|trai"]
    assert out["marks_n"].tolist()[0] == 2 and out.loc[7, "marks_n"] == 0  # text present, no mark read
    assert out["marks_n"].isna().tolist() == [False, True, False, False, True]  # no text: unknown
    out.loc[8, "marks_keys"].append("x")  # rows never share a list object
    assert out.loc[5, "marks_keys"] == ["not_ruoi|duoi_mat|phai", "seo|canh_mui|trai"]


def test_normalize_table_adds_marks_when_the_column_exists():
    df = pd.DataFrame({"card_number": ["001085012345"], "full_name": ["Nguyễn Văn Hùng"],
                       "identifying_marks": ["Nốt ruồi C 2cm trên trước đuôi mắt phải"]})
    out = normalize_table(df, "id_cards")
    assert out.loc[0, "marks_keys"] == ["not_ruoi|duoi_mat|phai"]
    assert "marks_keys" not in normalize_table(df.drop(columns="identifying_marks"), "id_cards").columns


def test_a_form_under_two_keys_is_a_rules_error(tmp_path):
    shutil.copytree(RULES, tmp_path / "rules")
    p = tmp_path / "rules" / "marks.yaml"
    p.write_text(p.read_text(encoding="utf-8").replace('  cam: ["cằm"]', '  cam: ["cằm", "trán"]'), encoding="utf-8")
    with pytest.raises(RulesError, match=r"marks\.yaml: landmarks: form 'trán' belongs to both"):
        read_marks("Sẹo ở trán", rules=tmp_path / "rules")



def test_a_piece_reads_the_same_in_every_text():
    """Pieces are read once and cached (linkage/normalize/marks.py _read_piece): a piece shared by
    texts, read cold or from the cache, alone or beside another, as written or folded, gives the
    marks it gives alone."""
    from linkage.normalize.marks import _read_piece

    texts = ["Nốt ruồi C 1cm dưới cổ; Sẹo dài C 0,5cm dưới trước đuôi mắt phải",
             "Sẹo dài C 0,5cm dưới trước đuôi mắt phải", "Nốt ruồi C 1cm dưới cổ",
             "Not ruoi C 1cm duoi co; Seo dai C 0,5cm duoi truoc duoi mat phai", "Not ruoi C 1cm duoi co"]
    _read_piece.cache_clear()
    cold = [read_marks(t) for t in texts]
    assert _read_piece.cache_info().hits > 0  # the shared pieces came from the cache
    warm = [read_marks(t) for t in reversed(texts)][::-1]
    assert cold == warm
    assert cold[0] == cold[2] + cold[1] and cold[3][:1] == cold[4]
    assert [m.landmark for m in cold[0]] and all(m.landmark for m in cold[0])


# --- the `marks` comparison kind (linkage/comparisons.py): levels on real parsed marks in DuckDB

def marks_level(wanted: str | None, card: str | None) -> str | None:
    import duckdb
    import pyarrow as pa

    from linkage.comparisons import compile_comparison
    from linkage.settings import Comparison, Level

    ids = ("same_mark", "same_place", "else")
    c = Comparison("marks", "marks", tuple(Level(i, 0.3, 0.3, i) for i in ids))
    sql = compile_comparison(c).sql_level
    lk = normalize_marks(pd.Series([wanted], dtype=object))["marks_keys"].tolist()
    rk = normalize_marks(pd.Series([card], dtype=object))["marks_keys"].tolist()
    con = duckdb.connect()
    con.register("l", pa.table({"marks_keys": pa.array(lk, pa.list_(pa.string()))}))
    con.register("r", pa.table({"marks_keys": pa.array(rk, pa.list_(pa.string()))}))
    level = con.execute(f"SELECT {sql} FROM l, r").fetchall()[0][0]
    return None if level == -1 else ids[level]


def test_marks_comparison_levels():
    card = "Sẹo chấm C 1cm dưới sau cánh mũi trái. Nốt ruồi C 2cm trên trước đuôi mắt phải"
    assert marks_level("not ruoi c2cm tren truoc duoi mat phai", card) == "same_mark"  # other writing, one of two
    assert marks_level("Sẹo ở cánh mũi", card) == "same_place"  # side not written on the notice
    assert marks_level("Sẹo lồi C 1,5cm dưới cằm", "Sẹo ở cằm") == "same_mark"  # a place without a side
    assert marks_level("Sẹo ở cánh mũi", "seo canh mui") == "same_mark"  # side unwritten on both: as written
    assert marks_level("Sẹo chấm cánh mũi phải", card) == "else"  # the other side: another mark
    assert marks_level("Hình xăm chữ Mẹ ở cánh tay trái", card) == "else"
    assert marks_level(None, card) is None and marks_level("Không có", card) is None  # absent: nothing
    assert marks_level("Nốt ruồi", card) is None  # no place: cannot tell


# --- the prepared tables carry the marks, and the default rules compare them (card vs notice)

CARD = {"card_number": "080085001234", "full_name": "Nguyễn Văn Hùng", "gender": "Nam", "birth_date": "12/05/1985",
        "identifying_marks": "Sẹo chấm C 1cm dưới sau cánh mũi trái"}


@pytest.mark.parametrize("notice,level", [
    ("seo cham c1cm duoi sau c.mui T", "same_mark"),
    ("Sẹo ở cánh mũi", "same_place"),
    ("Nốt ruồi C 2cm trên trước đuôi mắt phải", "else"),
    ("", None),
])
def test_default_rules_compare_the_notice_with_the_card(tmp_path, notice, level):
    from engine_helpers import pair_levels, workspace

    con = workspace(tmp_path, [{"identifying_marks": notice}], [{}], [CARD])
    # the resident record has no marks (null); the person's card decides the merged level
    assert pair_levels(con, [("W1", "080085001234")])[0]["marks"] == level
    text = con.execute("SELECT marks_text FROM reg WHERE src = 'id_cards'").fetchall()[0][0]
    assert text == CARD["identifying_marks"]


def test_a_register_without_marks_column_gives_null_marks(tmp_path):
    from engine_helpers import pair_levels, workspace

    con = workspace(tmp_path, [{"identifying_marks": "Sẹo ở cằm"}], [{}])
    assert pair_levels(con, [("W1", "080085001234")])[0]["marks"] is None
    assert con.execute("SELECT typeof(marks_keys) FROM reg LIMIT 1").fetchall()[0][0] == "VARCHAR[]"


# --- the review page shows the candidate's marks (from the person's ID card) beside the notice's

def test_review_pair_page_shows_both_records_marks(tmp_path):
    import html
    import re

    from starlette.testclient import TestClient

    from linkage.model import default_model, save_model
    from linkage.pipeline import run
    from linkage.review.app import create_app, load_config
    from linkage.review.store import Store
    from linkage.rules import rules_hash
    from linkage.settings import load_settings

    sample = Path(__file__).resolve().parent.parent / "data_samples" / "sample"
    model = save_model(default_model(load_settings(), rules_hash()), tmp_path / "model.json")
    result = run(sample / "wanted.csv", sample / "residents.csv", sample / "id_cards.csv", tmp_path / "out",
                 model_path=model)
    m = pd.read_parquet(result.matches)
    wanted = pd.read_csv(sample / "wanted.csv", dtype=str, keep_default_na=False).set_index("wanted_id")
    cards = pd.read_csv(sample / "id_cards.csv", dtype=str, keep_default_na=False).set_index("card_number")
    top = m[(m["rank"] == 1) & (m["mw_marks"] > 3) & m["person_id"].isin(cards.index)].iloc[0]
    assert "đặc điểm nhận dạng" in top["explanation"]  # the explanation says it, in Vietnamese by default
    store = Store.open(tmp_path / "review.sqlite")
    store.add_user("an", "mat-khau-an-01")
    client = TestClient(create_app(load_config(store, 0.5, run=tmp_path / "out")), base_url="http://testserver")
    page = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    client.post("/login", data={"csrf": csrf, "username": "an", "password": "mat-khau-an-01"}, follow_redirects=False)
    text = html.unescape(client.get(f"/pair/{top['wanted_id']}/{top['person_id']}").text)
    row = re.search(r"<tr[^>]*>\s*<th>Đặc điểm nhận dạng(?:<br>[^<]*<span[^>]*>[^<]*</span>)?</th>(.*?)</tr>", text, re.S)
    assert row, "no identifying-marks row in the fields table"
    assert wanted.loc[top["wanted_id"], "identifying_marks"] in row.group(1)
    assert cards.loc[top["person_id"], "identifying_marks"] in row.group(1)
    store.close()


# --- the generator: every card prints marks, notices describe the same person's marks in their own words

@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> dict[str, pd.DataFrame]:
    from linkage.synth import generate

    out = tmp_path_factory.mktemp("marks_synth")
    generate(6000, 600, 31, out)
    return {n: pd.read_csv(out / f"{n}.csv", dtype=str, keep_default_na=False)
            for n in ("wanted", "id_cards", "truth", "residents")}


def _shared(a: list[str], b: list[str]) -> str | None:
    """The marks level of two key lists, as the comparison reads them (tested above in DuckDB)."""
    if not a or not b:
        return None
    if set(a) & set(b):
        return "same_mark"
    place = lambda ks: {k.rsplit("|", 1)[0] for k in ks}  # noqa: E731
    unknown = lambda ks: {k.rsplit("|", 1)[0] for k in ks if k.endswith("|?")}  # noqa: E731
    return "same_place" if unknown(a) & place(b) or place(a) & unknown(b) else "else"


def test_every_card_prints_readable_marks(generated):
    cards = generated["id_cards"]
    read = normalize_marks(cards["identifying_marks"])
    assert (cards["identifying_marks"] != "").all()
    assert (read["marks_n"] >= 1).all() and read["marks_keys"].map(len).ge(1).all()
    assert 0.2 < (read["marks_n"] == 2).mean() < 0.4  # a second mark for some


def test_notices_describe_the_same_marks_in_other_words(generated):
    w, t, cards = generated["wanted"], generated["truth"], generated["id_cards"]
    has = w["identifying_marks"] != ""
    assert 0.75 < has.mean() < 0.95  # most notices, not all
    m = t.merge(w, on="wanted_id").merge(cards[["card_number", "identifying_marks"]].rename(
        columns={"card_number": "person_id", "identifying_marks": "card"}), on="person_id")
    m = m[m["identifying_marks"] != ""]
    levels = [_shared(a, b) for a, b in zip(normalize_marks(m["identifying_marks"])["marks_keys"],
                                           normalize_marks(m["card"])["marks_keys"])]
    share = pd.Series(levels).value_counts(normalize=True)
    assert share.get("same_mark", 0) + share.get("same_place", 0) >= 0.9  # the same person's marks
    assert (m["identifying_marks"] != m["card"]).mean() > 0.9  # written differently
    text = " ".join(w["identifying_marks"])
    for written in ("cách", "phân", "về phía", "C:"):
        assert written in text, written
    assert any(s.isascii() and s for s in w["identifying_marks"])  # some typed without diacritics


def test_namesakes_have_other_marks(generated):
    """Absent persons who share name and birth year with a resident (hard negatives) draw their
    own marks: they rarely show the resident's."""
    w, t, cards, res = generated["wanted"], generated["truth"], generated["id_cards"], generated["residents"]
    hard = t[t["scenarios"].str.contains("absent_hard_negative")].merge(w, on="wanted_id")
    hard = hard[hard["identifying_marks"] != ""]
    res = res.assign(key=res["full_name"] + "|" + res["birth_date"].str[-4:])
    hard = hard.assign(key=hard["full_name"] + "|" + hard["birth_date"].str[-4:])
    pairs = hard.merge(res[["key", "person_id"]], on="key", suffixes=("", "_r")).merge(
        cards[["card_number", "identifying_marks"]].rename(columns={"card_number": "person_id_r", "identifying_marks": "card"}),
        on="person_id_r")
    assert len(pairs) >= 5
    levels = [_shared(a, b) for a, b in zip(normalize_marks(pairs["identifying_marks"])["marks_keys"],
                                           normalize_marks(pairs["card"])["marks_keys"])]
    assert pd.Series(levels).eq("same_mark").mean() < 0.15


# --- every written form of every table in rules/marks.yaml, as written, folded and upper case

def _forms(section: str) -> list[tuple[str, str]]:
    import yaml

    table = yaml.safe_load((RULES / "marks.yaml").read_text(encoding="utf-8"))[section]
    return [(key, form) for key, forms in table.items() for form in forms]


def _variants(text: str) -> list[str]:
    from linkage.normalize.marks import fold

    return [text, fold(text), text.upper()]


@pytest.mark.parametrize("key,form", _forms("kinds"))
def test_every_kind_form(key, form):
    for text in _variants(f"{form} ở cằm"):
        (m,) = read_marks(text)
        assert (m.kind, m.landmark) == (key, "cam"), text


@pytest.mark.parametrize("key,form", _forms("landmarks"))
def test_every_landmark_form(key, form):
    for text in _variants(f"Sẹo ở {form} phải"):
        (m,) = read_marks(text)
        assert (m.kind, m.landmark, m.side) == ("seo", key, "phai"), text


@pytest.mark.parametrize("key,form", _forms("sides"))
def test_every_side_form_also_at_the_end(key, form):
    # "tr." / "ph." end a mark: the abbreviation's period is also the full stop
    for text in _variants(f"Nốt ruồi ở gò má {form}") + [f"Nốt ruồi {form} gò má", f"Nốt ruồi ở gò má {form}; sẹo ở cằm"]:
        m = read_marks(text)[0]
        assert (m.landmark, m.side) == ("go_ma", key), text


@pytest.mark.parametrize("key,form", _forms("directions"))
def test_every_direction_form(key, form):
    for text in _variants(f"Sẹo C 2cm {form} cằm"):
        (m,) = read_marks(text)
        assert (m.landmark, m.directions, m.distance_cm) == ("cam", (key,), 2.0), text


def test_every_unit_and_separator():
    import yaml

    data = yaml.safe_load((RULES / "marks.yaml").read_text(encoding="utf-8"))
    for unit, cm in data["units_cm"].items():
        for text in _variants(f"Sẹo cách 3 {unit} dưới cằm") + [f"Sẹo cách 3{unit} dưới cằm"]:
            (m,) = read_marks(text)
            assert m.distance_cm == pytest.approx(3 * cm), text
    for sep in data["separators"]:
        text = f"Sẹo ở cằm{sep}nốt ruồi ở trán"
        assert [(m.kind, m.landmark) for m in read_marks(text)] == [("seo", "cam"), ("not_ruoi", "tran")], repr(sep)


@pytest.mark.parametrize("text,kind,landmark,side,dirs,dist", [
    ("Mụn cóc mu bàn tay trái", "mun_coc", "ban_tay", "trai", (), None),
    ("Hột cơm ở ngón cái tay phải", "mun_coc", "ngon_tay", "phai", (), None),
    ("Sẹo C 5 li ngoài đuôi mắt tr.", "seo", "duoi_mat", "trai", ("ngoai",), 0.5),
    ("Nốt ruồi giữa trán", "not_ruoi", "tran", "giua", (), None),
    ("Thẹo dài 3cm trong cẳng tay ph.", "seo", "cang_tay", "phai", ("trong",), 3.0),
    ("NR C 1cm dưới nhân trung", "not_ruoi", "nhan_trung", "", ("duoi",), 1.0),
])
def test_more_written_forms(text, kind, landmark, side, dirs, dist):
    (m,) = read_marks(text)
    assert (m.kind, m.landmark, m.side, m.directions) == (kind, landmark, side, dirs)
    assert m.distance_cm == (pytest.approx(dist) if dist is not None else None)
