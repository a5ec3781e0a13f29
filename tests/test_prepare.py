"""The register's derived name columns (linkage/prepare.py)."""

import pyarrow as pa

from linkage.prepare import strip_tones


def test_strip_tones_drops_the_five_tone_marks_and_keeps_the_letters_marks() -> None:
    names = pa.array(["Nguyễn Thị Hưng", "Đặng Văn Hùng", None, "Nguyễn Thị Hưng", "Lê Ánh", "Hoàng Mỹ Ngọc"])
    assert strip_tones(names).to_pylist() == [
        "Nguyên Thi Hưng", "Đăng Văn Hung", None, "Nguyên Thi Hưng", "Lê Anh", "Hoang My Ngoc"]


def test_strip_tones_gives_composed_text_whatever_the_input_form() -> None:
    import unicodedata

    decomposed = unicodedata.normalize("NFD", "Trần Quốc Tuấn")
    assert strip_tones(pa.array([decomposed])).to_pylist() == ["Trân Quôc Tuân"]


def test_blank_as_null_is_a_trim_to_nothing() -> None:
    import pyarrow.compute as pc

    from linkage.prepare import blank_as_null

    values = ["", " ", "\t \u3000", "\u00a0", "a", " a ", None, "\u200b", "Hà Nội"]
    trimmed = pc.utf8_trim_whitespace(pa.array(values))
    assert blank_as_null(pa.array(values)).to_pylist() == [None if t == "" else v for v, t in zip(values, trimmed.to_pylist())]
    clean = pa.array(["a", None, "b"])
    assert blank_as_null(clean) is clean  # nothing to blank: no copy
