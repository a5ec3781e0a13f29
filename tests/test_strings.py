"""The string catalogue (rules/strings/vi.yaml, en.yaml): one set of keys for both languages,
checked at load with the file and key named; Vietnamese is the default; numbers and dates follow
each language's convention."""

from __future__ import annotations

import shutil
import unicodedata
from datetime import date
from pathlib import Path

import pytest

from linkage.errors import RulesError
from linkage.reports.html import fmt_date, fmt_num, fmt_pct, fmt_sig
from linkage.reports import strings as strings_mod
from linkage.reports.strings import DEFAULT_LANG, LANGS, load_catalogue, t

RULES = Path(__file__).resolve().parent.parent / "rules"


@pytest.fixture
def rules_copy(tmp_path) -> Path:
    """A rules directory holding a copy of the catalogue, for the broken-file cases."""
    shutil.copytree(RULES / "strings", tmp_path / "strings")
    return tmp_path


def test_both_languages_have_the_same_keys():
    cat = load_catalogue()
    assert set(LANGS) == {"vi", "en"} and DEFAULT_LANG == "vi"
    assert set(cat["vi"]) == set(cat["en"]) and len(cat["vi"]) > 100


def test_vietnamese_is_the_default_and_written_with_diacritics():
    assert t("run.title") == "Báo cáo lần chạy"
    assert t("run.title", "en") == "Run report"
    assert t("run.inputs.quarantined") == "Cách ly"
    assert t("run.blocking.title") == "Quy tắc phân khối"
    assert t("flag.residence_changed") == "Đổi nơi cư trú"
    for key, text in load_catalogue()["vi"].items():
        assert unicodedata.is_normalized("NFC", text), key  # one encoding of each letter


def test_formatting_arguments():
    assert t("run.scores.above", threshold="0,80") == "Từ ngưỡng 0,80 trở lên"
    assert t("run.leads.intro", "en", n="50").startswith("The 50 rank-1")


def test_missing_key_names_the_file_and_the_key(rules_copy):
    en = rules_copy / "strings" / "en.yaml"
    en.write_text(en.read_text(encoding="utf-8").replace('    title: "Inputs"\n', ""), encoding="utf-8")
    with pytest.raises(RulesError) as err:
        load_catalogue(rules_copy)
    assert str(en) in str(err.value) and "run.inputs.title" in str(err.value)


def test_a_key_only_in_english_is_missing_from_vietnamese(rules_copy):
    en = rules_copy / "strings" / "en.yaml"
    en.write_text(en.read_text(encoding="utf-8") + "\nextra:\n  only_here: \"x\"\n", encoding="utf-8")
    with pytest.raises(RulesError, match=r"vi\.yaml: missing key 'extra\.only_here'"):
        load_catalogue(rules_copy)


def test_placeholders_must_agree(rules_copy):
    vi = rules_copy / "strings" / "vi.yaml"
    vi.write_text(vi.read_text(encoding="utf-8").replace("Từ ngưỡng {threshold} trở lên", "Từ ngưỡng {nguong}"),
                  encoding="utf-8")
    with pytest.raises(RulesError, match=r"run\.scores\.above: placeholders"):
        load_catalogue(rules_copy)


def test_a_key_written_twice_is_refused(rules_copy):
    vi = rules_copy / "strings" / "vi.yaml"
    vi.write_text(vi.read_text(encoding="utf-8").replace('  title: "Báo cáo lần chạy"\n',
                                                         '  title: "Báo cáo lần chạy"\n  title: "Hai lần"\n'),
                  encoding="utf-8")
    with pytest.raises(RulesError, match=r"vi\.yaml: invalid YAML: .*duplicate key 'title'"):
        load_catalogue(rules_copy)


def test_an_unquoted_yes_key_is_refused(rules_copy):
    for lang in LANGS:
        f = rules_copy / "strings" / f"{lang}.yaml"
        f.write_text(f.read_text(encoding="utf-8").replace("  affirm:", "  yes:"), encoding="utf-8")
    with pytest.raises(RulesError, match=r"common\.True: key is not a string"):
        load_catalogue(rules_copy)


def test_unknown_key_and_language_are_errors():
    with pytest.raises(RulesError, match=r"vi\.yaml: missing key 'run\.nope'"):
        t("run.nope")
    with pytest.raises(RulesError, match="unknown report language 'fr'"):
        t("run.title", "fr")


def test_numbers_and_dates_follow_the_language():
    assert fmt_num(1234567.75, "vi", 1) == "1.234.567,8" and fmt_num(1234567.75, "en", 1) == "1,234,567.8"
    assert fmt_num(1234567, "vi") == "1.234.567" and fmt_num(1234567, "en") == "1,234,567"
    assert fmt_num(0.5, "vi", 2) == "0,50" and fmt_num(-3.14159, "en", 2) == "-3.14"
    assert fmt_pct(0.9036, "vi") == "90,4%" and fmt_pct(0.9036, "en") == "90.4%"
    assert fmt_sig(0.0000013, "vi") == "0,0000013" and fmt_sig(0.67716, "en") == "0.677"
    assert fmt_num(None) == "–" and fmt_num(float("nan")) == "–"
    assert fmt_date(date(2026, 1, 9), "vi") == "09/01/2026" and fmt_date("2026-01-09", "en") == "2026-01-09"


def test_part_files_are_merged_and_a_key_in_two_files_is_refused(rules_copy):
    d = rules_copy / "strings"
    (d / "part.vi.yaml").write_text('part:\n  hello: "Xin chào {name}"\n', encoding="utf-8")
    (d / "part.en.yaml").write_text('part:\n  hello: "Hello {name}"\n', encoding="utf-8")
    assert t("part.hello", "vi", rules_copy, name="An") == "Xin chào An"
    assert t("part.hello", "en", rules_copy, name="An") == "Hello An"
    strings_mod._load.cache_clear()
    strings_mod._catalogue_for.cache_clear()
    (d / "part.en.yaml").unlink()
    with pytest.raises(RulesError, match=r"en\.yaml: missing key 'part\.hello'"):
        load_catalogue(rules_copy)
    strings_mod._load.cache_clear()
    strings_mod._catalogue_for.cache_clear()
    (d / "part.en.yaml").write_text('part:\n  hello: "Hello {name}"\nrun:\n  inputs:\n    title: "x"\n', encoding="utf-8")
    with pytest.raises(RulesError, match=r"part\.en\.yaml: key 'run\.inputs\.title' is already defined"):
        load_catalogue(rules_copy)
