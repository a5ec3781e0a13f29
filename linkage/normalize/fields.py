"""Small field normalisers: gender and ethnicity, plus the text fold the date and ID readers share.

Each DISTINCT value is normalised once and mapped back. Vocabularies live in rules/fields.yaml
and rules/ref/ethnic/ethnic_groups_54.csv.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from linkage.errors import RulesError
from linkage.rules import load_yaml, read_ref_csv, rules_dir

RULES_FILE = "fields.yaml"
ETHNIC_TABLE = "ref/ethnic/ethnic_groups_54.csv"
_GENDERS = ("M", "F")


# Pattern strings hold the real characters (not backslash-u escapes) and avoid backslash-s, -d,
# -b and lookarounds, so pandas runs them in pyarrow (RE2) instead of Python's re value by value.
_COMBINING = "[\u0300-\u036f]"
_SPACES = "[ \t\n\r\f\v\u00a0\u2000-\u200b\u202f\u3000\ufeff]+"


def fold_text(s: pd.Series) -> pd.Series:
    """Case-, diacritic- and NFC/NFD-insensitive text (đ -> d) with single spaces; NaN stays NaN."""
    s = s.astype(object).where(s.notna(), None)
    t = s.dropna().astype(str).str.normalize("NFD").str.replace(_COMBINING, "", regex=True)
    t = t.str.lower().str.replace("đ", "d", regex=False)
    t = t.str.replace(_SPACES, " ", regex=True).str.strip()
    return t.reindex(s.index)


def _fold_words(words: list) -> list[str]:
    return fold_text(pd.Series([str(w) for w in words], dtype=object)).tolist() if words else []


def factorize_values(values: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """(codes, distinct values as an object Series). Missing values get code len(distinct), the
    index of the null row the take_* helpers append."""
    codes, uniques = pd.factorize(values.astype(object), use_na_sentinel=True)
    codes = np.where(codes < 0, len(uniques), codes)
    return codes, pd.Series(np.asarray(uniques, dtype=object), dtype=object)


def take_str(per_unique, codes: np.ndarray) -> pd.arrays.ArrowStringArray:
    """Per-distinct strings (None/NaN = NULL) -> rows, as a pandas "string" array (Arrow take)."""
    obj = np.append(np.asarray(per_unique, dtype=object), None)
    arr = pa.array(obj, type=pa.string(), from_pandas=True)
    return pd.arrays.ArrowStringArray(arr.take(pa.array(codes)))


def take_int32(per_unique: np.ndarray, codes: np.ndarray) -> pd.arrays.IntegerArray:
    """Per-distinct integers (negative = NULL) -> rows, as Int32."""
    a = np.append(np.asarray(per_unique, dtype=np.int64), -1)[codes]
    return pd.arrays.IntegerArray(np.where(a < 0, 0, a).astype(np.int32), a < 0)


def take_bool(per_unique: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Per-distinct flags -> rows; a missing input is False."""
    return np.append(np.asarray(per_unique, dtype=bool), False)[codes]


def _mtime(path: Path) -> int:
    return path.stat().st_mtime_ns if path.is_file() else 0


def load_field_rules(rules: str | Path | None = None) -> dict:
    """rules/fields.yaml, checked for the sections this module and ids.py read (cached on the
    file's modification time; callers must not modify the result)."""
    d = rules_dir(rules)
    return _load_field_rules(str(d), _mtime(d / RULES_FILE))


@lru_cache(maxsize=16)
def _load_field_rules(rules: str, _mtime: int) -> dict:
    cfg = load_yaml(RULES_FILE, rules)
    for section in ("gender", "ethnicity", "ids"):
        if not isinstance(cfg.get(section), dict):
            raise RulesError(f"rules/{RULES_FILE}: missing mapping '{section}'")
    return cfg


def _gender_vocab(cfg: dict) -> dict[str, str]:
    g = cfg["gender"]
    vocab: dict[str, str] = {}
    for code in _GENDERS:
        words = g.get(code)
        if not isinstance(words, list):
            raise RulesError(f"rules/{RULES_FILE}: 'gender.{code}' must be a list of words")
        for w, key in zip(words, _fold_words(words)):
            if vocab.get(key, code) != code:
                raise RulesError(f"rules/{RULES_FILE}: gender word {w!r} is listed for both M and F")
            vocab[key] = code
    for num, code in (g.get("numeric") or {}).items():
        if code not in _GENDERS:
            raise RulesError(f"rules/{RULES_FILE}: 'gender.numeric.{num}' must be M or F, got {code!r}")
        vocab[str(num).strip()] = code
    return vocab


@lru_cache(maxsize=16)
def _gender_vocab_cached(rules: str, mtime: int) -> dict[str, str]:
    return _gender_vocab(_load_field_rules(rules, mtime))


