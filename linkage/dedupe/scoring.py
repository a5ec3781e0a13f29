"""Scores of wanted-vs-wanted pairs: the engine's comparisons and model (read-only), plus the
wanted-only fields of rules/dedupe.yaml as weak evidence, and the decision-number check."""

from __future__ import annotations

from dataclasses import dataclass
import re

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from linkage.compare import Gammas, compare
from linkage.dedupe.rules import DedupeRules
from linkage.dedupe.selflink import EXTRA_TABLE
from linkage.errors import RulesError
from linkage.explain import explanation_sql, rules_list_sql, template_sql
from linkage.model import Model, match_weights, prior_weight, probability
from linkage.score import tf_values
from linkage.settings import Settings


@dataclass
class Scored:
    """Every blocked pair's record numbers (w_idx of both sides) and weight, for clustering; and
    the pairs at or above the floor weight, with their columns, for pairs.parquet."""

    left: np.ndarray
    right: np.ndarray
    weight: np.ndarray
    kept: pd.DataFrame
    forbid: np.ndarray  # a cannot_link rule holds: never a link, never one cluster


def key_sql(col: str) -> str:
    """A wanted-only field as compared: trimmed, lower case, spaces collapsed; empty is NULL."""
    return f"nullif(lower(regexp_replace(trim(CAST({col} AS VARCHAR)), '\\s+', ' ', 'g')), '')"


def decision_key_sql(col: str, within: str | None = None) -> str:
    """A decision number as compared: upper case, no spaces (556/QĐ-CSĐT = 556 / qđ-csđt),
    with the scoping column (the issuing unit) when the rules name one; NULL without a number."""
    number = f"nullif(upper(regexp_replace(CAST({col} AS VARCHAR), '\\s+', '', 'g')), '')"
    if within is None:
        return number
    prefix = col.rsplit(".", 1)[0] + "." if "." in col else ""
    return f"CASE WHEN {number} IS NOT NULL THEN {number} || '|' || coalesce({key_sql(prefix + within)}, '') END"


def _extra_frame(con: duckdb.DuckDBPyConnection, drules: DedupeRules) -> pd.DataFrame:
    """Per pair (pair_idx order): both records' w_idx, the wanted-only fields of both sides and
    whether the decision numbers are equal."""
    dec = drules.decision_column
    cols = [f"l.{c.column} AS {c.name}_l, r.{c.column} AS {c.name}_r, "
            f"{key_sql('l.' + c.column)} = {key_sql('r.' + c.column)} AS {c.name}_eq" for c in drules.comparisons]
    sql = f"""
        SELECT p.pair_idx, l.w_idx AS left_idx, r.w_idx AS right_idx, l.uid AS wanted_id_l, r.uid AS wanted_id_r,
               {', '.join(cols) + ',' if cols else ''}
               l.{dec} AS decision_number_l, r.{dec} AS decision_number_r,
               coalesce({decision_key_sql('l.' + dec, drules.decision_within)} = {decision_key_sql('r.' + dec, drules.decision_within)}, FALSE) AS same_decision_number
        FROM pairs p JOIN {EXTRA_TABLE} l ON l.w_idx = p.w_idx JOIN {EXTRA_TABLE} r ON r.person_idx = p.person_idx
        ORDER BY p.pair_idx
    """
    return con.execute(sql).df()


def _condition_frame(con: duckdb.DuckDBPyConnection, drules: DedupeRules) -> pd.DataFrame:
    """Per pair (pair_idx order): each condition's and cannot-link rule's truth and its phrase
    (the engine's placeholders {l.col} / {r.col} filled), over the engine's prepared tables."""
    cols = [f"coalesce(({c.when}), FALSE) AS {c.name}_on, {template_sql(c.text)} AS {c.name}_text"
            for c in drules.conditions]
    for c in drules.cannot_link:
        unless = f" AND NOT coalesce(({c.unless}), FALSE)" if c.unless else ""
        cols.append(f"coalesce(({c.when}), FALSE){unless} AS {c.name}_on, {template_sql(c.text)} AS {c.name}_text")
    if not cols:
        return pd.DataFrame(index=pd.RangeIndex(0))
    cols = ", ".join(cols)
    try:
        return con.execute(
            f"""SELECT {cols} FROM pairs p JOIN w l ON l.w_idx = p.w_idx JOIN reg r ON r.person_idx = p.person_idx
                ORDER BY p.pair_idx"""
        ).df()
    except duckdb.Error as exc:
        raise RulesError(f"{drules.path}: conditions / cannot_link: invalid SQL: {str(exc).splitlines()[0]}") from None


