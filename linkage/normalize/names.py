"""Person names as the engine compares them: canonical form, ASCII fold, family / middle / given,
phonetic key, aliases, and the table of known spelling variants.

Splitting (rules/names/name_parts.yaml, minority.yaml):
- Kinh order: family = first word, given = LAST word, middle = the words between. The last word is
  the given name even in "Nguyễn Thị Minh Khai" (given Khai, middle "Thị Minh") because it stays
  stable when records drop middle words; `given2` ("Minh Khai") carries the two-syllable reading
  for names of 4+ words (unless the first of the two is Văn/Thị) and for 3-word names whose last two
  words are a listed two-syllable given name.
- One word: given only. H'Mông "Giàng A Páo" fits the Kinh order (family Giàng, middle A, given Páo).
- Ê Đê order: a prefix first (Y, or H'/K' glued to the name) and the family LAST: "Y Bih Niê" ->
  family Niê, middle Y, given Bih; "H'Hen Niê" -> family Niê, middle H', given Hen. Known two-word
  family names (Buôn Yă, Rơ Châm) are matched first; else the last word is the family. Without a
  prefix, a name ending in a listed minority family whose first word is not a known family name is
  read the same way ("Hen Niê" -> family Niê, given Hen).
- A given word with an apostrophe prefix loses it to the middle ("Siu H'Nhi" -> given Nhi).
Absent parts are null in normalize_names (split_name returns "").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from linkage.errors import RulesError
from linkage.normalize.phonetic import _phonetic_word, drop_leading_words, phonetic_words
from linkage.normalize.text import (
    _apply_legacy,
    _legacy_repair,
    _safe_word,
    canonical_name,
    fold_ascii,
    is_syllable,
    nfc_clean,
    rules_key,
)
from linkage.normalize.text import load_rules as load_text_rules
from linkage.rules import load_yaml, read_ref_csv, read_ref_lines

COLUMNS = ("norm", "ascii", "family", "middle", "given", "given2", "phonetic")


@dataclass(frozen=True)
class NameRules:
    word_prefixes: frozenset[str]
    apostrophe_prefixes: tuple[str, ...]  # longest first, canonical case
    minority_families: tuple[tuple[str, ...], ...]  # longest first
    leading_families: tuple[tuple[str, ...], ...]  # multi-word families written first
    family_last_words: frozenset[str]  # last word of every minority family
    leading_first_words: frozenset[str]  # first word of every leading family
    known_first: frozenset[str]
    gender_middles: frozenset[str]
    two_syllable_given: frozenset[str]


def _str_list(data: dict, key: str, where: Path) -> list[str]:
    v = data.get(key, [])
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise RulesError(f"{where}: '{key}' must be a list of strings")
    return v


@lru_cache(maxsize=8)
def _load(key: str) -> NameRules:
    root = Path(key)
    mino = load_yaml("names/minority.yaml", key)
    parts = load_yaml("names/name_parts.yaml", key)
    mpath, ppath = root / "names/minority.yaml", root / "names/name_parts.yaml"
    canon = lambda s: canonical_name(s, rules=key)  # noqa: E731
    word_prefixes = frozenset(canon(p) for p in _str_list(mino, "word_prefixes", mpath))
    apos = tuple(sorted((canon(p + "x")[:-1] for p in _str_list(mino, "apostrophe_prefixes", mpath)), key=len, reverse=True))
    fam = {tuple(canon(f).split()) for k in ("family_last", "family_either") for f in _str_list(mino, k, mpath)}
    fam.discard(())
    first_fams = {canon(f) for k in ("family_first", "family_either") for f in _str_list(mino, k, mpath)}
    leading = {tuple(f.split()) for f in first_fams if len(f.split()) > 1}
    known = {f.split()[0] for f in first_fams if f}
    known |= {t[0] for t in fam if len(t) > 1}
    tables = parts.get("known_surname_tables")
    if not isinstance(tables, dict) or not {"national", "counted", "min_count"} <= tables.keys():
        raise RulesError(f"{ppath}: known_surname_tables needs national, counted, min_count")
    nat = read_ref_csv(tables["national"], key, columns=("surname", "merged_variant"))
    known |= {canon(s) for s in pd.concat([nat["surname"], nat["merged_variant"]]) if s}
    cnt = read_ref_csv(tables["counted"], key, columns=("component", "token", "count"))
    cnt = cnt[(cnt["component"] == "surname") & (pd.to_numeric(cnt["count"], errors="coerce") >= int(tables["min_count"]))]
    known |= {canon(s) for s in cnt["token"] if is_syllable(s, rules=key)}
    known -= word_prefixes
    known.discard("")
    two = set()
    for rel in _str_list(parts, "two_syllable_given_lists", ppath):
        two |= {n for n in (canon(x) for x in read_ref_lines(rel, key)) if len(n.split()) == 2}
    return NameRules(
        word_prefixes=word_prefixes,
        apostrophe_prefixes=apos,
        minority_families=tuple(sorted(fam, key=len, reverse=True)),
        leading_families=tuple(sorted(leading, key=len, reverse=True)),
        family_last_words=frozenset(f[-1] for f in fam),
        leading_first_words=frozenset(f[0] for f in leading),
        known_first=frozenset(known),
        gender_middles=frozenset(canon(x) for x in _str_list(parts, "gender_middles", ppath)),
        two_syllable_given=frozenset(two),
    )


def name_rules(rules: str | Path | None = None) -> NameRules:
    return _load(rules_key(rules))


def _strip_prefix(word: str, R: NameRules) -> tuple[str, str]:
    """("H'", "Hen") for "H'Hen"; ("", word) when the word has no apostrophe prefix."""
    for p in R.apostrophe_prefixes:
        if word.startswith(p) and len(word) > len(p):
            return p, word[len(p) :]
    return "", word


def _family_suffix(words: list[str], R: NameRules) -> int:
    """How many trailing words form a listed minority family name (0 if none)."""
    if not words or words[-1] not in R.family_last_words:
        return 0
    for fam in R.minority_families:
        if len(fam) <= len(words) and tuple(words[-len(fam) :]) == fam:
            return len(fam)
    return 0


def _family_last(prefix: str, given: str, rest: list[str], R: NameRules) -> tuple[str, str, str]:
    """Ê Đê order: prefix + given + [more] + family (last)."""
    if not rest:
        return "", prefix, given
    k = _family_suffix(rest, R) or 1
    k = min(k, len(rest))
    middle = " ".join([prefix, *rest[: len(rest) - k]])
    return " ".join(rest[len(rest) - k :]), middle.strip(), given


def _split(words: tuple[str, ...], R: NameRules) -> tuple[str, str, str]:
    w = list(words)
    if not w:
        return "", "", ""
    for fam in R.leading_families if w[0] in R.leading_first_words else ():  # "Rơ Mah H'Bia"
        if len(w) > len(fam) and tuple(w[: len(fam)]) == fam:
            pre, given = _strip_prefix(w[-1], R)
            return " ".join(fam), " ".join([*w[len(fam) : -1], pre]).strip(), given
    first = w[0]
    if first in R.word_prefixes and len(w) >= 2:
        return _family_last(first, w[1], w[2:], R)
    pre, core = _strip_prefix(first, R)
    if pre:
        return _family_last(pre, core, w[1:], R)
    if len(w) >= 2 and first not in R.known_first:
        k = _family_suffix(w[1:], R)
        if k:
            return _family_last("", first, w[1:], R)
    if len(w) == 1:
        return "", "", first
    pre, given = _strip_prefix(w[-1], R)
    middle = " ".join([*w[1:-1], pre]) if pre else " ".join(w[1:-1])
    return first, middle, given


def split_name(norm: str, *, rules: str | Path | None = None) -> tuple[str, str, str]:
    """(family, middle, given) of a canonical name; "" for an absent part. See the module doc."""
    return _split(tuple(norm.split()), name_rules(rules))


def _given2(words: list[str], R: NameRules) -> str:
    if len(words) < 3 or words[0] in R.word_prefixes or _strip_prefix(words[0], R)[0]:
        return ""
    pair = f"{words[-2]} {words[-1]}"
    if pair in R.two_syllable_given:
        return pair
    if len(words) >= 4 and words[-2] not in R.gender_middles:
        return pair
    return ""


def given2(norm: str, *, rules: str | Path | None = None) -> str:
    """The two-syllable given-name reading of a canonical name ("Minh Khai"), or ""."""
    words = norm.split()
    R = name_rules(rules)
    fam, _, _ = _split(tuple(words), R)
    return _given2(words, R) if fam == (words[0] if words else "") else ""


@lru_cache(maxsize=200_000)
def _fold_phon(word: str, key: str) -> tuple[str, str]:
    f = fold_ascii(word, rules=key)
    return f, _phonetic_word(f, key)


def _one(value: object, key: str, R: NameRules) -> tuple[str | None, ...]:
    if not isinstance(value, str):
        value = str(value)
    norm = canonical_name(value, rules=key)
    if not norm:
        return (None,) * len(COLUMNS)
    words = norm.split()
    family, middle, given = _split(tuple(words), R)
    fp = [_fold_phon(w, key) for w in words]
    phon = phonetic_words(" ".join(f for f, _ in fp), rules=key)
    g2 = _given2(words, R) if family == words[0] else ""
    return (norm, " ".join(f for f, _ in fp), family or None, middle or None, given or None, g2 or None, phon or None)


def normalize_name(value: str, *, rules: str | Path | None = None) -> dict[str, str | None]:
    """One value's columns (see normalize_names); for single lookups, not for columns."""
    key = rules_key(rules)
    return dict(zip(COLUMNS, _one(value, key, name_rules(rules))))


