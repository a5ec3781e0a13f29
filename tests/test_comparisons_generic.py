"""The generic `text` comparison kind (for rules packs on non-Vietnamese data, e.g. FEBRL4): each
level on crafted records through the real normalisers, prepared tables in a DuckDB file and the
compare stage; and its validation."""

from __future__ import annotations

import pytest

from engine_helpers import pair_levels, workspace
from linkage.errors import RulesError
from linkage.settings import load_settings

MATCHING = """
version: 1
blocking:
  rules:
    - {name: all, left: "'x'", right: "'x'"}
comparisons:
  - name: given
    kind: text
    column: given_ascii
    fuzzy_high: 0.94
    fuzzy: 0.88
    levels:
      - {id: exact, m: 0.8, u: 0.01}
      - {id: one_edit, m: 0.1, u: 0.01}
      - {id: fuzzy_high, m: 0.05, u: 0.01}
      - {id: fuzzy, m: 0.03, u: 0.01}
      - {id: else, m: 0.02, u: 0.96}
  - name: birth
    kind: text
    column: birth_date_text
    levels:
      - {id: exact, m: 0.8, u: 0.01}
      - {id: one_edit, m: 0.1, u: 0.01}
      - {id: else, m: 0.1, u: 0.98}
  - name: swapped_names
    kind: text
    left: given_ascii
    right: family_ascii
    levels:
      - {id: exact, m: 0.1, u: 0.01}
      - {id: else, m: 0.9, u: 0.99}
"""

# (case id, wanted changes, resident changes, comparison, expected level)
CASES = [
    ("exact", {}, {}, "given", "exact"),
    ("diacritics fold to exact", {"full_name": "Nguyễn Văn Hung"}, {}, "given", "exact"),
    ("one letter", {"full_name": "Nguyễn Văn Hunh"}, {}, "given", "one_edit"),
    ("one letter added", {"full_name": "Nguyễn Văn Tuanh"}, {"full_name": "Nguyễn Văn Tuan"}, "given", "one_edit"),
    ("two edits, Jaro-Winkler 0.944", {"full_name": "Nguyễn Văn Christofer"},
     {"full_name": "Nguyễn Văn Christopher"}, "given", "fuzzy_high"),
    ("two edits, Jaro-Winkler 0.906", {"full_name": "Nguyễn Văn Kristopher"},
     {"full_name": "Nguyễn Văn Christopher"}, "given", "fuzzy"),
    ("different", {"full_name": "Nguyễn Văn Jonathan"}, {"full_name": "Nguyễn Văn Minh"}, "given", "else"),
    ("birth date equal", {}, {}, "birth", "exact"),
    ("birth year digits swapped", {"birth_date": "12/05/1958"}, {}, "birth", "one_edit"),
    ("birth day typo", {"birth_date": "13/05/1985"}, {}, "birth", "one_edit"),
    ("birth date far", {"birth_date": "03/11/1970"}, {}, "birth", "else"),
    ("birth date missing", {"birth_date": ""}, {}, "birth", None),
    ("given vs family column", {"full_name": "Hùng Văn Nguyễn"}, {}, "swapped_names", "exact"),
    ("given vs family differ", {}, {}, "swapped_names", "else"),
]


@pytest.fixture(scope="module")
def levels(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("generic")
    rules = tmp / "rules"
    rules.mkdir()
    (rules / "matching.yaml").write_text(MATCHING, encoding="utf-8")
    settings = load_settings(rules)
    wanted = [{"wanted_id": f"W{i}", **w} for i, (_, w, _, _, _) in enumerate(CASES)]
    residents = [{"person_id": f"0800850{i:05d}", **r} for i, (_, _, r, _, _) in enumerate(CASES)]
    con = workspace(tmp, wanted, residents)
    return pair_levels(con, [(f"W{i}", residents[i]["person_id"]) for i in range(len(CASES))], settings)


@pytest.mark.parametrize("i", range(len(CASES)), ids=[c[0] for c in CASES])
def test_text_level(levels, i):
    name, _, _, comparison, expected = CASES[i]
    assert levels[i][comparison] == expected, f"{name}: {levels[i]}"


def _rules_with(tmp_path, comparison: str):
    (tmp_path / "matching.yaml").write_text(
        "blocking:\n  rules:\n    - {name: a, left: l.x, right: r.x}\ncomparisons:\n" + comparison, encoding="utf-8"
    )
    return tmp_path


def test_text_needs_a_column(tmp_path):
    rules = _rules_with(tmp_path, "  - name: t\n    kind: text\n    levels:\n"
                                  "      - {id: exact, m: 0.9, u: 0.1}\n      - {id: else, m: 0.1, u: 0.9}\n")
    with pytest.raises(RulesError, match="text needs column"):
        load_settings(rules)


def test_text_rejects_unknown_level(tmp_path):
    rules = _rules_with(tmp_path, "  - name: t\n    kind: text\n    column: given_ascii\n    levels:\n"
                                  "      - {id: ward, m: 0.9, u: 0.1}\n      - {id: else, m: 0.1, u: 0.9}\n")
    with pytest.raises(RulesError, match="not known to kind 'text'"):
        load_settings(rules)
