"""The run report's sections, one function each. Each reads what it needs from the run's files
(through run_data) and returns one <section> with a stable id: inputs, stages, blocking, model,
scores, candidates, leads, accuracy."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from linkage.reports import run_data as rd
from linkage.reports.charts import hbar_chart, histogram, line_chart
from linkage.reports.html import (Markup, bullets, code, details, esc, figure, fmt_num, fmt_pct, fmt_sig, kpis,
                                  note, para, section, table)
from linkage.reports.model_notes import group
from linkage.reports.strings import has, t

SECTIONS = ("inputs", "stages", "blocking", "model", "scores", "candidates", "leads", "accuracy")


@dataclass
class Ctx:
    """What every section needs: the run's files, the language, the threshold, the model, the truth."""

    files: rd.RunFiles
    lang: str
    threshold: float
    model: dict | None
    truth: Path | None

    def t(self, key: str, **fmt) -> str:
        return t(key, self.lang, **fmt)

    def n(self, x, digits: int = 0) -> str:
        return fmt_num(x, self.lang, digits)

    def pct(self, x, digits: int = 1) -> str:
        return fmt_pct(x, self.lang, digits)


def label(ctx: Ctx, prefix: str, name: str) -> str:
    """The catalogue's display name for a comparison, flag, stage or level, else the name itself."""
    key = f"{prefix}.{name}"
    return t(key, ctx.lang) if has(key, ctx.lang) else name


def inputs(ctx: Ctx) -> Markup:
    """Rows read = accepted + quarantined per source, the reasons, and the engine's table sizes."""
    m = ctx.files.manifest
    ing = (m.get("counts") or {}).get("ingest") or {}
    rows = []
    for src, r in ing.items():
        ok = r.get("rows_read") == r.get("rows_accepted", 0) + r.get("rows_quarantined", 0)
        rows.append([label(ctx, "source", src), r.get("rows_read"), r.get("rows_accepted"), r.get("rows_quarantined"),
                     Markup(f'<td class="{"ok" if ok else "bad"}">{esc(ctx.t("common.affirm" if ok else "common.deny"))}</td>'),
                     f"{r.get('format', '')} · {r.get('encoding', '')}", Path(str(r.get("path", ""))).name])
    warnings = [w for w in (m.get("warnings") or []) if w]
    parts = [note(ctx.t("run.inputs.warnings", n=len(warnings))), bullets(warnings)] if warnings else []
    parts += [table([ctx.t("run.inputs.source"), ctx.t("run.inputs.read"), ctx.t("run.inputs.accepted"),
                    ctx.t("run.inputs.quarantined"), ctx.t("run.inputs.reconciled"), ctx.t("run.inputs.format"),
                    ctx.t("run.inputs.file")], rows, numeric=(1, 2, 3), lang=ctx.lang)]
    q = rd.quarantine_reasons(ctx.files)
    parts.append(Markup(f"<h3>{esc(ctx.t('run.inputs.reasons'))}</h3>"))
    if len(q):
        parts.append(table([ctx.t("run.inputs.source"), ctx.t("run.inputs.reason"), ctx.t("run.inputs.problems"),
                            ctx.t("run.inputs.rows")],
                           [[label(ctx, "source", s), code(r), int(p), int(n)]
                            for s, r, p, n in q[["source", "reason", "problems", "rows"]].itertuples(index=False)],
                           numeric=(2, 3), lang=ctx.lang))
    else:
        parts.append(para(ctx.t("run.inputs.no_quarantine")))
    tables = (m.get("counts") or {}).get("tables") or {}
    if tables:
        parts.append(Markup(f"<h3>{esc(ctx.t('run.inputs.tables'))}</h3>"))
        parts.append(kpis([(label(ctx, "table", k), ctx.n(v)) for k, v in tables.items()]))
    return section("inputs", ctx.t("run.inputs.title"), *parts)