def _extra_weights(frame: pd.DataFrame, drules: DedupeRules) -> dict[str, np.ndarray]:
    """mw_<name> per wanted-only comparison: exact / else weight, 0 where a side is empty."""
    out = {}
    for c in drules.comparisons:
        eq = frame[f"{c.name}_eq"]
        w = np.where(eq.isna(), 0.0, np.where(eq.fillna(False).astype(bool), c.exact.weight, c.other.weight))
        out[c.name] = w.astype(np.float64)
    for c in drules.conditions:
        out[c.name] = np.where(frame[f"{c.name}_on"].to_numpy(dtype=bool), c.weight, 0.0)
    return out


_SLOT = re.compile(r"\{([lr])\}")


def fill(template: str, left: pd.Series, right: pd.Series) -> pd.Series:
    """A phrase template with {l} / {r} filled from two columns, for every row at once."""
    out = pd.Series([""] * len(left), index=left.index, dtype=object)
    pos = 0
    for m in _SLOT.finditer(template):
        out = out + template[pos:m.start()]
        out = out + (left if m.group(1) == "l" else right).fillna("?").astype(str)
        pos = m.end()
    return out + template[pos:]


def _extra_phrases(kept: pd.DataFrame, drules: DedupeRules) -> pd.Series:
    """The wanted-only fields in words: each comparison where both sides are given, and the
    decision-number data error."""
    parts = []
    for c in drules.comparisons:
        eq = kept[f"{c.name}_eq"]
        l, r = kept[f"{c.name}_l"], kept[f"{c.name}_r"]
        same = fill(c.exact.text, l, r)
        other = fill(c.other.text, l, r)
        parts.append(pd.Series(np.where(eq.isna(), None, np.where(eq.fillna(False).astype(bool), same, other)),
                               index=kept.index))
    for c in drules.conditions + drules.cannot_link:
        parts.append(pd.Series(np.where(kept[f"{c.name}_on"].to_numpy(dtype=bool), kept[f"{c.name}_text"], None),
                               index=kept.index))
    dec = fill(drules.decision_text, kept["decision_number_l"], kept["decision_number_r"])
    parts.append(pd.Series(np.where(kept["same_decision_number"], dec, None), index=kept.index))
    out = pd.Series([""] * len(kept), index=kept.index, dtype=object)
    for part in parts:
        out = join_words(out, part, ", ")
    return out


def join_words(a: pd.Series, b: pd.Series, sep: str) -> pd.Series:
    """a + sep + b row by row, leaving out an empty or missing side (vectorised)."""
    a = a.fillna("").astype(str)
    b = b.fillna("").astype(str)
    both = (a != "") & (b != "")
    return pd.Series(np.where(both, a + sep + b, a + b), index=a.index, dtype=object)


def _explanations(con: duckdb.DuckDBPyConnection, settings: Settings, cols: dict[str, np.ndarray],
                  lang: str = "vi") -> pd.DataFrame:
    """The engine's explanation (and its blocking-rule list) of the kept pairs, in their order."""
    con.register("_s", pa.table(cols))
    try:
        return con.execute(
            f"""SELECT {explanation_sql(settings, lang=lang)} AS explanation, {rules_list_sql(settings)} AS blocking_rules
                FROM (SELECT row_number() OVER () AS _o, * FROM _s) s
                JOIN w l ON l.w_idx = s.w_idx JOIN reg r ON r.person_idx = s.person_idx
                ORDER BY s._o"""
        ).df()
    finally:
        con.unregister("_s")


def compare_pairs(con: duckdb.DuckDBPyConnection, settings: Settings, drules: DedupeRules) -> Gammas:
    """The engine's comparison levels of every pair in `pairs`, with the dedupe rules' null_when
    applied (a comparison set to null where every listed comparison is at one of its levels)."""
    gammas = compare(con, settings, source="pairs")
    names = list(gammas.names)
    for comp, when in drules.null_when:
        at = np.ones(len(gammas.levels), dtype=bool)
        for other, levels in when:
            ids = settings.comparison(other).level_ids()
            codes = [ids.index(lv) if lv != "null" else -1 for lv in levels]
            at &= np.isin(gammas.levels[:, names.index(other)], codes)
        gammas.levels[at, names.index(comp)] = -1
    return gammas


