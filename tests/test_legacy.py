"""Legacy Vietnamese encodings: tables, detection, decoding, and mojibake repair."""

from __future__ import annotations

import unicodedata

import pytest

from linkage.normalize import legacy
from linkage.normalize.legacy import (
    CP1258, LEGACY_ENCODINGS, TCVN3, UTF8, UTF8_BOM, UTF16_BE, UTF16_LE, VNI, decode_bytes, detect_and_decode,
    encode_legacy, guess_encoding, is_vietnamese_syllable, repair_legacy_text,
)
from linkage.rules import read_ref_csv

NAMES = "Nguyễn Văn Hùng; Phạm Đức Thắng; Lê Thị Hà; Hoàng Thị Thu Hương; Lò Văn Pấng; Vũ Quỳnh Như"
ADDRESS = "Xã Tân Phú, Huyện Đức Hòa, Tỉnh Long An; Phường Bến Nghé, Quận 1, Thành phố Hồ Chí Minh"

ALL_LOWER = sorted({c for c in unicodedata.normalize("NFC", "àáảãạăằắẳẵặâầấẩẫậèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵđ")})


def test_tables_cover_every_vietnamese_letter():
    tcvn3 = read_ref_csv("text/legacy_tcvn3.csv", columns=("byte", "char"))
    vni = read_ref_csv("text/legacy_vni.csv", columns=("vni", "bytes", "char"))
    assert len(tcvn3) == 74 and tcvn3["byte"].is_unique and tcvn3["char"].is_unique
    assert len(vni) == 134 and vni["bytes"].is_unique and vni["char"].is_unique
    assert set(ALL_LOWER) <= set(tcvn3["char"])
    assert set(ALL_LOWER) | {c.upper() for c in ALL_LOWER} == set(vni["char"])
    # the `vni` column shows the bytes as Windows-1252 text
    for shown, hexbytes in zip(vni["vni"], vni["bytes"]):
        assert shown.encode("cp1252") == bytes(int(h, 16) for h in hexbytes.split())


@pytest.mark.parametrize("encoding", LEGACY_ENCODINGS)
def test_every_letter_round_trips(encoding):
    text = " ".join(ALL_LOWER) + " " + " ".join(c.upper() for c in ALL_LOWER)
    if encoding == TCVN3:  # TCVN3 capitals exist only for Ă Â Ê Ô Ơ Ư Đ
        text = " ".join(ALL_LOWER) + " Ă Â Ê Ô Ơ Ư Đ"
    decoded, unmapped = decode_bytes(encode_legacy(text, encoding), encoding)
    assert decoded == text and unmapped == 0


@pytest.mark.parametrize("encoding", LEGACY_ENCODINGS)
def test_detects_each_legacy_encoding(encoding):
    text = f"{NAMES}\n{ADDRESS}\n"
    decoded, found = detect_and_decode(encode_legacy(text, encoding))
    assert found == encoding
    assert decoded == unicodedata.normalize("NFC", text)


@pytest.mark.parametrize("encoding", LEGACY_ENCODINGS)
def test_detects_short_ambiguous_values(encoding):
    # "Lê Hà" in cp1258 is also valid Latin-1; each reading must still pick its own encoding
    decoded, found = detect_and_decode(encode_legacy("Lê Thị Hà\n", encoding))
    assert (decoded, found) == ("Lê Thị Hà\n", encoding)


def test_unicode_encodings_and_boms():
    text = f"{NAMES}\n"
    assert detect_and_decode(text.encode("utf-8")) == (text, UTF8)
    assert detect_and_decode(b"\xef\xbb\xbf" + text.encode("utf-8")) == (text, UTF8_BOM)
    assert detect_and_decode(b"\xff\xfe" + text.encode("utf-16-le")) == (text, UTF16_LE)
    assert detect_and_decode(b"\xfe\xff" + text.encode("utf-16-be")) == (text, UTF16_BE)
    assert detect_and_decode(("id,name\n" + text).encode("utf-16-le")) == ("id,name\n" + text, UTF16_LE)


