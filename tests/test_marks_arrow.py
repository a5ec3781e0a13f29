"""The marks normaliser cleans and cuts a column's texts in Arrow's kernels and reads each distinct
piece once (linkage/normalize/marks.py): the same marks as reading each text alone in Python."""

from __future__ import annotations

import random

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from linkage.normalize import marks
from linkage.normalize.marks import _clean, _clean_arrow, _NOT_PLAIN_RE2, _read_marks, normalize_marks
from linkage.rules import rules_dir

KEY = str(rules_dir(None))


def _plain_chars() -> list[str]:
    """Every character Arrow's path accepts (the others go to Python)."""
    chars = [chr(i) for i in range(0x2020)]
    ok = pc.invert(pc.match_substring_regex(pa.array(chars), _NOT_PLAIN_RE2)).to_pylist()
    return [c for c, keep in zip(chars, ok) if keep]


def test_arrow_cleaning_is_pythons_on_every_plain_character():
    chars = _plain_chars()
    assert "ệ" in chars and "\u0301" in chars and "İ" not in chars and "\u2003" not in chars
    texts = [t for c in chars for t in (c, f"Ab{c}Cd", f"1{c},5 {c} ,2,3, {c}", f" {c}\t{c}\u00a0")]
    assert _clean_arrow(pa.array(texts)).to_pylist() == [_clean(t) for t in texts]


def test_composed_and_decomposed_texts_clean_alike():
    texts = ["Sẹo ở TRÁN", "Se\u0323o o\u031b\u0309 TRA\u0301N", "NỐT RUỒI, 1,5cm: (MÁ)"]
    assert _clean_arrow(pa.array(texts)).to_pylist() == [_clean(t) for t in texts]


def _reference(texts: list) -> pd.DataFrame:
    """Each text read alone in Python: keys sorted and distinct, details in order, count."""
    rows = []
    for t in texts:
        ms = _read_marks(t, KEY) if isinstance(t, str) else []
        blank = t is None or not str(t).strip()
        rows.append(([*sorted({m.key for m in ms if m.key})], [m.detail for m in ms], None if blank else len(ms)))
    return pd.DataFrame({"marks_keys": [r[0] for r in rows], "marks_detail": [r[1] for r in rows],
                         "marks_n": pd.array([r[2] for r in rows], dtype="Int32")})


def _random_texts(n: int, seed: int) -> list:
    words = ["Sẹo", "sẹo", "SEO", "nốt ruồi", "N.ruồi", "not ruoi", "hình xăm", "bớt", "chấm", "C", "cách",
             "1cm", "2,5 cm", "1,2,3", "phân", "rưỡi", "trên", "dưới", "sau", "trước", "cánh mũi", "c.mũi",
             "đuôi mắt", "trán", "má", "cằm", "trái", "phải", "P", "T", "tr.", "ở", "và", "/", ";", "+", ",",
             "\n", ":", "(", ")", "“", "”", "\u00a0", "  ", "İ", "Σ", "\u2003", "x"]
    rnd = random.Random(seed)
    out: list = []
    for _ in range(n):
        k = rnd.randint(0, 12)
        out.append(" ".join(rnd.choice(words) for _ in range(k)))
    return out + [None, "", "   ", "\x1c", 5]


@pytest.mark.parametrize("seed, n", [(1, 3000), (2, 3000), (3, 300)])  # 300: below marks._ARROW_FROM, in Python
def test_normalize_marks_is_each_text_read_alone(seed, n):
    texts = _random_texts(n, seed)
    values = pd.Series(texts + texts[:50], dtype=object)  # repeated texts too
    got = normalize_marks(values)
    want = _reference(list(values))
    assert (got["marks_n"].fillna(0) > 0).sum() > n / 3  # marks were read
    pd.testing.assert_frame_equal(got, want)
    assert got["marks_keys"][0] is not got["marks_keys"][n]  # rows never share a list object


def test_a_rules_folder_without_separators_cuts_nothing(tmp_path):
    import shutil

    shutil.copytree(rules_dir(None), tmp_path / "rules")
    p = tmp_path / "rules" / "marks.yaml"
    text = p.read_text(encoding="utf-8")
    p.write_text(text.replace('separators: [";", "+", "\\n", " và ", " / "]', "separators: []"), encoding="utf-8")
    assert p.read_text(encoding="utf-8") != text
    marks._vocabs.cache_clear()
    texts = ["sẹo ở trán; nốt ruồi ở má", "Sẹo ở cằm và nốt ruồi trên trán"]
    got = normalize_marks(pd.Series(texts), rules=tmp_path / "rules")
    assert got["marks_detail"].tolist() == [[m.detail for m in _read_marks(t, str(tmp_path / "rules"))] for t in texts]
