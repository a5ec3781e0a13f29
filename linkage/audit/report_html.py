"""report.html: one self-contained page (inline CSS, no script, no fonts, no network) a steward can
open anywhere. Examples show only the defective field's value, never a whole record; invisible
characters are made visible (⟨U+200B⟩) so a spacing or NFC defect can be seen."""

from __future__ import annotations

import html
import unicodedata

import pyarrow as pa
import pyarrow.compute as pc

from linkage.audit.rules import DIMENSION_NAMES, DIMENSIONS

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem;color:#1d2430;max-width:72rem}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ccd3dd;padding-bottom:.2rem}
h3{font-size:1rem;margin:1.2rem 0 .3rem}
table{border-collapse:collapse;margin:.4rem 0 1rem;font-size:.9rem}
th,td{border:1px solid #dde3ea;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f2f5f8}td.n{text-align:right;font-variant-numeric:tabular-nums}
code{background:#f6f8fa;padding:0 .2rem;white-space:pre-wrap;word-break:break-all}
.bar{display:inline-block;height:.7rem;background:#4a7bd0;vertical-align:middle}
.barbg{display:inline-block;width:8rem;height:.7rem;background:#e6ebf1;vertical-align:middle;margin-right:.4rem}
.error{color:#b3261e;font-weight:600}.warning{color:#9a6700}.info{color:#57606a}
.muted{color:#57606a;font-size:.85rem}.zero{color:#8c959f}
.mark{color:#b3261e;font-weight:600}
"""


def visible(value: object) -> str:
    """Escaped text with invisible, space-like and combining characters shown as ⟨U+XXXX⟩
    (edge and doubled spaces as ⟨ ⟩) so the defect is visible."""
    if value is None:
        return '<span class="muted">(empty)</span>'
    s = str(value)
    out = []
    for i, ch in enumerate(s):
        cat = unicodedata.category(ch)
        if ch == " " and (i == 0 or i == len(s) - 1 or s[i - 1] == " "):
            out.append('<span class="mark">⟨ ⟩</span>')
        elif cat in ("Cc", "Cf", "Zs", "Zl", "Zp", "Mn") and ch != " ":
            out.append(f'<span class="mark">⟨U+{ord(ch):04X}⟩</span>')
        else:
            out.append(html.escape(ch))
    return "".join(out)


def _bar(share: float | None) -> str:
    if share is None:
        return '<span class="muted">-</span>'
    w = max(0.0, min(1.0, share)) * 8
    return f'<span class="barbg"><span class="bar" style="width:{w:.2f}rem"></span></span>{share:.1%}'


def _n(x) -> str:
    return f'<td class="n{" zero" if not x else ""}">{x:,}</td>' if isinstance(x, int) else f'<td class="n">{x}</td>'


def _rows(table: pa.Table) -> list[dict]:
    return table.to_pylist()


def render(meta: dict, summary: pa.Table, issues: pa.Table, overview: dict | None, examples: int) -> str:
    e = html.escape
    parts = [f"<!doctype html><html lang=\"vi\"><head><meta charset=\"utf-8\">"
             f"<title>Data-quality audit: {e(meta['source'])}</title><style>{CSS}</style></head><body>"]
    parts.append(f"<h1>Data-quality audit: {e(meta['source'])}</h1>")
    parts.append(
        f"<p>File <code>{e(meta['path'])}</code> · reference date {e(meta['reference_date'])} · "
        f"rules <code>{e(meta['rules_file'])}</code> (sha256 {e(meta['rules_sha256'][:12])})</p>")
    parts.append("<table><tr><th>rows read</th><th>accepted</th><th>rejected at ingestion</th><th>issues</th>"
                 "<th>records with an issue</th></tr><tr>"
                 + _n(meta["rows_read"]) + _n(meta["rows_accepted"]) + _n(meta["rows_quarantined"])
                 + _n(meta["issues"]) + _n(meta["records_with_issues"]) + "</tr></table>")
    for note in meta.get("notes", []):
        parts.append(f'<p class="muted">note: {e(note)}</p>')

    rule_rows = [r for r in _rows(summary) if r["section"] == "rule"]
    parts.append("<h2>By dimension</h2><table><tr><th>dimension</th><th>error</th><th>warning</th><th>info</th></tr>")
    for dim in DIMENSIONS:
        cells = [sum(r["issues"] for r in rule_rows if r["dimension"] == dim and r["severity"] == sev)
                 for sev in ("error", "warning", "info")]
        parts.append(f"<tr><td>{e(DIMENSION_NAMES[dim])}</td>" + "".join(_n(c) for c in cells) + "</tr>")
    parts.append("</table>")

    if overview is not None:
        parts.append(_overview(overview))

    parts.append("<h2>Fields: completeness and validity</h2>"
                 '<p class="muted">completeness = records with a real value (not empty, not a placeholder); '
                 "validity = of those, the share with no đúng (correctness) issue on the field.</p>"
                 "<table><tr><th>field</th><th>filled</th><th>completeness</th><th>invalid</th><th>validity</th>"
                 "<th>issues (all rules)</th></tr>")
    for r in _rows(summary):
        if r["section"] != "field":
            continue
        parts.append(f"<tr><td>{e(r['field'])}</td>{_n(r['filled'])}<td>{_bar(r['completeness'])}</td>"
                     f"{_n(r['invalid'])}<td>{_bar(r['validity'])}</td>{_n(r['issues'])}</tr>")
    parts.append("</table>")

    parts.append("<h2>Rules</h2><table><tr><th>rule</th><th>dimension</th><th>severity</th><th>safe fix</th>"
                 "<th>issues</th><th>records</th><th>description</th></tr>")
    for r in rule_rows:
        note = "" if r["checked"] else ' <span class="muted">(not checked)</span>'
        parts.append(
            f"<tr><td><code>{e(r['rule'])}</code></td><td>{e(r['dimension'])}</td>"
            f"<td class=\"{e(r['severity'])}\">{e(r['severity'])}</td><td>{'yes' if meta['safe'].get(r['rule']) else ''}"
            f"</td>{_n(r['issues'])}{_n(r['records'])}<td>{e(r['description'])}{note}</td></tr>")
    parts.append("</table>")

    parts.append(f"<h2>Examples</h2><p class=\"muted\">The first {examples} issues of each rule, in file order: "
                 "the field's value only.</p>")
    for r in rule_rows:
        if not r["issues"] or examples == 0:
            continue
        sub = issues.filter(pc.equal(issues.column("rule"), r["rule"])).slice(0, examples)
        parts.append(f"<h3><code>{e(r['rule'])}</code> · {r['issues']:,}</h3><table><tr><th>record</th><th>row</th>"
                     "<th>field</th><th>value</th><th>suggestion</th></tr>")
        for x in sub.to_pylist():
            parts.append(f"<tr><td>{e(str(x['record_id'] or ''))}</td>{_n(x['row'])}<td>{e(x['field'] or '')}</td>"
                         f"<td><code>{visible(x['value'])}</code></td><td>{e(x['suggestion'] or '')}</td></tr>")
        parts.append("</table>")

    if meta.get("quarantine_reasons"):
        parts.append("<h2>Rejected at ingestion</h2><table><tr><th>reason</th><th>problems</th></tr>")
        for reason, count in meta["quarantine_reasons"].items():
            parts.append(f"<tr><td>{e(reason)}</td>{_n(count)}</tr>")
        parts.append("</table><p class=\"muted\">Each is also a row of issues.parquet (rules ingest.*).</p>")
    parts.append("</body></html>\n")
    return "".join(parts)


def _overview(o: dict) -> str:
    e = html.escape

    def table(title: str, counts: dict) -> str:
        rows = "".join(f"<tr><td>{e(str(k))}</td>{_n(v)}</tr>" for k, v in counts.items())
        return f"<h3>{e(title)}</h3><table>{rows}</table>"

    linked = o["linked_to_deceased"]
    review = {
        "over the review age": o["over_review_age"],
        "linked to a deceased resident": linked if linked is not None else "not checked (no --residents)",
        "records in probable duplicate groups": o["duplicate_records"],
        "probable duplicate groups": o["duplicate_groups"],
    }
    return ("<h2>Wanted list overview</h2>" + f"<p>{o['records']:,} records</p>"
            + table("By danger level", o["danger_level"])
            + table("Id number", o["id_number"])
            + table("Birth date known to the", o["birth_date_precision"])
            + table("Review and duplicates", review))
