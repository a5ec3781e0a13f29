"""The Vietnamese phonetic key: the confusions it must merge, the names it must keep apart, and
one exercising case per rule in rules/names/phonetic.yaml."""

from __future__ import annotations

import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linkage.errors import RulesError
from linkage.normalize.phonetic import phonetic_key, phonetic_rules, phonetic_words
from linkage.normalize.text import canonical_name, fold_ascii
from linkage.rules import DEFAULT_RULES_DIR
from test_text import names, variant_of


@pytest.mark.parametrize(
    "a, b",
    [
        ("Giang", "Dang"),  # d/gi/r/v
        ("Giang", "Rang"),
        ("Dũng", "Vũng"),
        ("Đặng", "Dặng"),  # đ/d (via the fold)
        ("Gìn", "Dìn"),
        ("Sương", "Xương"),  # s/x
        ("Trung", "Chung"),  # tr/ch
        ("Lan", "Nan"),  # l/n
        ("Lan", "Lang"),  # final n/ng
        ("Phước", "Phướt"),  # final c/t
        ("Thạch", "Thạt"),
        ("Quý", "Quí"),  # i/y
        ("Mỹ", "Mĩ"),
        ("Vy", "Vi"),
        ("Kiều", "Ciều"),  # k/c
        ("Nghĩa", "Ngĩa"),  # ngh/ng
        ("Ghềnh", "Gềnh"),
        ("Phương", "Fương"),  # ph/f
        ("Dzũng", "Dũng"),  # old spelling
        ("Đỗ", "Đổ"),  # tones dropped (hỏi/ngã)
        ("Hùng", "Hưng"),  # vowel marks dropped (already by the fold)
        ("H'Hen Niê", "Hen Niê"),  # minority prefix
        ("Y Bih Niê", "Bih Niê"),  # minority prefix word
        ("A Tiếp", "Tiếp"),
        ("Nguyễn Văn Trường", "NGUYEN VAN TRUONG"),
    ],
)
def test_keys_merge_confusions(a: str, b: str) -> None:
    assert phonetic_key(a) == phonetic_key(b)


@pytest.mark.parametrize(
    "a, b",
    [
        ("Hoàng", "Huỳnh"),  # a known variant pair, not a sound-alike: weak evidence elsewhere
        ("Vũ", "Võ"),
        ("Minh", "Linh"),
        ("Trung", "Tùng"),
        ("Khánh", "Thanh"),
        ("Thanh", "Thành Long"),
        ("Nhung", "Hùng"),
        ("Ngọc", "Ngân"),
        ("Nguyễn Văn An", "Nguyễn Văn Anh"),  # final nh is kept apart from n
        ("Thị", "Thy Nguyễn"),
        ("Ghi", "Gi"),  # /gi/ vs /zi/
    ],
)
def test_keys_keep_different_names_apart(a: str, b: str) -> None:
    assert phonetic_key(a) != phonetic_key(b)


def test_key_shape() -> None:
    assert phonetic_key("Nguyễn Văn Trường") == "nguien zan chuon"
    assert phonetic_key("  ") == ""
    assert phonetic_key("H'") == ""
    assert phonetic_key("Y") == "i"  # a one-word name keeps its only word
    assert phonetic_key("Trần Thị Thúy").isascii()


RULE_CASES = {
    "minority_prefix": ("h'hen", "hen"),
    "apostrophe": ("b'lach", "blat"),
    "y_to_i": ("vy", "zi"),
    "ngh": ("nghia", "ngia"),
    "gh": ("ghi", "gi"),
    "dz": ("dzung", "zun"),
    "gi_vowel": ("giang", "zan"),
    "gi_alone": ("gin", "zin"),
    "d_r_v": ("ro", "zo"),
    "s_x": ("xuan", "suan"),
    "tr_ch": ("tram", "cham"),
    "n_l": ("nam", "lam"),
    "qu": ("quang", "cuan"),
    "k_c": ("kim", "cim"),
    "ph_f": ("phan", "fan"),
    "final_ng": ("hung", "hun"),
    "final_stop": ("phuoc", "fuot"),
}


def test_every_rule_has_a_reason_and_a_case() -> None:
    rules = phonetic_rules()
    assert {r.name for r in rules} == set(RULE_CASES)
    assert all(len(r.why) > 20 for r in rules)


@pytest.mark.parametrize("rule", sorted(RULE_CASES))
def test_each_rule_does_its_job(rule: str) -> None:
    word, key = RULE_CASES[rule]
    assert phonetic_words(word) == key
    # without the rule the word keeps the sound difference the rule removes
    assert phonetic_words(word, skip=rule) != key


def test_invalid_phonetic_rules_are_reported(tmp_path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(DEFAULT_RULES_DIR, rules, ignore=shutil.ignore_patterns("__pycache__"))
    (rules / "names/phonetic.yaml").write_text(
        "rules:\n  - {name: bad, pattern: '(', replace: '', why: broken}\n", encoding="utf-8"
    )
    with pytest.raises(RulesError, match="phonetic.yaml.*bad"):
        phonetic_key("Lan", rules=rules)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_spelling_variants_share_a_key(data) -> None:
    name = data.draw(names)
    variant = data.draw(variant_of(name))
    assert phonetic_key(variant) == phonetic_key(name) == phonetic_key(canonical_name(variant))
    # the key never separates names the ASCII fold merges
    assert phonetic_key(fold_ascii(name)) == phonetic_key(name)