def count_once(weights: np.ndarray, names: tuple[str, ...], groups: tuple[tuple[str, ...], ...]) -> np.ndarray:
    """In place: within each group, only the strongest positive weight of a pair counts (the
    others' positive parts are set to 0; disagreements stay)."""
    for group in groups:
        cols = [names.index(g) for g in group]
        sub = weights[:, cols]
        pos = np.maximum(sub, 0.0)
        keep = np.zeros_like(pos, dtype=bool)
        keep[np.arange(len(pos)), np.argmax(pos, axis=1)] = True
        weights[:, cols] = np.where((sub > 0) & ~keep, 0.0, sub)
    return weights


def score_pairs(con: duckdb.DuckDBPyConnection, settings: Settings, model: Model, drules: DedupeRules,
                n_records: int, gammas: Gammas) -> Scored:
    """Weigh every compared pair; keep the columns of pairs at or above the floor."""
    meta = con.execute("SELECT w_idx, person_idx, rules FROM pairs ORDER BY pair_idx").fetchnumpy()
    extra = _extra_frame(con, drules)
    if drules.conditions or drules.cannot_link:
        extra = pd.concat([extra, _condition_frame(con, drules)], axis=1)
    extra = extra.iloc[gammas.pair_idx].reset_index(drop=True)
    w_idx = np.asarray(meta["w_idx"])[gammas.pair_idx]
    tf = tf_values(con, settings, w_idx)
    extra_w = _extra_weights(extra, drules)
    every = count_once(match_weights(gammas.levels, model, tf), gammas.names, drules.count_once)
    for c in drules.conditions:  # a condition's own column takes back the family evidence it absorbs
        if c.absorbs:
            on = extra[f"{c.name}_on"].to_numpy(dtype=bool)
            cols = [gammas.names.index(a) for a in c.absorbs]
            extra_w[c.name] = extra_w[c.name] - np.where(on, np.maximum(every[:, cols], 0.0).sum(axis=1), 0.0)
    total = prior_weight(drules.prior(n_records)) + every.sum(axis=1)
    for w in extra_w.values():
        total = total + w
    keep = total >= drules.floor_weight
    mw = every[keep]
    cols: dict[str, np.ndarray] = {
        "w_idx": w_idx[keep],
        "person_idx": np.asarray(meta["person_idx"])[gammas.pair_idx][keep],
        "rules": np.asarray(meta["rules"])[gammas.pair_idx][keep],
        "match_weight": np.round(total[keep], 6),
    }
    for j, name in enumerate(gammas.names):
        cols[f"g_{name}"] = gammas.levels[keep, j]
        cols[f"mw_{name}"] = np.round(mw[:, j], 6)
    forbid = np.zeros(len(total), dtype=bool)
    reasons = pd.Series([None] * len(total), dtype=object)
    for c in reversed(drules.cannot_link):  # the first rule that holds names the reason
        on = extra[f"{c.name}_on"].to_numpy(dtype=bool)
        forbid |= on
        reasons = reasons.where(~on, c.name)
    kept = extra[keep].reset_index(drop=True)
    kept["cannot_link"] = reasons[keep].reset_index(drop=True)
    expl = _explanations(con, settings, cols, drules.lang)
    kept["match_weight"] = cols["match_weight"]
    kept["match_probability"] = np.round(probability(total[keep]), 9)
    for name in gammas.names:
        kept[f"mw_{name}"] = cols[f"mw_{name}"]
    for name, w in extra_w.items():
        kept[f"mw_{name}"] = np.round(w[keep], 6)
    kept["mw_decision_number"] = 0.0  # never evidence: a shared decision number is a data error
    words = _extra_phrases(kept, drules)
    kept["explanation"] = join_words(pd.Series(expl["explanation"].to_numpy(), index=kept.index), words, "; ")
    kept["blocking_rules"] = expl["blocking_rules"].to_numpy()
    return Scored(left=extra["left_idx"].to_numpy(), right=extra["right_idx"].to_numpy(), weight=total, kept=kept,
                  forbid=forbid)
