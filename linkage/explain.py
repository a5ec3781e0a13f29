"""The reviewer-facing columns of a candidate: flags and a one-line explanation, built as SQL
over the kept candidates (`scored` joined to the wanted record `l` and the person's main register
record `r`), from the phrases and flag rules in `rules/matching.yaml`."""

from __future__ import annotations

import math
import re

from linkage.errors import RulesError
from linkage.settings import Settings

_PLACEHOLDER = re.compile(r"\{([lr])\.([a-z0-9_]+)\}")


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def template_sql(text: str) -> str:
    """A phrase template ("given name differs: {l.given_name} -> {r.given_name}") as SQL."""
    parts = []
    pos = 0
    for m in _PLACEHOLDER.finditer(text):
        if m.start() > pos:
            parts.append(_literal(text[pos : m.start()]))
        parts.append(f"coalesce(CAST({m.group(1)}.{m.group(2)} AS VARCHAR), '?')")
        pos = m.end()
    if pos < len(text):
        parts.append(_literal(text[pos:]))
    return " || ".join(parts) if parts else "''"


def phrase_sql(settings: Settings, j: int) -> str:
    c = settings.comparisons[j]
    whens = " ".join(f"WHEN {k} THEN {template_sql(lv.text)}" for k, lv in enumerate(c.levels))
    return f"CASE s.g_{c.name} {whens} END"


def _flag_words(flag: str) -> str:
    return flag.replace("_", " ")


def _explanation_config(settings: Settings) -> tuple[float, float, int, set[str]]:
    """(min_abs_weight, min_negative_weight, max_positive, agreement_flags), checked: a typo must
    not silently hide a conflict."""
    cfg = settings.explanation
    where = f"{settings.path}: explanation"
    try:
        min_pos = float(cfg.get("min_abs_weight", 1.0))
        min_neg = float(cfg.get("min_negative_weight", min_pos))
        max_pos = int(cfg.get("max_positive", 6))
    except (TypeError, ValueError) as exc:
        raise RulesError(f"{where}: expected numbers for min_abs_weight, min_negative_weight, max_positive ({exc})") from None
    if min_neg < 0 or min_pos < 0 or max_pos < 0:
        raise RulesError(f"{where}: min_abs_weight, min_negative_weight and max_positive must be >= 0")
    agree = set(cfg.get("agreement_flags", []) or [])
    unknown = agree - set(settings.flags)
    if unknown:
        raise RulesError(f"{where}.agreement_flags: unknown flag(s) {sorted(unknown)} (flags: {sorted(settings.flags)})")
    return min_pos, min_neg, max_pos, agree


def _item_sql(settings: Settings, j: int, flags: dict[str, str], agree: set[str]) -> str:
    """One comparison as {w: weight, t: phrase, k: kind}: k = 2 when a conflict flag on it is set,
    1 when an agreement flag is, else 0. A flagged phrase is never NULL: the flag's name stands in
    for an empty level text."""
    c = settings.comparisons[j]
    on_c = [f for f, spec in settings.flags.items() if spec.get("comparison") == c.name]
    neg = [f for f in on_c if f not in agree]
    pos = [f for f in on_c if f in agree]
    phrase = f"nullif({phrase_sql(settings, j)}, '')"
    kind, text = "0", phrase
    if on_c:
        whens = " ".join(f"WHEN {flags[f]} THEN {k}" for k, fs in ((2, neg), (1, pos)) for f in fs)
        kind = f"CASE {whens} ELSE 0 END"
        words = " ".join(f"WHEN {flags[f]} THEN {_literal(_flag_words(f))}" for f in neg + pos)
        text = f"coalesce({phrase}, CASE {words} END)"
    return f"{{'w': s.mw_{c.name}, 't': {text}, 'k': {kind}}}"


def _phrases(items: str) -> str:
    return f"array_to_string(list_transform({items}, lambda x: x.t), ', ')"


def explanation_sql(settings: Settings) -> str:
    """Agreements (strongest first, at most max_positive), then '; ' and the conflicts.

    Nothing that counts against the match is hidden: every comparison weighing at most
    -min_negative_weight is stated, never cut by a count. A set flag always states its
    comparison's phrase, whatever its weight: with the agreements for the explanation's
    agreement_flags (id_match), with the conflicts otherwise (a birth date two years off may
    weigh slightly for the match, yet it is a change the reviewer must see)."""
    min_pos, min_neg, max_pos, agree = _explanation_config(settings)
    flags = flags_sql(settings)
    items = "[" + ", ".join(_item_sql(settings, j, flags, agree) for j in range(len(settings.comparisons))) + "]"
    desc = f"list_sort({items}, 'DESC')"
    forced = f"list_filter({items}, lambda x: x.k = 1 AND x.t IS NOT NULL)"
    strongest = f"list_filter({desc}, lambda x: x.k = 0 AND x.w >= {min_pos} AND x.t IS NOT NULL)[1:{max_pos}]"
    pos = _phrases(f"list_sort(list_concat({forced}, {strongest}), 'DESC')")
    conflicts = f"list_filter(list_sort({items}, 'ASC'), lambda x: x.t IS NOT NULL AND (x.k = 2 OR (x.k = 0 AND x.w <= -{min_neg})))"
    return f"concat_ws('; ', nullif({pos}, ''), nullif({_phrases(conflicts)}, ''))"


def _level_in(settings: Settings, comparison: str, levels: list[str]) -> str:
    c = settings.comparison(comparison)
    idx = [str(c.level_ids().index(lv)) for lv in levels]
    return f"coalesce(s.g_{comparison} IN ({', '.join(idx)}), FALSE)"


def flags_sql(settings: Settings) -> dict[str, str]:
    """Flag name -> SQL boolean. name_changed also requires the non-name evidence alone to reach
    the threshold: strong identity evidence, yet the names disagree."""
    out = {}
    t = settings.threshold
    threshold_weight = math.log2(t / (1 - t))
    for flag, spec in settings.flags.items():
        cond = _level_in(settings, spec["comparison"], list(spec.get("levels", [])))
        names = spec.get("name_comparisons")
        if names:
            name_sum = " + ".join(f"s.mw_{n}" for n in names)
            cond = f"({cond} AND s.match_weight - ({name_sum}) >= {threshold_weight})"
        out[flag] = cond
    return out


def rules_list_sql(settings: Settings) -> str:
    items = ", ".join(
        f"CASE WHEN (s.rules >> {i}) & 1 = 1 THEN {_literal(r.name)} END" for i, r in enumerate(settings.blocking)
    )
    return f"array_to_string(list_filter([{items}], lambda x: x IS NOT NULL), ',')"
