"""What each page shows, as plain data for its template: the queue, a pair side by side, the
history. No request handling here (app.py) and no HTML (templates/)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from linkage.reports.html import fmt_datetime, fmt_num, fmt_pct
from linkage.reports.strings import check_lang, has, load_catalogue, t
from linkage.review import relatives_panel
from linkage.review.candidates import DANGER_ORDER, Candidates, Filters, Row
from linkage.review.evidence import REASON_ID
from linkage.review.records import FIELDS, Records, contribution_class, word_diff
from linkage.review.store import Judgement
from linkage.review.waterfall import waterfall

QUEUE_ROWS = 50


@dataclass
class Ctx:
    """Everything a page needs to speak: language, rules dir, the user and their settings."""

    lang: str
    rules: Path | None
    user: str
    role: str
    blind: bool
    csrf: str

    def tr(self, key: str, **kw: Any) -> str:
        cat = _catalogue(self.rules, self.lang)
        text = cat.get("review." + key)
        if text is None:  # the catalogue's own error, naming the file and the key
            return t("review." + key, self.lang, self.rules, **kw)
        return text.format(**kw) if kw else text


_CATALOGUES: dict[tuple[str, str], dict[str, str]] = {}


def _catalogue(rules: Path | None, lang: str) -> dict[str, str]:
    """The language's strings (loaded and checked once by linkage.reports.strings), kept per rules dir."""
    key = (str(rules), lang)
    if key not in _CATALOGUES:
        _CATALOGUES[key] = load_catalogue(rules)[check_lang(lang)]
    return _CATALOGUES[key]


def danger_label(ctx: Ctx, rank: int, raw: str = "") -> str:
    if rank < len(DANGER_ORDER):
        return ctx.tr(f"danger.d{rank}")
    return raw or ctx.tr("danger.d3")


def comparison_label(ctx: Ctx, name: str) -> str:
    key = f"comparison.{name}"
    return t(key, ctx.lang, ctx.rules) if has(key, ctx.lang, ctx.rules) else name


def reason_text(ctx: Ctx, reason: str | None) -> str | None:
    """The store's re-queue reason (English, from evidence.py) in the page's language."""
    if not reason:
        return None
    out = []
    for part in reason.split("; "):
        m = re.search(r"\+([\d.]+) bits", part)
        if m:
            out.append(ctx.tr("requeue.weight", bits=fmt_num(float(m.group(1)), ctx.lang, 1)))
        elif part == REASON_ID:
            out.append(ctx.tr("requeue.id"))
        else:
            out.append(part)
    return "; ".join(out)


def state_label(ctx: Ctx, state: str | None) -> str:
    return ctx.tr(f"state.{state or 'none'}")


def queue_items(ctx: Ctx, cands: Candidates, records: Records, positions: list[int]) -> list[dict[str, Any]]:
    items = []
    rows = cands.rows(positions)
    wanted = records.wanted_records([r.wanted_id for r in rows])
    names = records.names([r.person_id for r in rows])
    for r, w, name in zip(rows, wanted, names):
        w = w or {}
        items.append({
            "pos": r.pos, "wanted_id": r.wanted_id, "person_id": r.person_id,
            "danger": danger_label(ctx, r.danger, r.danger_level), "danger_rank": r.danger,
            "wanted_name": w.get("full_name") or "", "candidate_name": name,
            "flags": [ctx.tr(f"flag_short.{f}") for f, on in r.flags.items() if on],
            "score": fmt_pct(r.match_probability, ctx.lang, 1), "state": r.state,
            "state_label": state_label(ctx, r.state), "reason": reason_text(ctx, r.requeue_reason),
            "decided_by": r.decided_by,
        })
    return items


def filter_options(ctx: Ctx, cands: Candidates) -> dict[str, Any]:
    return {
        "danger": [(str(i), ctx.tr(f"danger.d{i}")) for i in range(len(DANGER_ORDER) + 1)],
        "flags": [(f, ctx.tr(f"flag_short.{f}")) for f in cands.flag],
        "units": [(str(i), u or ctx.tr("queue.no_unit")) for i, u in enumerate(cands.units)],
        "bands": [(b, ctx.tr(f"band.{b}")) for b in ("high", "mid", "low")],
    }


def _date_text(value: Any) -> str:
    return "" if value is None else str(value)


def flag_lines(ctx: Ctx, r: Row, wanted: dict[str, Any], cand: dict[str, Any]) -> list[str]:
    """The set flags in words; a change's new value is the person's current one (the most recent
    record, on which the run judged the flag), else the candidate's shown record."""
    out = []
    now = r.current
    if r.flags.get("name_changed"):
        new = now.get("current_full_name") or cand.get("full_name") or "–"
        out.append(ctx.tr("flag.name_changed", old=wanted.get("full_name") or "–", new=new))
    if r.flags.get("birth_date_changed"):
        out.append(ctx.tr("flag.birth_date_changed", old=_date_text(wanted.get("birth_date")) or "–",
                          new=_date_text(cand.get("birth_date")) or "–"))
    if r.flags.get("residence_changed"):
        old = wanted.get("permanent_address") or wanted.get("current_address") or "–"
        new = now.get("current_address") or cand.get("current_address") or cand.get("permanent_address") or "–"
        out.append(ctx.tr("flag.residence_changed", old=old, new=new))
    if r.flags.get("id_match"):
        out.append(ctx.tr("flag.id_match"))
    return out