def stages(ctx: Ctx) -> Markup:
    """Seconds per stage (and peak memory per stage when the manifest records it)."""
    timings = ctx.files.manifest.get("timings_s") or {}
    memory = ctx.files.manifest.get("memory_mb") or {}
    names = [k for k in timings if k != "total"] + [k for k in memory if k not in timings and k != "total"]
    headers = [ctx.t("run.stages.stage"), ctx.t("run.stages.seconds")]
    if memory:
        headers.append(ctx.t("run.stages.memory"))
    rows = []
    peak = max((float(v) for v in memory.values() if v is not None), default=None)
    for k in [*names, "total"] if "total" in timings or "total" in memory else names:
        row = [label(ctx, "stage", k), timings.get(k)]
        if memory:  # the run's peak is the largest stage peak when no total is recorded
            row.append(memory.get(k, peak if k == "total" else None))
        rows.append(row)
    parts = [table(headers, rows, numeric=(1, 2), lang=ctx.lang, digits={1: 2, 2: 0})]
    if not memory:
        parts.append(para(ctx.t("run.stages.no_memory"), "muted"))
    secs = [float(timings.get(k) or 0.0) for k in names if k in timings]
    if secs:
        parts.append(figure(hbar_chart([label(ctx, "stage", k) for k in names if k in timings],
                                       [(ctx.t("run.stages.seconds"), secs)], ctx.lang, digits=2,
                                       label=ctx.t("run.stages.chart")), ctx.t("run.stages.chart")))
    if memory:
        mem = [k for k in memory if k != "total"]
        parts.append(figure(hbar_chart([label(ctx, "stage", k) for k in mem],
                                       [(ctx.t("run.stages.memory"), [float(memory[k] or 0) for k in mem])],
                                       ctx.lang, label=ctx.t("run.stages.memory_chart")),
                            ctx.t("run.stages.memory_chart")))
    return section("stages", ctx.t("run.stages.title"), *parts)


def blocking(ctx: Ctx) -> Markup:
    """Pairs each blocking rule proposed, the new ones it added, the running total, its hottest keys."""
    counts = ctx.files.manifest.get("counts") or {}
    rules = counts.get("blocking") or []
    rows = []
    for r in rules:
        hot = ", ".join(f"{k} ({ctx.n(n)})" for k, n in (r.get("hot_keys") or [])[:3])
        rows.append([code(r.get("rule", "")), r.get("description", ""), r.get("pairs"), r.get("new_pairs"),
                     r.get("cumulative"), hot])
    parts = [para(ctx.t("run.blocking.intro")),
             table([ctx.t("run.blocking.rule"), ctx.t("run.blocking.description"), ctx.t("run.blocking.pairs"),
                    ctx.t("run.blocking.new_pairs"), ctx.t("run.blocking.cumulative"), ctx.t("run.blocking.hot_keys")],
                   rows, numeric=(2, 3, 4), lang=ctx.lang, wide=(1,))]
    if rules:
        parts.append(figure(hbar_chart([r.get("rule", "") for r in rules],
                                       [(ctx.t("run.blocking.new_pairs"), [r.get("new_pairs") or 0 for r in rules])],
                                       ctx.lang, label=ctx.t("run.blocking.chart")), ctx.t("run.blocking.chart")))
    if "candidate_pairs" in counts:
        parts.append(kpis([(ctx.t("run.blocking.total"), ctx.n(counts["candidate_pairs"]))]))
    return section("blocking", ctx.t("run.blocking.title"), *parts)


def _warnings(ctx: Ctx, lines: list[str]) -> list[Markup]:
    groups = group(lines)
    if not groups:
        return [para(ctx.t("run.model.no_warnings"))]
    summary = "; ".join(ctx.t(f"run.model.warn.{k}", n=len(v)) for k, v in groups.items())
    items = []
    for k, notes in groups.items():
        what = ", ".join(
            (f"{x.what} (m={fmt_sig(x.m, ctx.lang)} < u={fmt_sig(x.u, ctx.lang)})" if x.kind == "m_below_u"
             else f"{x.what} ({ctx.n(x.n)})" if x.kind == "session_skipped"
             else x.what if x.kind != "other" else x.text) for x in notes)
        items.append(f"{ctx.t(f'run.model.warn.{k}', n=len(notes))}: {what}")
    return [note(ctx.t("run.model.warn.summary", n=len(lines), detail=summary)), bullets(items)]