def normalize_names(values: pd.Series, *, rules: str | Path | None = None) -> pd.DataFrame:
    """Canonical name parts for a column, index-aligned: norm, ascii, family, middle, given, given2,
    phonetic. Each distinct value is normalised once; null or letter-less values give nulls."""
    key = rules_key(rules)
    R = name_rules(rules)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    try:  # string columns convert without a Python loop
        distinct = pa.array(uniques, type=pa.large_string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        distinct = pa.array([v if isinstance(v, str) else str(v) for v in uniques], type=pa.large_string())
    if isinstance(distinct, pa.ChunkedArray):
        distinct = distinct.combine_chunks()
    cols = _normalize_distinct(distinct, key, R)
    idx = pa.array(codes, mask=codes < 0)
    return pd.DataFrame({c: pc.take(cols[c], idx).to_pandas().array for c in COLUMNS}, index=values.index)


_SCALAR = 8  # up to this many distinct names, each goes through _one: the Arrow path's fixed cost is 0.7 ms


def names_table(values: pa.Array, *, rules: str | Path | None = None) -> pa.Table:
    """normalize_names' columns for an Arrow column of text, as Arrow (large_string): without the
    pandas frame, which is most of the cost for a desk's one or two names."""
    key = rules_key(rules)
    R = name_rules(rules)
    if len(values) <= _SCALAR:  # each value through _one, no encoding and no takes
        rows = [(None,) * len(COLUMNS) if v is None else _one(v, key, R) for v in values.to_pylist()]
        return pa.table({c: pa.array([r[j] for r in rows], type=pa.large_string()) for j, c in enumerate(COLUMNS)})
    enc = pc.dictionary_encode(values)
    distinct = enc.dictionary.cast(pa.large_string())
    if len(distinct) <= _SCALAR:
        rows = [_one(v, key, R) for v in distinct.to_pylist()]
        cols = {c: pa.array([r[j] for r in rows], type=pa.large_string()) for j, c in enumerate(COLUMNS)}
    else:
        cols = _normalize_distinct(distinct, key, R)
    return pa.table({c: cols[c].take(enc.indices) for c in COLUMNS})


@lru_cache(maxsize=8)
def _word_sets(key: str) -> dict[str, pa.Array]:
    """The rules' word sets as Arrow arrays, built once per rules folder (a call on a few names,
    at the desk, spent most of its time sorting them)."""
    R, t = _load(key), pa.large_string()
    return {
        "family_last": pa.array(sorted(R.family_last_words), type=t),
        "special_first": pa.array(sorted(R.word_prefixes | R.leading_first_words), type=t),
        "known_first": pa.array(sorted(R.known_first), type=t),
        "drop": pa.array(sorted(drop_leading_words(key)), type=t),
        "two_syllable_given": pa.array(sorted(R.two_syllable_given), type=t),
        "gender_middles": pa.array(sorted(R.gender_middles), type=t),
    }


_FEW = 64  # up to this many values, a word set is looked up in Python: pc.is_in hashes its whole set per call


def _is_in(values: pa.Array, key: str, name: str) -> np.ndarray:
    """Whether each value is in the rules' named word set (NULL: no)."""
    if len(values) <= _FEW:
        words = _python_sets(key)[name]
        return np.array([v in words for v in values.to_pylist()], dtype=bool)
    return np.asarray(pc.is_in(values, _word_sets(key)[name]).to_numpy(zero_copy_only=False), dtype=bool)


@lru_cache(maxsize=8)
def _python_sets(key: str) -> dict[str, frozenset]:
    return {k: frozenset(v.to_pylist()) for k, v in _word_sets(key).items()}


def _letters_and_spaces(arr: pa.Array) -> np.ndarray:
    """`^[\\p{L} ]*$`: letters and spaces only. Without that regex, which RE2 compiles on every
    call (0.7 ms for a desk's one name): Arrow's is-alpha (the same Unicode letter categories) once
    the spaces are removed."""
    stripped = pc.replace_substring(arr, " ", "")
    got = pc.or_(pc.utf8_is_alpha(stripped), pc.equal(stripped, ""))
    return np.asarray(got.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


def _fast_columns(arr: pa.Array, key: str, R: NameRules) -> tuple[dict[str, pa.Array], np.ndarray]:
    """Columns computed word by word with Arrow (each distinct word once), and the mask of values
    for which they are right: values made only of letters and spaces whose words are all "safe"
    (text._safe_word: canonical form independent of context) and that need no minority split."""
    n = len(arr)
    lists = pc.utf8_split_whitespace(arr)
    offsets = lists.offsets.to_numpy().astype(np.int64)
    lengths = np.diff(offsets)
    flat = lists.flatten()
    enc = pc.dictionary_encode(flat)
    ind = enc.indices.to_numpy(zero_copy_only=False)
    words = enc.dictionary.to_pylist()
    canon = [_safe_word(w, key) for w in words]
    fold_phon = [_fold_phon(c, key) if c else (None, None) for c in canon]
    word_ok = np.array([c is not None for c in canon], dtype=bool)[ind.astype(np.int64)]
    bad = np.concatenate([[0], np.cumsum(~word_ok)])
    ok = (lengths > 0) & (bad[offsets[1:]] == bad[offsets[:-1]])
    ok &= _letters_and_spaces(arr)

    t = pa.large_string()
    flat_canon = pa.array(canon, type=t).take(enc.indices)
    flat_fold = pa.array([f for f, _ in fold_phon], type=t).take(enc.indices)
    flat_phon = pa.array([p for _, p in fold_phon], type=t).take(enc.indices)
    first_i = np.minimum(offsets[:-1], max(len(flat) - 1, 0))
    last_i = np.maximum(offsets[1:] - 1, 0)
    empty = pa.nulls(n, type=t)
    if len(flat) == 0:
        first = last = second_last = empty
    else:
        first = flat_canon.take(pa.array(first_i, mask=lengths < 1))
        last = flat_canon.take(pa.array(last_i, mask=lengths < 1))
        second_last = flat_canon.take(pa.array(np.maximum(offsets[1:] - 2, 0), mask=lengths < 3))
    # minority patterns (a prefix first, or a minority family last) take the slow path
    special = _is_in(first, key, "special_first")
    special |= (
        (lengths >= 2)
        & ~_is_in(first, key, "known_first")
        & _is_in(last, key, "family_last")
    )
    if len(flat):  # a first word the phonetic key drops (Y, A, Ka) also takes the slow path
        first_fold = flat_fold.take(pa.array(first_i, mask=lengths < 2))
        special |= _is_in(first_fold, key, "drop")
    ok &= ~special

    def join(flat_values: pa.Array, offs: np.ndarray) -> pa.Array:
        lists = pa.LargeListArray.from_arrays(pa.array(offs, type=pa.int64()), flat_values)
        return pc.binary_join(lists, pa.scalar(" ", type=t))

    pos = np.arange(len(flat)) - np.repeat(offsets[:-1], lengths)
    keep = (pos > 0) & (pos < np.repeat(lengths, lengths) - 1)
    mid_offsets = np.concatenate([[0], np.cumsum(np.maximum(lengths - 2, 0))])
    middle = join(flat_canon.filter(pa.array(keep)), mid_offsets)
    middle = pc.if_else(pa.array(lengths >= 3), middle, empty)
    pair = pc.binary_join_element_wise(second_last, last, pa.scalar(" ", type=t))
    g2 = _is_in(pair, key, "two_syllable_given")
    g2 |= (lengths >= 4) & ~_is_in(second_last, key, "gender_middles")
    cols = {
        "norm": join(flat_canon, offsets),
        "ascii": join(flat_fold, offsets),
        "family": pc.if_else(pa.array(lengths >= 2), first, empty),
        "middle": middle,
        "given": last,
        "given2": pc.if_else(pa.array(g2 & (lengths >= 3)), pair, empty),
        "phonetic": join(flat_phon, offsets),
    }
    return cols, ok


def _normalize_distinct(arr: pa.Array, key: str, R: NameRules) -> dict[str, pa.Array]:
    """Columns for distinct values: the Arrow word-by-word path where it applies; then values that
    only needed legacy/NFC/space/confusable clean-up (text.canonical_name's second fast path) go
    through it again after that clean-up; the rest through the scalar _one. All paths give
    identical results (tests/test_names.py checks it)."""
    cols, ok = _fast_columns(arr, key, R)
    todo = np.flatnonzero(~ok)
    if not len(todo):
        return cols
    raw = arr.take(pa.array(todo)).to_pylist()
    R_text = load_text_rules(key)
    legacy = _legacy_repair()
    cleaned = [nfc_clean(_apply_legacy(v, key, legacy, R_text) if legacy else v, rules=key) for v in raw]
    cols2, ok2 = _fast_columns(pa.array(cleaned, type=pa.large_string()), key, R)
    rows = [None if ok2[j] else _one(raw[j], key, R) for j in range(len(todo))]
    t = pa.large_string()
    mask = pa.array(~ok)
    take2 = pa.array(np.arange(len(todo)))
    for j, c in enumerate(COLUMNS):
        scalar = pa.array([None if r is None else r[j] for r in rows], type=t)
        merged = pc.if_else(pa.array(ok2), cols2[c].take(take2), scalar)
        cols[c] = pc.replace_with_mask(cols[c], mask, merged)
    return cols


# ---------------------------------------------------------------------------------------------
# Aliases
# ---------------------------------------------------------------------------------------------

_HARD_SEP = re.compile(r"[;|\n]")
_SOFT_SEP = re.compile(r"[,/]")
_MAX_ALIAS_WORDS = 6


def _aliases_of(value: str, key: str) -> list[str]:
    s = nfc_clean(value, rules=key)
    if _HARD_SEP.search(s):
        parts = _HARD_SEP.split(s)
    else:
        parts = _SOFT_SEP.split(s)
        canon = [canonical_name(p, rules=key) for p in parts]
        # a list only when every piece is itself a name
        if len(parts) > 1 and not all(c and len(c.split()) <= _MAX_ALIAS_WORDS for c in canon):
            parts = [s]
    out: list[str] = []
    for p in parts:
        c = canonical_name(p, rules=key)
        if c and c not in out:
            out.append(c)
    return out


def split_aliases(values: pd.Series, *, rules: str | Path | None = None) -> pd.Series:
    """Lists of canonical aliases, index-aligned: "Tèo; Tí" -> ["Tèo", "Tí"]; ',' and '/' split
    too when every piece is a name; null or empty -> []."""
    key = rules_key(rules)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    lists = [_aliases_of(v if isinstance(v, str) else str(v), key) for v in uniques]
    lists.append([])
    arr = np.empty(len(lists), dtype=object)
    arr[:] = lists
    codes = np.where(codes < 0, len(lists) - 1, codes)
    # each row gets its own list object so callers may mutate one row safely
    return pd.Series([list(x) for x in arr[codes]], index=values.index, dtype=object)


# ---------------------------------------------------------------------------------------------
# Known spelling variants (weak evidence)
# ---------------------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _variants(key: str) -> pd.DataFrame:
    ref = read_ref_csv("ref/names/name_spelling_variants.csv", key, columns=("form_a", "form_b", "variant_type"))
    own = read_ref_csv("names/variant_pairs.csv", key, columns=("form_a", "form_b", "relation", "kind"))
    bad = own[~own["relation"].isin(["same", "weak"])]
    if len(bad):
        raise RulesError(f"{Path(key) / 'names/variant_pairs.csv'}: row {bad.index[0] + 2}: relation must be same or weak")
    rows = []
    for _, r in ref.iterrows():
        weak = "weak" in r.get("suggested_matching_treatment", "")
        for b in r["form_b"].split(" / "):
            rows.append((r["form_a"], b, "weak" if weak else "same", r["variant_type"]))
    rows += list(own[["form_a", "form_b", "relation", "kind"]].itertuples(index=False, name=None))
    out = []
    for a, b, rel, kind in rows:
        ca, cb = canonical_name(a, rules=key), canonical_name(b, rules=key)
        fa, fb = fold_ascii(ca, rules=key), fold_ascii(cb, rules=key)
        # keep single words that stay different after canonicalisation; drop pairs where one side
        # is just the other without diacritics (Nguyễn/Nguyen: already equal in ascii) and
        # single letters (Đ/Ð: a code-point repair, not a name variant)
        if (
            ca != cb
            and len(ca.split()) == len(cb.split()) == 1
            and min(len(ca), len(cb)) > 1
            and fa != cb.lower()
            and fb != ca.lower()
        ):
            out.append((ca, cb, rel, kind))
    df = pd.DataFrame(out, columns=["form_a", "form_b", "relation", "kind"]).drop_duplicates(["form_a", "form_b"])
    return df.reset_index(drop=True)


def variant_table(rules: str | Path | None = None) -> pd.DataFrame:
    """Known single-word spelling variants in canonical form: form_a, form_b, relation
    ("same": one name spelt two ways; "weak": possibly the same), kind."""
    return _variants(rules_key(rules)).copy()


def variant_pairs(rules: str | Path | None = None, relation: str | None = None) -> set[frozenset[str]]:
    """The known variant pairs ({"Hoàng", "Huỳnh"}, {"Vũ", "Võ"}, {"Quý", "Quí"}...) as unordered
    pairs of canonical words; optionally only one relation ("same" or "weak")."""
    df = _variants(rules_key(rules))
    if relation is not None:
        df = df[df["relation"] == relation]
    return {frozenset((a, b)) for a, b in zip(df["form_a"], df["form_b"])}
