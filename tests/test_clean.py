"""`clean`: only the safe fixes, on a copy, with a change log; a clean file comes out identical."""

from __future__ import annotations

import hashlib
import json
import unicodedata

import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.audit import clean
from linkage.errors import InputError
from linkage.ingest.pipeline import read_source
from linkage.normalize.legacy import TCVN3, encode_legacy
from test_audit_data import variant, write_csv


def _sha(p) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_clean_file_comes_out_byte_identical(tmp_path):
    records = [variant("wanted", i) for i in range(6)]
    records[2]["permanent_address"] = "12, ngõ 3, Phường Bến Nghé, Quận 1, Thành phố Hồ Chí Minh"  # quoted field
    src = write_csv(tmp_path / "wanted.csv", "wanted", records)
    before = _sha(src)
    result = clean(src, "wanted", tmp_path / "copy.csv")
    assert result.cells_changed == 0 and result.rows_written == 6
    assert (tmp_path / "copy.csv").read_bytes() == src.read_bytes()
    assert _sha(src) == before
    assert pq.read_table(result.changes).num_rows == 0


def test_clean_parquet_copy_has_the_same_values(tmp_path):
    records = [variant("residents", i) for i in range(5)]
    src = write_csv(tmp_path / "residents.csv", "residents", records)
    result = clean(src, "residents", tmp_path / "copy.parquet")
    copy = pq.read_table(result.output)
    assert copy.column_names == list(records[0].keys())
    assert copy.to_pylist() == [{k: (v or None) for k, v in r.items()} for r in records]


DEFECTS = {
    # field -> (written, expected after clean, rules)
    "full_name": (encode_legacy("Nguyễn Văn Khải", TCVN3).decode("cp1252"), "Nguyễn Văn Khải",
                  "sach.legacy_encoding"),
    "father_name": (unicodedata.normalize("NFD", "Trần Văn Hưng"), "Trần Văn Hưng", "sach.not_nfc"),
    "mother_name": ("  Lê\u00a0Thị  Hoà ", "Lê Thị Hòa", "sach.spacing+sach.tone_style"),
    "other_names": ("Ðức\u200b", "Đức", "sach.confusable"),
    "hometown": ("Xã Tân Phú, Huyện Đức Hoà, Tỉnh Long An", "Xã Tân Phú, Huyện Đức Hòa, Tỉnh Long An",
                 "sach.tone_style"),
    "id_number": ("080-085-001-299", "080085001299", "sach.id_separators"),
}
# Defects that are reported but must NOT be touched by clean (not safe).
UNSAFE = {
    "birth_place": "Không rõ",  # placeholder: emptying it is a steward's decision
    "current_address": "Nguyeenx Trãi",  # keystroke residue: a guess
    "gender": "Khác",
}


def test_clean_fixes_what_is_safe_and_logs_it(tmp_path):
    fixed = variant("wanted", 1, **{f: v[0] for f, v in DEFECTS.items()}, **UNSAFE)
    records = [variant("wanted", 0), fixed, variant("wanted", 2)]
    src = write_csv(tmp_path / "wanted.csv", "wanted", records)
    before = _sha(src)
    result = clean(src, "wanted", tmp_path / "out" / "wanted.clean.csv")
    assert _sha(src) == before  # the input is never written to
    log = pq.read_table(tmp_path / "out" / "wanted.clean.changes.parquet").to_pylist()
    got = {r["field"]: (r["before"], r["after"], r["rule"]) for r in log}
    assert got == {f: v for f, v in DEFECTS.items()}
    assert {r["record_id"] for r in log} == {"W01"} and {r["row"] for r in log} == {2}
    copy, _q, _rep = read_source(result.output, "wanted")
    rows = copy.to_pylist()
    for f, (_w, after, _r) in DEFECTS.items():
        assert rows[1][f] == after
    for f, v in UNSAFE.items():
        assert rows[1][f] == v
    original, _q, _rep = read_source(src, "wanted")
    assert rows[0] == original.to_pylist()[0] and rows[2] == original.to_pylist()[2]
    assert result.by_rule == {"sach.legacy_encoding": 1, "sach.not_nfc": 1, "sach.spacing": 1, "sach.tone_style": 2,
                              "sach.confusable": 1, "sach.id_separators": 1}


def test_clean_keeps_unknown_columns_headers_and_order(tmp_path):
    src = tmp_path / "ds.csv"
    src.write_text("Ghi chú;Họ và tên;Mã đối tượng\nx  y;Lê  Văn Tám;W1\n", encoding="utf-8")
    result = clean(src, "wanted", tmp_path / "copy.csv")
    text = (tmp_path / "copy.csv").read_text(encoding="utf-8")
    assert text == "Ghi chú;Họ và tên;Mã đối tượng\nx  y;Lê Văn Tám;W1\n"  # the unmapped note is untouched
    assert result.cells_changed == 1