def model(ctx: Ctx) -> Markup:
    """The prior, training sessions, m and u per level with their weights, and training warnings."""
    man = ctx.files.manifest.get("model") or {}
    mo = ctx.model
    if mo is None:
        return section("model", ctx.t("run.model.title"), note(ctx.t("run.model.missing", path=man.get("path", "?"))))
    share = mo.get("wanted_match_share")
    prior_bits = float(np.log2(share / (1 - share))) if share and 0 < share < 1 else None
    origin = ctx.t("run.model.trained_here" if man.get("trained_in_this_run") else "run.model.given",
                   path=Path(str(man.get("path", ""))).name)
    parts = [para(origin),
             kpis([(ctx.t("run.model.prior"), ctx.pct(share)), (ctx.t("run.model.prior_bits"), ctx.n(prior_bits, 2)),
                   (ctx.t("run.model.comparisons"), ctx.n(len(mo.get("comparisons") or []))),
                   (ctx.t("run.model.threshold"), ctx.n(ctx.threshold, 2))]),
             para(ctx.t("run.model.explain"), "muted")]
    parts.append(Markup(f"<h3>{esc(ctx.t('run.model.warnings'))}</h3>"))
    parts += _warnings(ctx, list(man.get("warnings") or mo.get("warnings") or []))
    sessions = (mo.get("training") or {}).get("sessions") or []
    if sessions:
        parts.append(Markup(f"<h3>{esc(ctx.t('run.model.sessions'))}</h3>"))
        parts.append(table([ctx.t("run.blocking.rule"), ctx.t("run.blocking.pairs"), ctx.t("run.model.match_share"),
                            ctx.t("run.model.iterations")],
                           [[code(s.get("rule")), s.get("pairs"), Markup(f'<td class="n">{esc(ctx.pct(s.get("match_share")))}</td>'),
                             s.get("iterations")] for s in sessions], numeric=(1, 3), lang=ctx.lang))
    for c in mo.get("comparisons") or []:
        levels = c.get("levels") or []
        ids = [lv.get("id", "") for lv in levels]
        parts.append(Markup(f"<h3>{esc(label(ctx, 'comparison', c.get('name', '')))} "
                            f"<span class=\"muted\">({esc(c.get('name', ''))})</span></h3>"))
        parts.append(figure(hbar_chart(ids, [("m", [lv.get("m") for lv in levels]), ("u", [lv.get("u") for lv in levels])],
                                       ctx.lang, max_value=1.0, value_text=lambda v: fmt_sig(v, ctx.lang, 2),
                                       label=ctx.t("run.model.chart", name=c.get("name", "")))))
        parts.append(details(ctx.t("run.model.levels_table"), table(
            [ctx.t("run.model.level"), "m", "u", ctx.t("run.model.weight"), ctx.t("run.model.m_source")],
            [[code(lv.get("id")), _sig(ctx, lv.get("m")), _sig(ctx, lv.get("u")), lv.get("weight"), lv.get("m_source", "")]
             for lv in levels], numeric=(1, 2, 3), lang=ctx.lang, digits={3: 2})))
    return section("model", ctx.t("run.model.title"), *parts)


def scores(ctx: Ctx) -> Markup:
    """The distribution of match_probability with the threshold marked."""
    p = rd.probabilities(ctx.files)
    above = int((p >= ctx.threshold).sum())
    parts = [kpis([(ctx.t("run.scores.candidates"), ctx.n(len(p))),
                   (ctx.t("run.scores.above", threshold=ctx.n(ctx.threshold, 2)), ctx.n(above)),
                   (ctx.t("run.scores.below"), ctx.n(len(p) - above))]),
             figure(histogram(p, ctx.lang, bins=20, threshold=ctx.threshold,
                              threshold_label=ctx.t("run.scores.threshold_mark", threshold=ctx.n(ctx.threshold, 2)),
                              x_label=ctx.t("run.scores.x"), y_label=ctx.t("run.scores.y"),
                              label=ctx.t("run.scores.chart")), ctx.t("run.scores.chart"))]
    return section("scores", ctx.t("run.scores.title"), *parts)