def field_rows(ctx: Ctx, r: Row, wanted: dict[str, Any], cand: dict[str, Any],
               norm: tuple[dict[str, str], dict[str, str]] | None) -> list[dict[str, Any]]:
    rows = []
    for name, comps in FIELDS:
        left, right = wanted.get(name), cand.get(name)
        if left in (None, "") and right in (None, ""):
            continue
        total = sum(r.mw.get(c, 0.0) for c in comps)
        missing = left in (None, "") or right in (None, "")
        row: dict[str, Any] = {
            "label": ctx.tr(f"field.{name}"), "cls": "plain" if ctx.blind and r.state == "none" else
            contribution_class(total, missing),
            "left": "" if left is None else str(left), "right": "" if right is None else str(right),
            "bits": fmt_num(total, ctx.lang, 1), "words": None,
        }
        if name in ("full_name", "father_name", "mother_name", "other_names") and not missing:
            row["words"] = word_diff(row["left"], row["right"])
        if norm is not None:
            row["left_norm"], row["right_norm"] = norm[0].get(name, ""), norm[1].get(name, "")
        row["cls_label"] = ctx.tr(f"contribution.{row['cls']}") if row["cls"] != "plain" else ""
        rows.append(row)
    return rows


def chart(ctx: Ctx, r: Row) -> Any:
    steps = [(comparison_label(ctx, c), v) for c, v in r.mw.items() if abs(v) >= 0.005]
    prior = r.match_weight - sum(v for _, v in steps)
    return waterfall(prior, steps, ctx.tr("pair.total"), ctx.tr("pair.prior"), ctx.lang, ctx.tr("pair.waterfall"))


def pair_page(ctx: Ctx, cands: Candidates, records: Records, pos: int, norm: bool) -> dict[str, Any]:
    r = cands.row(pos)
    wanted = records.wanted_record(r.wanted_id) or {"wanted_id": r.wanted_id}
    cand = records.candidate(r.person_id)
    forms = None
    if norm:
        forms = (records.normalised(wanted, "wanted"), records.normalised(cand, "residents"))
    show_scores = not ctx.blind or r.state != "none"
    others = [p for p in cands.of_wanted(r.wanted_id) if p != pos]
    other_items = []
    other_rows = cands.rows(others)
    for o, name in zip(other_rows, records.names([o.person_id for o in other_rows])):
        other_items.append({"person_id": o.person_id, "rank": o.rank, "name": name,
                            "score": fmt_pct(o.match_probability, ctx.lang, 1) if show_scores else "",
                            "state": state_label(ctx, o.state)})
    other_items.sort(key=lambda x: x["rank"])
    live = cands.live.get(pos)
    extra = [(ctx.tr(f"field.{k}"), wanted.get(k)) for k in ("decision_number", "decision_date", "issuing_unit",
                                                               "offence") if wanted.get(k)]  # marks: in fields
    return {
        "row": r, "danger": danger_label(ctx, r.danger, r.danger_level), "wanted": wanted, "cand": cand,
        "fields": field_rows(ctx, r, wanted, cand, forms), "norm": norm, "flags": flag_lines(ctx, r, wanted, cand),
        "show_scores": show_scores, "probability": fmt_pct(r.match_probability, ctx.lang, 2),
        "weight": fmt_num(r.match_weight, ctx.lang, 1), "chart": chart(ctx, r) if show_scores else None,
        "others": other_items, "extra": extra, "resident": records.resident(r.person_id),
        "cards": records.cards(r.person_id), "live": live, "state_label": state_label(ctx, r.state),
        "reason": reason_text(ctx, r.requeue_reason),
        "decided_at": fmt_datetime(live["decided_at"], ctx.lang) if live else "",
        "relatives": relatives_panel.panel(records, r.wanted_id, ctx.lang, ctx.rules),
    }


def history_rows(ctx: Ctx, rows: list[Judgement]) -> list[dict[str, Any]]:
    return [{
        "id": j.id, "wanted_id": j.wanted_id, "person_id": j.person_id, "action": ctx.tr(f"action.{j.action}"),
        "decision": state_label(ctx, j.decision), "state": state_label(ctx, j.state), "reviewer": j.reviewer,
        "actor": j.actor, "when": fmt_datetime(j.recorded_at, ctx.lang), "note": j.note or "",
        "confirmed_by": j.confirmed_by or "", "live": j.live,
        "weight": fmt_num(j.match_weight, ctx.lang, 1) if j.match_weight is not None else "–",
    } for j in rows]


def counts(ctx: Ctx, cands: Candidates, mask: np.ndarray) -> list[tuple[str, int]]:
    c = cands.counts(mask)
    return [(ctx.tr("queue.left"), c["total"])] + [
        (ctx.tr(f"danger.d{i}"), c[str(i)]) for i in range(len(DANGER_ORDER) + 1) if c[str(i)]]
