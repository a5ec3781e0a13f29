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