def candidates(ctx: Ctx) -> Markup:
    """Candidates by change flag, and by the wanted record's danger level."""
    f = rd.flag_counts(ctx.files, ctx.threshold)
    parts = [Markup(f"<h3>{esc(ctx.t('run.candidates.by_flag'))}</h3>"),
             table([ctx.t("run.candidates.flag"), ctx.t("run.candidates.candidates"),
                    ctx.t("run.candidates.above", threshold=ctx.n(ctx.threshold, 2))],
                   [[label(ctx, "flag", a), int(b), int(c)] for a, b, c in f.itertuples(index=False)],
                   numeric=(1, 2), lang=ctx.lang)]
    if len(f):
        parts.append(figure(hbar_chart([label(ctx, "flag", x) for x in f["flag"]],
                                       [(ctx.t("run.candidates.candidates"), f["candidates"].tolist()),
                                        (ctx.t("run.candidates.above", threshold=ctx.n(ctx.threshold, 2)),
                                         f["above"].tolist())],
                                       ctx.lang, label=ctx.t("run.candidates.by_flag"))))
    parts.append(Markup(f"<h3>{esc(ctx.t('run.candidates.by_danger'))}</h3>"))
    d = rd.danger_counts(ctx.files, ctx.threshold)
    if d is None:
        parts.append(note(ctx.t("run.candidates.no_workspace", path=ctx.files.workspace.name)))
    else:
        order = {lv: i for i, lv in enumerate(rd.DANGER_LEVELS)}
        d = d.assign(_o=d["level"].map(order).fillna(len(order))).sort_values(["_o", "level"])
        names = [x if x else ctx.t("run.candidates.no_level") for x in d["level"]]
        parts.append(table([ctx.t("run.candidates.danger"), ctx.t("run.candidates.wanted"),
                            ctx.t("run.candidates.with_candidate"), ctx.t("run.candidates.candidates"),
                            ctx.t("run.candidates.above", threshold=ctx.n(ctx.threshold, 2))],
                           [[n, int(a), int(b), int(c), int(e)] for n, a, b, c, e in
                            zip(names, d["wanted"], d["with_candidate"], d["candidates"], d["above"])],
                           numeric=(1, 2, 3, 4), lang=ctx.lang))
        parts.append(figure(hbar_chart(names, [(ctx.t("run.candidates.wanted"), d["wanted"].tolist()),
                                               (ctx.t("run.candidates.above", threshold=ctx.n(ctx.threshold, 2)),
                                                d["above"].tolist())],
                                       ctx.lang, label=ctx.t("run.candidates.by_danger"))))
    return section("candidates", ctx.t("run.candidates.title"), *parts)


def leads(ctx: Ctx, limit: int = 50) -> Markup:
    """The first rank-1 leads by probability: ids, probability, flags and explanation only."""
    df = rd.leads(ctx.files, limit)
    rows = []
    for i, r in enumerate(df.itertuples(index=False), start=1):
        flags = ", ".join(label(ctx, "flag", f) for f in rd.FLAGS if bool(getattr(r, f) or False))
        rows.append([i, r.wanted_id, r.person_id,
                     Markup(f'<td class="n">{esc(ctx.pct(r.match_probability, 2))}</td>'), flags, r.explanation or ""])
    parts = [para(ctx.t("run.leads.intro", n=ctx.n(len(df)))), para(ctx.t("run.leads.caution"), "muted"),
             table(["#", ctx.t("run.leads.wanted_id"), ctx.t("run.leads.person_id"), ctx.t("run.leads.probability"),
                    ctx.t("run.leads.flags"), ctx.t("run.leads.explanation")], rows, numeric=(0,), lang=ctx.lang,
                   wide=(5,))]
    if ctx.lang != "en":
        parts.append(para(ctx.t("run.leads.explanation_lang"), "muted"))
    return section("leads", ctx.t("run.leads.title"), *parts)


