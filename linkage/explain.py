"""The reviewer-facing columns of a candidate: flags and a one-line explanation, built as SQL
over the kept candidates (`scored` joined to the wanted record `l` and the person's main register
record `r`), from the phrases and flag rules in `rules/matching.yaml`."""

from __future__ import annotations

import math
import re

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


def explanation_sql(settings: Settings) -> str:
    """Strongest agreements first, then '; ' and the strongest disagreements."""
    cfg = settings.explanation
    min_w = float(cfg.get("min_abs_weight", 1.0))
    max_pos = int(cfg.get("max_positive", 6))
    max_neg = int(cfg.get("max_negative", 4))
    items = ", ".join(
        f"{{'w': s.mw_{c.name}, 't': {phrase_sql(settings, j)}}}" for j, c in enumerate(settings.comparisons)
    )
    lst = f"list_sort([{items}], 'DESC')"
    pos = f"array_to_string(list_transform(list_filter({lst}, lambda x: x.w >= {min_w} AND x.t IS NOT NULL), lambda x: x.t)[1:{max_pos}], ', ')"
    neg_sorted = f"list_sort([{items}], 'ASC')"
    neg = f"array_to_string(list_transform(list_filter({neg_sorted}, lambda x: x.w <= -{min_w} AND x.t IS NOT NULL), lambda x: x.t)[1:{max_neg}], ', ')"
    return f"concat_ws('; ', nullif({pos}, ''), nullif({neg}, ''))"


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