def test_clean_writes_jsonl_and_refuses_to_overwrite(tmp_path):
    src = write_csv(tmp_path / "w.csv", "wanted", [variant("wanted", 0, full_name="Lê  Văn Tám")])
    result = clean(src, "wanted", tmp_path / "w.jsonl")
    lines = (tmp_path / "w.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[0])["full_name"] == "Lê Văn Tám" and result.cells_changed == 1
    with pytest.raises(InputError, match="overwrite the input"):
        clean(src, "wanted", src)
    with pytest.raises(InputError, match="unknown output format"):
        clean(src, "wanted", tmp_path / "w.xlsx")


def test_unreadable_rows_are_named_not_dropped_silently(tmp_path):
    src = tmp_path / "w.csv"
    src.write_text("wanted_id,full_name\nW1,Lê Văn Tám\nW2,Lê Văn Bảy,extra\nW3,Trần Thị Mai\n", encoding="utf-8")
    result = clean(src, "wanted", tmp_path / "copy.csv")
    assert result.rows_written == 2 and result.rows_not_copied == [2]
    assert "rows 2" in result.render()


# A safe fix never changes what a name says: the same letters, vowel marks and tones, word by word.
TONES = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}


def _skeleton(s: str) -> list[tuple[str, tuple[str, ...]]]:
    out = []
    for word in unicodedata.normalize("NFC", s).split():
        nfd = unicodedata.normalize("NFD", word)
        out.append((unicodedata.normalize("NFC", "".join(c for c in nfd if c not in TONES)),
                    tuple(sorted(c for c in nfd if c in TONES))))
    return out


WORDS = ["Hưng", "Hùng", "Hoà", "Hòa", "Thuý", "Thúy", "Khoẻ", "Nguyễn", "Quý", "Huỳnh", "Thuỷ", "Uyên", "Tuấn",
         "Hoàng", "Đức", "Lê", "Thị", "Oanh", "Khuê"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(WORDS), st.sampled_from(["", "nfd"]), st.sampled_from([" ", "  ", "\t"])),
                min_size=1, max_size=4))
def test_safe_fixes_keep_meaning(tmp_path_factory, words):
    name = "".join((unicodedata.normalize("NFD", w) if form == "nfd" else w) + sep for w, form, sep in words)
    d = tmp_path_factory.mktemp("h")
    src = write_csv(d / "w.csv", "wanted", [variant("wanted", 0, full_name=name)])
    clean(src, "wanted", d / "c.csv")
    out, _q, _r = read_source(d / "c.csv", "wanted")
    after = out.column("full_name").to_pylist()[0]
    assert _skeleton(after) == _skeleton(name)
    assert after == " ".join(after.split()) and unicodedata.is_normalized("NFC", after)


def test_legacy_encoded_file_is_copied_as_utf8(tmp_path):
    text = "wanted_id,full_name,hometown\nW1,Nguyễn Văn Hưng,\"Xã Tân Phú, Huyện Đức Hòa, Tỉnh Long An\"\n" \
           "W2,Trần Thị Thủy,Tỉnh Long An\n"
    src = tmp_path / "tcvn3.csv"
    src.write_bytes(encode_legacy(text, TCVN3))
    result = clean(src, "wanted", tmp_path / "copy.csv")
    assert (tmp_path / "copy.csv").read_text(encoding="utf-8") == text
    assert result.cells_changed == 0 and any("tcvn3" in n for n in result.notes)
    assert "the copy is UTF-8" in result.render()


def _excel_csv(path, text: str):
    """What Excel's "CSV UTF-8" writes: a BOM and CRLF line endings."""
    path.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode("utf-8"))
    return path


def test_clean_keeps_bom_and_crlf_of_an_excel_file(tmp_path):
    """Issue 17.11: the copy lost the BOM and the CRLF line endings."""
    src = _excel_csv(tmp_path / "w.csv", "wanted_id,full_name,permanent_address\nW01,Nguyễn  Văn Hùng,Quận 1\n"
                                         'W02,Lê Thị Mai,"12, ngõ 3, Quận 5"\n')
    result = clean(src, "wanted", tmp_path / "copy.csv")
    assert result.cells_changed == 1  # the doubled space
    out = (tmp_path / "copy.csv").read_bytes()
    assert out.startswith(b"\xef\xbb\xbf")
    assert out == _excel_csv(tmp_path / "want.csv", "wanted_id,full_name,permanent_address\n"
                             'W01,Nguyễn Văn Hùng,Quận 1\nW02,Lê Thị Mai,"12, ngõ 3, Quận 5"\n').read_bytes()


def test_clean_excel_file_comes_out_byte_identical(tmp_path):
    records = [variant("wanted", i) for i in range(4)]
    plain = write_csv(tmp_path / "plain.csv", "wanted", records)
    src = _excel_csv(tmp_path / "w.csv", plain.read_text(encoding="utf-8"))
    result = clean(src, "wanted", tmp_path / "copy.csv")
    assert result.cells_changed == 0
    assert (tmp_path / "copy.csv").read_bytes() == src.read_bytes()
