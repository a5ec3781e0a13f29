"""report.html of `linkage audit`: one self-contained page (the shared helper: inline CSS, no
script, no fonts, no network) a steward can open anywhere, in Vietnamese by default or English.
Examples show only the defective field's value, never a whole record; invisible characters are
made visible (⟨U+200B⟩) so a spacing or NFC defect can be seen. Fields are named as the file's own
header when it differs from the canonical column ("Họ và tên (full_name)")."""

from __future__ import annotations

import unicodedata

import pyarrow as pa
import pyarrow.compute as pc

from linkage.audit.rules import DIMENSIONS
from linkage.reports.html import (Markup, code, esc, fmt_date, fmt_int, kpis, page, para, path_text, section,
                                  share_bar, table, toc)
from linkage.reports.strings import DEFAULT_LANG, has, t

SECTIONS = ("summary", "dimensions", "overview", "fields", "rules", "examples", "rejected")
# The overview's labels (linkage.audit.overview) -> catalogue keys.
OVERVIEW_LABELS = {
    "(empty)": "common.empty", "(other value)": "audit.ov.other_value", "with id": "audit.ov.with_id",
    "without id": "audit.ov.without_id", "12-digit personal id": "audit.ov.personal_id",
    "9-digit CMND": "audit.ov.cmnd", "invalid number": "audit.ov.invalid_id", "day": "audit.ov.day",
    "month": "audit.ov.month", "year": "audit.ov.year",
}


def visible(value: object, lang: str = DEFAULT_LANG) -> Markup:
    """Escaped text with invisible, space-like and combining characters shown as ⟨U+XXXX⟩
    (edge and doubled spaces as ⟨ ⟩) so the defect is visible."""
    if value is None:
        return Markup(f'<span class="muted">{esc(t("common.empty", lang))}</span>')
    s = str(value)
    out = []
    for i, ch in enumerate(s):
        cat = unicodedata.category(ch)
        if ch == " " and (i == 0 or i == len(s) - 1 or s[i - 1] == " "):
            out.append('<span class="mark">⟨ ⟩</span>')
        elif cat in ("Cc", "Cf", "Zs", "Zl", "Zp", "Mn") and ch != " ":
            out.append(f'<span class="mark">⟨U+{ord(ch):04X}⟩</span>')
        else:
            out.append(esc(ch))
    return Markup("".join(out))


def field_label(field: str | None, headers: dict[str, str] | None) -> str:
    """The file's own header with the canonical name after it when they differ."""
    if not field:
        return ""
    header = (headers or {}).get(field)
    return f"{header} ({field})" if header and header != field else field


def _td(markup: Markup, cls: str = "v") -> Markup:
    return Markup(f'<td class="{cls}">{markup}</td>')


def render(meta: dict, summary: pa.Table, issues: pa.Table, overview: dict | None, examples: int,
           lang: str = DEFAULT_LANG, headers: dict[str, str] | None = None, close_cases=None) -> str:
    """The whole page. `headers` maps canonical column -> the header in the file (the ingest
    report's mapped_columns). `close_cases`: a linkage.audit.cases.CasesResult (when the audit is
    given a matches file), listed in a section of its own."""
    def tr(key: str, **fmt) -> str:
        return t(key, lang, **fmt)

    title = tr("audit.title", source=tr(f"source.{meta['source']}") if has(f"source.{meta['source']}", lang)
               else meta["source"])
    head = [Markup("<p>" + esc(tr("audit.file")) + " " + path_text(meta["path"]) + " · "
                   + esc(tr("audit.reference_date", date=fmt_date(meta["reference_date"], lang))) + " · "
                   + esc(tr("audit.rules_file")) + " " + path_text(meta["rules_file"])
                   + f" (sha256 {esc(meta['rules_sha256'][:12])})</p>"),
            toc((s, tr(f"audit.{s}.title")) for s in SECTIONS
                if (s != "overview" or overview is not None) and (s != "rejected" or meta.get("quarantine_reasons")))]

    counts = [(tr("audit.summary.read"), meta["rows_read"]), (tr("audit.summary.accepted"), meta["rows_accepted"]),
              (tr("audit.summary.rejected"), meta["rows_quarantined"]), (tr("audit.summary.issues"), meta["issues"]),
              (tr("audit.summary.records"), meta["records_with_issues"])]
    parts = [section("summary", tr("audit.summary.title"),
                     table([k for k, _ in counts], [[v for _, v in counts]], numeric=range(len(counts)), lang=lang),
                     *[para(tr("audit.summary.note", text=n), "muted") for n in meta.get("notes", [])])]

    rows = [r for r in summary.to_pylist() if r["section"] == "rule"]
    dims = [[tr(f"audit.dimension.{d}")] + [sum(r["issues"] for r in rows if r["dimension"] == d and r["severity"] == sev)
                                            for sev in ("error", "warning", "info")] for d in DIMENSIONS]
    parts.append(section("dimensions", tr("audit.dimensions.title"),
                         table([tr("audit.dimensions.dimension"), tr("audit.severity.error"), tr("audit.severity.warning"),
                                tr("audit.severity.info")], dims, numeric=(1, 2, 3), lang=lang)))
    if overview is not None:
        parts.append(_overview(overview, lang))

    fields = [[field_label(r["field"], headers), r["filled"], _td(share_bar(r["completeness"], lang)), r["invalid"],
               _td(share_bar(r["validity"], lang)), r["issues"]] for r in summary.to_pylist() if r["section"] == "field"]
    parts.append(section("fields", tr("audit.fields.title"), para(tr("audit.fields.intro"), "muted"),
                         table([tr("audit.fields.field"), tr("audit.fields.filled"), tr("audit.fields.completeness"),
                                tr("audit.fields.invalid"), tr("audit.fields.validity"), tr("audit.fields.issues")],
                               fields, numeric=(1, 3, 5), lang=lang)))

    rule_rows = []
    for r in rows:
        desc = esc(r["description"]) + (Markup(f' <span class="muted">({esc(tr("audit.rules.unchecked"))})</span>')
                                        if not r["checked"] else Markup(""))
        rule_rows.append([code(r["rule"]), tr(f"audit.dimension.{r['dimension']}") if has(f"audit.dimension.{r['dimension']}", lang)
                          else r["dimension"],
                          _td(esc(tr(f"audit.severity.{r['severity']}")), f"{r['severity']} nowrap"),
                          tr("common.affirm") if meta["safe"].get(r["rule"]) else "", r["issues"], r["records"],
                          _td(desc, "v wide")])
    parts.append(section("rules", tr("audit.rules.title"),
                         table([tr("audit.rules.rule"), tr("audit.dimensions.dimension"), tr("audit.rules.severity"),
                                tr("audit.rules.safe_fix"), tr("audit.rules.issues"), tr("audit.rules.records"),
                                tr("audit.rules.description")], rule_rows, numeric=(4, 5), lang=lang),
                         para(tr("audit.rules.description_lang"), "muted") if lang != "en" else Markup("")))

    ex = [para(tr("audit.examples.intro", n=examples), "muted")]
    for r in rows:
        if not r["issues"] or examples == 0:
            continue
        sub = issues.filter(pc.equal(issues.column("rule"), r["rule"])).slice(0, examples)
        ex.append(Markup(f"<h3>{code(r['rule'])} · {esc(tr('audit.examples.count', n=_n(r['issues'], lang)))}</h3>"))
        ex.append(table([tr("audit.examples.record"), tr("audit.examples.row"), tr("audit.examples.field"),
                         tr("audit.examples.value"), tr("audit.examples.suggestion")],
                        [[str(x["record_id"] or ""), x["row"], field_label(x["field"], headers),
                          _td(visible(x["value"], lang), "v wide"), x["suggestion"] or ""] for x in sub.to_pylist()],
                        numeric=(1,), lang=lang))
    parts.append(section("examples", tr("audit.examples.title"), *ex))

    if meta.get("quarantine_reasons"):
        parts.append(section("rejected", tr("audit.rejected.title"),
                             table([tr("audit.rejected.reason"), tr("audit.rejected.problems")],
                                   [[code(k), v] for k, v in meta["quarantine_reasons"].items()], numeric=(1,), lang=lang),
                             para(tr("audit.rejected.note"), "muted")))
    if close_cases is not None:
        parts.append(close_cases_section(close_cases, lang))
    return page(title, [*head, *parts], lang)


