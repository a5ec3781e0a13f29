"""sạch checks on free text: legacy encodings, look-alike and invisible characters, NFC, spacing,
tone style, keystroke residues, letter case. The suggestion is the value `linkage clean` writes
(or, for residues it must not touch, the repaired reading)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from linkage.audit.context import AuditContext
from linkage.audit.found import Found, at
from linkage.audit.rules import Rule
from linkage.audit.textscan import TextScan
from linkage.errors import RulesError
from linkage.normalize.fields import fold_text
from linkage.normalize.text import canonical_name
from linkage.rules import rules_dir


def _scan(ctx: AuditContext, field: str) -> TextScan:
    """One scan per field, with the tone and keystroke passes the rules ask for on it."""
    tones = any(field in r.fields for r in ctx.qrules.rules if r.check == "tone_style")
    keys = any(field in r.fields for r in ctx.qrules.rules if r.check == "keystroke_residue")
    return ctx.text(field, tones=tones, keystrokes=keys)


def _flagged(ctx: AuditContext, field: str, flags: np.ndarray, per_value: np.ndarray) -> Found | None:
    d = ctx.distinct(field)
    pos = d.rows(flags)
    return at(field, pos, d.take(per_value, pos))


def legacy_encoding(ctx: AuditContext, rule: Rule, field: str) -> Found | None:
    s = _scan(ctx, field)
    return _flagged(ctx, field, s.legacy, s.fixed)


def not_nfc(ctx: AuditContext, rule: Rule, field: str) -> Found | None:
    s = _scan(ctx, field)
    return _flagged(ctx, field, s.not_nfc, s.fixed)


def spacing(ctx: AuditContext, rule: Rule, field: str) -> Found | None:
    s = _scan(ctx, field)
    return _flagged(ctx, field, s.spacing, s.fixed)


def confusable(ctx: AuditContext, rule: Rule, field: str) -> Found | None:
    s = _scan(ctx, field)
    return _flagged(ctx, field, s.confusable, s.fixed)


def tone_style(ctx: AuditContext, rule: Rule, field: str) -> Found | None:
    s = _scan(ctx, field)
    return _flagged(ctx, field, s.tone, s.fixed)


def keystroke_residue(ctx: AuditContext, rule: Rule, field: str) -> Found | None:
    s = _scan(ctx, field)
    if s.keystroke is None:
        return None
    return _flagged(ctx, field, s.keystroke, s.keystroke_fix)


def name_case(ctx: AuditContext, rule: Rule, field: str) -> Found | None:
    """ALL CAPS or all lower case (at least two letters); the suggestion is the canonical name."""
    d = ctx.distinct(field)
    if len(d.values) == 0:
        return None
    s = _scan(ctx, field)
    arr = pa.array(s.fixed, pa.string())
    upper = pc.utf8_is_upper(arr).fill_null(False).to_numpy(zero_copy_only=False)
    lower = pc.utf8_is_lower(arr).fill_null(False).to_numpy(zero_copy_only=False)
    letters = pc.count_substring_regex(arr, r"\p{L}").fill_null(0).to_numpy(zero_copy_only=False)
    # capitals only count inside a word ("Y Ý" is two one-letter words, correctly written)
    upper = np.asarray(upper, bool) & np.asarray(pc.match_substring_regex(arr, r"\p{Lu}\p{Lu}").fill_null(
        False).to_numpy(zero_copy_only=False), bool)
    flags = (upper | np.asarray(lower, bool)) & (letters >= 2) & ~ctx_placeholder_values(ctx, field)
    sugg = np.full(len(d.values), None, dtype=object)
    unmarked = _no_diacritics(ctx, field)  # "Ho Nhat Su" is not the fix of "HO NHAT SU"
    sugg[flags & unmarked] = "title case, with the diacritics the name is missing (sach.name_no_diacritics)"
    for i in np.flatnonzero(flags & ~unmarked):
        sugg[i] = canonical_name(s.fixed[i], rules=ctx.rules)
    return _flagged(ctx, field, flags, sugg)


# ---------------------------------------------------------------------- names without diacritics
_LEXICONS = ("ref/names/name_components_freq_uit_member.csv:token",
             "ref/names/surname_shares_national_published.csv:surname",
             "ref/names/given_name_syllables_male_duyet.txt", "ref/names/given_name_syllables_female_duyet.txt")


def _rule_params(ctx: AuditContext) -> dict:
    rule = next((r for r in ctx.qrules.rules if r.check == "no_diacritics"), None)
    return rule.params if rule is not None else {}


@lru_cache(maxsize=8)
def _marked_only(rules: str, lexicons: tuple[str, ...], _mtimes: tuple[int, ...]) -> frozenset[str]:
    """Folded name syllables that are only ever written with a mark (nguyen, nhat, van: yes;
    anh, lan, minh, hoa, giang: no, they are names as written)."""
    words: list[str] = []
    for spec in lexicons:
        rel, _, column = spec.partition(":")
        path = Path(rules) / rel
        if not path.is_file():
            raise RulesError(f"name lexicon not found: {path} (rules/quality.yaml, no_diacritics params.lexicons)")
        if column:
            df = pd.read_csv(path, dtype=str, keep_default_na=False)
            if column not in df.columns:
                raise RulesError(f"{path}: no column {column!r} (rules/quality.yaml, no_diacritics params.lexicons)")
            words += df[column].tolist()
        else:
            words += path.read_text(encoding="utf-8").split()
    sy = pd.Series(words, dtype=object).str.normalize("NFC").str.split().explode().dropna()
    sy = sy[sy.str.fullmatch("[^ ]+")].str.lower()
    folded = fold_text(sy)
    marked = set(folded[sy != folded])
    return frozenset(marked - set(folded[sy == folded]))


def _no_diacritics(ctx: AuditContext, field: str) -> np.ndarray:
    """Per distinct value: written in plain ASCII letters, and at least `min_syllables` of its
    words are Vietnamese name syllables only ever written with a mark (criterion in quality.yaml)."""
    def make() -> np.ndarray:
        d = ctx.distinct(field)
        if len(d.values) == 0:
            return np.zeros(0, dtype=bool)
        params = _rule_params(ctx)
        lexicons = tuple(params.get("lexicons", _LEXICONS))
        root = rules_dir(ctx.rules)
        mtimes = tuple((root / x.partition(":")[0]).stat().st_mtime_ns
                       if (root / x.partition(":")[0]).is_file() else 0 for x in lexicons)
        marked = _marked_only(str(root), lexicons, mtimes)
        values = pd.Series(d.values, dtype=object)
        ascii_only = values.str.fullmatch("[A-Za-z][A-Za-z .'-]*").fillna(False).to_numpy(dtype=bool)
        words = values[ascii_only].str.lower().str.findall("[a-z]+").explode()
        hits = words.isin(marked).groupby(level=0).sum()
        out = np.zeros(len(values), dtype=bool)
        enough = hits[hits >= int(params.get("min_syllables", 2))].index.to_numpy()
        out[enough] = True
        return out & ~ctx_placeholder_values(ctx, field)
    return ctx._cached(("no_diacritics", field), make)


def no_diacritics(ctx: AuditContext, rule: Rule, field: str) -> Found | None:
    """A Vietnamese name typed without its diacritics (HO NHAT SU): no suggestion, since the marks
    cannot be guessed (Hồ/Họ, Sự/Sử/Sư)."""
    return _flagged(ctx, field, _no_diacritics(ctx, field), np.full(len(ctx.distinct(field).values), None,
                                                                      dtype=object))


def ctx_placeholder_values(ctx: AuditContext, field: str) -> np.ndarray:
    """Per distinct value: a placeholder ("KHÔNG RÕ" is not a name in capitals)."""
    d = ctx.distinct(field)
    ph = ctx.placeholder(field)
    out = np.zeros(len(d.values), dtype=bool)
    rows = d.codes >= 0
    out[d.codes[rows & ph]] = True
    return out
