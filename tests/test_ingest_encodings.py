"""The same Vietnamese rows written in every supported encoding load as the same NFC text, and
the report says which encoding was used."""

from __future__ import annotations

import unicodedata

import pytest

from ingest_helpers import RESIDENTS, write_csv
from linkage.ingest import ingest, read_source
from linkage.ingest.sniff import HEAD_BYTES
from linkage.normalize.legacy import encode_legacy

EXPECTED_NAMES = ["Nguyễn Văn Hùng", "Trần Thị Ánh Tuyết", "Lê Quốc Việt"]


def csv_text(rows=RESIDENTS) -> str:
    header = ",".join(rows[0])
    return header + "\n" + "".join(",".join(f'"{v}"' for v in r.values()) + "\n" for r in rows)


ENCODINGS = {
    "utf-8": lambda t: t.encode("utf-8"),
    "utf-8-sig": lambda t: b"\xef\xbb\xbf" + t.encode("utf-8"),
    "utf-16-le": lambda t: b"\xff\xfe" + t.encode("utf-16-le"),
    "utf-16-be": lambda t: b"\xfe\xff" + t.encode("utf-16-be"),
    "cp1258": lambda t: encode_legacy(t, "cp1258"),
    "vni-windows": lambda t: encode_legacy(t, "vni-windows"),
}


@pytest.mark.parametrize("encoding", list(ENCODINGS))
def test_each_encoding_gives_the_nfc_originals(tmp_path, encoding):
    src = tmp_path / "residents.csv"
    src.write_bytes(ENCODINGS[encoding](csv_text()))
    accepted, _, report = read_source(src, "residents")
    assert report.encoding == encoding
    assert accepted.column("full_name").to_pylist() == EXPECTED_NAMES
    hometowns = accepted.column("hometown").to_pylist()
    assert hometowns == [unicodedata.normalize("NFC", r["hometown"]) for r in RESIDENTS]
    assert all(unicodedata.is_normalized("NFC", v) for v in hometowns)
    assert encoding in report.render()


def test_tcvn3_file(tmp_path):
    # TCVN3 has no capital toned letters: "Ánh" comes back as "ánh" (the font trick is lost)
    rows = [r | {"full_name": r["full_name"].replace("Ánh", "Ngọc")} for r in RESIDENTS]
    src = tmp_path / "residents.csv"
    src.write_bytes(encode_legacy(csv_text(rows), "tcvn3"))
    accepted, _, report = read_source(src, "residents")
    assert report.encoding == "tcvn3"
    assert accepted.column("full_name").to_pylist() == ["Nguyễn Văn Hùng", "Trần Thị Ngọc Tuyết", "Lê Quốc Việt"]
    assert accepted.column("hometown").to_pylist()[2] == "Xã Yên Sở, Huyện Hoài Đức, Thành phố Hà Nội"


def test_utf16_without_bom(tmp_path):
    src = tmp_path / "residents.csv"
    src.write_bytes(csv_text().encode("utf-16-le"))
    accepted, _, report = read_source(src, "residents")
    assert report.encoding == "utf-16-le" and accepted.column("full_name").to_pylist() == EXPECTED_NAMES


def test_utf8_nfd_text_is_kept_as_written(tmp_path):
    rows = [r | {"full_name": unicodedata.normalize("NFD", r["full_name"])} for r in RESIDENTS]
    accepted, _, _ = read_source(write_csv(tmp_path / "r.csv", rows), "residents")
    assert accepted.column("full_name").to_pylist()[0] == unicodedata.normalize("NFD", "Nguyễn Văn Hùng")


def test_legacy_bytes_after_a_long_ascii_start(tmp_path):
    """The encoding is sniffed on the file's head; a non-UTF-8 byte later falls back to a full decode."""
    filler = "".join(f"{i:012d},Nguyen Van A{i}\n" for i in range(1, HEAD_BYTES // 25 + 10))
    text = "person_id,full_name\n" + filler + "999999999999,Nguyễn Văn Hùng\n"
    src = tmp_path / "r.csv"
    src.write_bytes(encode_legacy(text, "cp1258"))
    assert src.stat().st_size > HEAD_BYTES
    accepted, _, report = read_source(src, "residents")
    assert report.encoding == "cp1258"
    assert accepted.column("full_name").to_pylist()[-1] == "Nguyễn Văn Hùng"
    assert accepted.num_rows == filler.count("\n") + 1


def test_legacy_jsonl(tmp_path):
    src = tmp_path / "w.jsonl"
    src.write_bytes(encode_legacy('{"wanted_id": "W1", "full_name": "Phạm Đức Thắng"}\n', "vni-windows"))
    out = tmp_path / "out"
    report = ingest({"wanted": src}, out)
    assert report.sources["wanted"].encoding == "vni-windows"
    from ingest_helpers import workspace_rows
    assert workspace_rows(out, "wanted")[0]["full_name"] == "Phạm Đức Thắng"