def test_utf8_is_not_normalised_on_decode():
    nfd = unicodedata.normalize("NFD", "Nguyễn Văn Hùng")
    assert detect_and_decode(nfd.encode())[0] == nfd  # NFD is a name-normaliser matter, kept as found


def test_mostly_utf8_with_a_broken_byte_stays_utf8():
    data = (NAMES + "\n").encode() * 50 + b"Tr\xe1n\n" + (ADDRESS + "\n").encode() * 50
    encoding, _ = guess_encoding(data)
    text, unmapped = decode_bytes(data, encoding)
    assert encoding == UTF8 and unmapped == 1 and text.count("Nguyễn") == 50


def test_cp1258_is_composed_to_nfc():
    raw = "Nguy\u00ea\u0303n".encode(CP1258)  # ê + combining tilde, as Windows-1258 writes ễ
    assert raw == b"Nguy\xea\xden"
    text, _ = decode_bytes(raw, CP1258)
    assert text == "Nguyễn" and unicodedata.is_normalized("NFC", text)


def test_tcvn3_all_caps_words_are_restored():
    # the ...H fonts reused the lower-case codes for capitals
    assert detect_and_decode(encode_legacy("NGUYỄN VĂN HÙNG, Đỗ Thị Lan\n", TCVN3))[0] == "NGUYỄN VĂN HÙNG, Đỗ Thị Lan\n"


@pytest.mark.parametrize("good, mojibake", [
    ("Nguyễn Văn Hùng", "NguyÔn V¨n Hïng"),  # TCVN3 read as cp1252
    ("Phạm Đức Thắng", "Ph¹m §øc Th¾ng"),
    ("Nguyễn Văn Hùng", "Nguyeãn Vaên Huøng"),  # VNI read as cp1252
    ("Hoàng Thị Thu Hương", "Hoaøng Thò Thu Höông"),
    ("ĐỖ QUỐC VIỆT", "ÑOÃ QUOÁC VIEÄT"),
    ("Nguyễn Văn Hùng", "Nguyá»…n VÄƒn HÃ¹ng"),  # UTF-8 read as cp1252
    ("Trần Thị Ánh Tuyết", "TrâÌn Thiò Ánh Tuyêìt"),  # cp1258 read as cp1252
])
def test_repairs_mojibake(good, mojibake):
    assert repair_legacy_text(mojibake) == good


@pytest.mark.parametrize("value", [
    "Nguyễn Văn Hùng", "Lê Hà", "Hà Nội", "Nguyen Van Hung", "", "José", "Müller", "Café", "12/03/1985",
    unicodedata.normalize("NFD", "Nguyễn"),
])
def test_leaves_good_or_unknown_text_alone(value):
    assert repair_legacy_text(value) == value


def test_encode_legacy_refuses_foreign_letters():
    with pytest.raises(ValueError, match="VNI|vni"):
        encode_legacy("Müller", VNI)
    with pytest.raises(ValueError, match="unknown legacy encoding"):
        encode_legacy("x", "latin-9")


@pytest.mark.parametrize("word, ok", [
    ("Nguyễn", True), ("người", True), ("khuya", True), ("quốc", True), ("gì", True), ("giêng", True),
    ("Ánh", True), ("NGHIÊNG", True), ("thuở", True),
    ("NguyÔn", False), ("Nguyeãn", False), ("Hïng", False), ("ảà", False), ("Müller", False),
])
def test_syllable_shape(word, ok):
    assert is_vietnamese_syllable(word) is ok


def test_plausibility_prefers_vietnamese():
    assert legacy.vietnamese_plausibility("Nguyễn Văn Hùng") == 1.0
    assert legacy.vietnamese_plausibility("NguyÔn V¨n Hïng") < 0.5
    assert legacy.vietnamese_plausibility("plain ascii") == 1.0