def close_cases_section(result, lang: str = DEFAULT_LANG) -> Markup:
    """Wanted persons whose best candidate is deceased or over the age limit, with the evidence."""
    age = result.over_age
    cols = ["wanted_id", "person_id", "reason", "match_probability", "age", "current_full_name", "explanation"]
    reasons = {"deceased": t("cases.reason.deceased", lang), "over_age": t("cases.reason.over_age", lang, age=age)}
    rows = [[r["wanted_id"], r["person_id"], ", ".join(reasons.get(x, x) for x in r["reason"].split("|")),
             r["match_probability"], "" if r["age"] is None or r["age"] != r["age"] else int(r["age"]),
             r["current_full_name"] or "", r["explanation"] or ""]
            for r in result.cases.to_dict("records")]
    body = (table([t(f"cases.column.{c}", lang) for c in cols], rows, numeric=(3,), lang=lang,
                  digits={3: 3}, wide=(6,)) if rows else para(t("cases.none", lang), "muted"))
    return section("close_cases", t("cases.section_title", lang),
                   para(t("cases.section_intro", lang, threshold=result.threshold, age=age), "muted"), body)


def _n(x: int, lang: str) -> str:
    return fmt_int(x, lang)


def _label(key: object, lang: str) -> str:
    k = OVERVIEW_LABELS.get(str(key))
    return t(k, lang) if k else str(key)


def _overview(o: dict, lang: str) -> Markup:
    """The wanted list's findability: danger levels, ids, birth-date precision, review and duplicates."""
    def block(title_key: str, counts: dict) -> list[Markup]:
        return [Markup(f"<h3>{esc(t(title_key, lang))}</h3>"),
                table([t("audit.ov.value", lang), t("audit.ov.records", lang)],
                      [[_label(k, lang), v] for k, v in counts.items()], numeric=(1,), lang=lang)]

    linked = o["linked_to_deceased"]
    review = {
        t("audit.ov.over_age", lang): o["over_review_age"],
        t("audit.ov.deceased", lang): linked if linked is not None else t("audit.ov.not_checked", lang),
        t("audit.ov.dup_records", lang): o["duplicate_records"],
        t("audit.ov.dup_groups", lang): o["duplicate_groups"],
        t("audit.ov.dup_method", lang): t("audit.ov.dup_by_dedupe" if o.get("duplicates_by_dedupe") else "audit.ov.dup_by_keys", lang),
    }
    return section("overview", t("audit.overview.title", lang),
                   kpis([(t("audit.ov.records", lang), _n(o["records"], lang))]),
                   *block("audit.ov.danger", o["danger_level"]), *block("audit.ov.id_number", o["id_number"]),
                   *block("audit.ov.birth_date", o["birth_date_precision"]), *block("audit.ov.review", review))
