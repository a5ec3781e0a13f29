"""sạch checks on free text: legacy encodings, look-alike and invisible characters, NFC, spacing,
tone style, keystroke residues, letter case. The suggestion is the value `linkage clean` writes
(or, for residues it must not touch, the repaired reading)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkage.audit.context import AuditContext
from linkage.audit.found import Found, at
from linkage.audit.rules import Rule
from linkage.audit.textscan import TextScan
from linkage.normalize.text import canonical_name


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
    for i in np.flatnonzero(flags):
        sugg[i] = canonical_name(s.fixed[i], rules=ctx.rules)
    return _flagged(ctx, field, flags, sugg)


def ctx_placeholder_values(ctx: AuditContext, field: str) -> np.ndarray:
    """Per distinct value: a placeholder ("KHÔNG RÕ" is not a name in capitals)."""
    d = ctx.distinct(field)
    ph = ctx.placeholder(field)
    out = np.zeros(len(d.values), dtype=bool)
    rows = d.codes >= 0
    out[d.codes[rows & ph]] = True
    return out