def normalize_gender(values: pd.Series, rules: str | Path | None = None) -> pd.Series:
    """'M' / 'F' / NULL from Nam, Nữ, nu, M, F, Male, Female, 1/2 (rules/fields.yaml).

    Unrecognised values become NULL (a gender we cannot read is no evidence).
    """
    values = values if isinstance(values, pd.Series) else pd.Series(values)
    d = rules_dir(rules)
    vocab = _gender_vocab_cached(str(d), _mtime(d / RULES_FILE))
    codes, uniques = factorize_values(values)
    key = fold_text(uniques).str.replace("[.]0$", "", regex=True)  # 1.0 from a float column
    return pd.Series(take_str(key.map(vocab).to_numpy(dtype=object), codes), index=values.index, name="gender")


def _ethnic_key(s: pd.Series, prefixes: list[str]) -> pd.Series:
    """Folded text without prefixes, parentheses, spaces, hyphens and apostrophes."""
    k = fold_text(s).str.replace(r"\(.*?\)", " ", regex=True)
    if prefixes:
        k = k.str.replace(r"^(?:" + "|".join(re.escape(p) for p in prefixes) + r")\b[\s:.]*", "", regex=True)
    return k.str.replace(r"[\s'’‘`ʼ\-.:]+", "", regex=True)


def _ethnic_lookup(cfg: dict, rules: str | Path | None) -> tuple[dict[str, str], dict[str, str]]:
    """(key -> code, code -> canonical name). Official names win over alternatives; an
    alternative claimed by two groups and nobody's official name is dropped."""
    table = read_ref_csv(ETHNIC_TABLE, rules, columns=("code_qd1019_2008", "name", "alternative_spellings_or_names"))
    eth = cfg["ethnicity"]
    prefixes = _fold_words(eth.get("prefixes") or [])
    extra = eth.get("extra_spellings") or {}
    names = dict(zip(table["code_qd1019_2008"], table["name"]))
    for code in extra:
        if str(code) not in names:
            raise RulesError(f"rules/{RULES_FILE}: 'ethnicity.extra_spellings' has unknown code {code!r}")
    official_keys = _ethnic_key(table["name"], prefixes)
    clash = official_keys[official_keys.duplicated(keep=False)]
    if len(clash):
        raise RulesError(f"{ETHNIC_TABLE}: names {', '.join(table['name'][clash.index])} are equal once folded")
    official = dict(zip(official_keys, table["code_qd1019_2008"]))
    alt_rows = [
        (code, a.strip())
        for code, alts in zip(table["code_qd1019_2008"], table["alternative_spellings_or_names"])
        for a in alts.split(";")
        if a.strip()
    ] + [(str(code), str(a)) for code, alts in extra.items() for a in alts]
    alt = pd.DataFrame(alt_rows, columns=["code", "text"])
    alt["key"] = _ethnic_key(alt["text"], prefixes)
    alt = alt[~alt["key"].isin(official)].drop_duplicates(["key", "code"])
    alt = alt[~alt["key"].duplicated(keep=False)]
    lookup = {**dict(zip(alt["key"], alt["code"])), **official}
    return lookup, names


@lru_cache(maxsize=16)
def _ethnic_lookup_cached(rules: str, mtime: int, _table_mtime: int) -> tuple[dict, dict, list[str]]:
    cfg = _load_field_rules(rules, mtime)
    lookup, names = _ethnic_lookup(cfg, rules)
    return lookup, names, _fold_words(cfg["ethnicity"].get("prefixes") or [])


def normalize_ethnicity(values: pd.Series, rules: str | Path | None = None) -> pd.DataFrame:
    """Columns ethnicity_code (QĐ 1019/QĐ-TCTK code) and ethnicity_name (canonical name).

    Matching ignores case, diacritics, spaces, hyphens and apostrophes ("Ê-đê" = "Êđê" = "Ê Đê",
    "H'Mông" = "Hmông" = "Mông"). An unknown value keeps its own (NFC, trimmed) text as the name
    and a NULL code, so nothing is silently lost.
    """
    values = values if isinstance(values, pd.Series) else pd.Series(values)
    d = rules_dir(rules)
    lookup, names, prefixes = _ethnic_lookup_cached(str(d), _mtime(d / RULES_FILE), _mtime(d / ETHNIC_TABLE))
    codes, uniques = factorize_values(values)
    key = _ethnic_key(uniques, prefixes)
    code = key.map(lookup)
    original = uniques.astype(str).str.normalize("NFC").str.replace(r"\s+", " ", regex=True).str.strip()
    name = code.map(names).where(code.notna(), original.where(original != "", None))
    return pd.DataFrame(
        {
            "ethnicity_code": take_str(code.to_numpy(dtype=object), codes),
            "ethnicity_name": take_str(name.to_numpy(dtype=object), codes),
        },
        index=values.index,
    )