def accuracy(ctx: Ctx) -> Markup:
    """Against a truth file: the evaluation at the threshold, the sweep over thresholds, recall by scenario."""
    if ctx.truth is None:
        return section("accuracy", ctx.t("run.accuracy.title"), para(ctx.t("run.accuracy.no_truth"), "muted"))
    from linkage.evaluate import evaluate

    ev = evaluate(Path(ctx.truth), ctx.files.matches, ctx.threshold)
    parts = [para(ctx.t("run.accuracy.intro", file=Path(ctx.truth).name, threshold=ctx.n(ctx.threshold, 2))),
             kpis([(ctx.t("run.accuracy.precision"), ctx.pct(ev.precision)), (ctx.t("run.accuracy.recall"), ctx.pct(ev.recall)),
                   ("F1", ctx.n(ev.f1, 3)), (ctx.t("run.accuracy.recall_at_1"), ctx.pct(ev.recall_at_1)),
                   (ctx.t("run.accuracy.recall_at_5"), ctx.pct(ev.recall_at_5))]),
             table([ctx.t("run.accuracy.measure"), ctx.t("run.accuracy.value")], [
                 [ctx.t("run.accuracy.wanted"), ev.wanted], [ctx.t("run.accuracy.true_pairs"), ev.true_pairs],
                 [ctx.t("run.accuracy.absent"), ev.absent_wanted], [ctx.t("run.accuracy.predicted"), ev.predicted],
                 [ctx.t("run.accuracy.true_positives"), ev.true_positives],
                 [ctx.t("run.accuracy.false_alarms"), ev.false_alarms_on_absent],
                 [ctx.t("run.accuracy.per_wanted"), Markup(f'<td class="n">{esc(ctx.n(ev.candidates_per_wanted, 2))}</td>')],
             ], numeric=(1,), lang=ctx.lang)]
    curve, _n_true = rd.threshold_sweep(Path(ctx.truth), ctx.files.matches)
    if len(curve):
        xs = curve["threshold"].to_numpy()
        lowest = float(np.nanmin(curve[["precision", "recall", "f1"]].to_numpy()))
        y_lo = max(0.0, np.floor(lowest * 20) / 20 - 0.05)  # zoom in: a good model lives near 1
        parts.append(figure(line_chart(
            [(ctx.t("run.accuracy.precision"), xs, curve["precision"].to_numpy()),
             (ctx.t("run.accuracy.recall"), xs, curve["recall"].to_numpy()), ("F1", xs, curve["f1"].to_numpy())],
            ctx.lang, y_range=(float(y_lo), 1.0), marker_x=ctx.threshold,
            marker_label=ctx.t("run.scores.threshold_mark", threshold=ctx.n(ctx.threshold, 2)),
            x_label=ctx.t("run.scores.x"), y_label=ctx.t("run.accuracy.y"), label=ctx.t("run.accuracy.chart")),
            ctx.t("run.accuracy.chart")))
    by = ev.by_scenario
    if len(by):
        rows = [[code(r["label"]), int(r["records"]), _opt(ctx, r.get("recall")), _opt(ctx, r.get("recall_at_1")),
                 _opt(ctx, r.get("false_alarm_rate"))] for r in by.to_dict("records")]
        parts.append(Markup(f"<h3>{esc(ctx.t('run.accuracy.by_scenario'))}</h3>"))
        parts.append(table([ctx.t("run.accuracy.scenario"), ctx.t("run.accuracy.records"), ctx.t("run.accuracy.recall"),
                            ctx.t("run.accuracy.recall_at_1"), ctx.t("run.accuracy.false_alarm_rate")],
                           rows, numeric=(1,), lang=ctx.lang))
    return section("accuracy", ctx.t("run.accuracy.title"), *parts)


def _sig(ctx: Ctx, x) -> Markup:
    return Markup(f'<td class="n">{esc(fmt_sig(x, ctx.lang))}</td>')


def _opt(ctx: Ctx, x) -> Markup:
    ok = x is not None and not (isinstance(x, float) and np.isnan(x))
    return Markup(f'<td class="n">{esc(ctx.pct(float(x)) if ok else "–")}</td>')
