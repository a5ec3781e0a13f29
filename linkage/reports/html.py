"""The one HTML helper every report uses (run report, audit report, and later the review pages).

A page is one self-contained file: inline CSS, no script, no web font, no network, so it opens
offline, on a phone and on paper alike. Text is escaped here and only here; markup that is
already safe travels as `Markup`. Numbers and dates follow the language's convention, taken
from the string catalogue (vi: 1.234,5 and dd/mm/yyyy; en: 1,234.5 and yyyy-mm-dd)."""

from __future__ import annotations

import html as _html
import math
from datetime import date, datetime
from typing import Iterable, Sequence

from linkage.reports.strings import DEFAULT_LANG, check_lang, t

# Fonts with full Vietnamese coverage first: stacked diacritics (ặ, ỗ, ữ) need a font that has the
# precomposed glyphs; a monospace fallback would also widen the values, so none is used for text.
FONT_STACK = 'system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", Arial, sans-serif'

CSS = f"""
*{{box-sizing:border-box}}
html{{-webkit-text-size-adjust:100%;text-size-adjust:100%}}
body{{font-family:{FONT_STACK};line-height:1.5;margin:0 auto;padding:1rem;max-width:72rem;color:#1d2430;
background:#fff;overflow-wrap:break-word}}
h1{{font-size:1.5rem;line-height:1.3;margin:.5rem 0}}
h2{{font-size:1.2rem;margin:2rem 0 .5rem;border-bottom:1px solid #ccd3dd;padding-bottom:.2rem}}
h3{{font-size:1rem;margin:1.2rem 0 .3rem}}
p{{margin:.4rem 0}}
.scroll{{overflow-x:auto;-webkit-overflow-scrolling:touch;max-width:100%;margin:.4rem 0 1rem}}
table{{border-collapse:collapse;font-size:.9rem}}
th,td{{border:1px solid #dde3ea;padding:.25rem .5rem;text-align:left;vertical-align:top}}
th{{background:#f2f5f8;font-weight:600}}
td.n,th.n{{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}}
td.v{{white-space:normal;overflow-wrap:break-word;min-width:8rem}}
td.wide{{min-width:16rem}}
.code{{background:#f6f8fa;padding:0 .2rem;border-radius:3px;white-space:nowrap}}
.path{{background:#f6f8fa;padding:0 .2rem;border-radius:3px;overflow-wrap:anywhere}}
.nowrap{{white-space:nowrap}}
.bar{{display:inline-block;height:.7rem;background:#4a7bd0;vertical-align:middle}}
.barbg{{display:inline-block;width:6rem;height:.7rem;background:#e6ebf1;vertical-align:middle;margin-right:.4rem}}
.error{{color:#b3261e;font-weight:600}}.warning{{color:#9a6700}}.info{{color:#57606a}}
.muted{{color:#57606a;font-size:.85rem}}.zero{{color:#8c959f}}
.mark{{color:#b3261e;font-weight:600}}
.ok{{color:#1a7f37;font-weight:600}}.bad{{color:#b3261e;font-weight:600}}
.note{{background:#fff8e1;border-left:4px solid #d4a72c;padding:.4rem .7rem;margin:.6rem 0}}
.kpis{{display:flex;flex-wrap:wrap;gap:.6rem;margin:.6rem 0}}
.kpi{{border:1px solid #dde3ea;border-radius:6px;padding:.4rem .7rem;min-width:9rem}}
.kpi b{{display:block;font-size:1.2rem;font-variant-numeric:tabular-nums}}
.chart{{margin:.6rem 0 1rem;max-width:46rem}}
.chart svg{{width:100%;height:auto;display:block}}
.chart figcaption{{font-size:.85rem;color:#57606a}}
svg text{{font-family:{FONT_STACK}}}
nav.toc{{font-size:.9rem;margin:.6rem 0}} nav.toc a{{margin-right:.8rem;white-space:nowrap}}
details{{margin:.4rem 0}} summary{{cursor:pointer}}
@media (max-width:40rem){{body{{padding:.6rem}}h1{{font-size:1.25rem}}table{{font-size:.85rem}}
.chart{{overflow-x:auto;-webkit-overflow-scrolling:touch}}.chart svg{{min-width:34rem}}}}
@media print{{body{{max-width:none;padding:0;font-size:10pt}}nav.toc{{display:none}}
.scroll{{overflow:visible}}h2{{break-after:avoid}}table,figure,.kpis{{break-inside:avoid}}
a{{color:inherit;text-decoration:none}}}}
"""


class Markup(str):
    """Text that is already HTML (built by these helpers), so it is not escaped twice."""


def esc(value: object) -> Markup:
    """Escape anything for HTML text or an attribute value; Markup passes through."""
    if isinstance(value, Markup):
        return value
    return Markup(_html.escape("" if value is None else str(value), quote=True))


def _group(digits: str, sep: str) -> str:
    head = len(digits) % 3 or 3
    return sep.join([digits[:head]] + [digits[i:i + 3] for i in range(head, len(digits), 3)])


def fmt_num(x: float | int | None, lang: str = DEFAULT_LANG, digits: int = 0) -> str:
    """A number with the language's thousands and decimal separators (vi 1.234,5; en 1,234.5);
    None or NaN shows as a dash rather than "nan"."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    v = round(float(x), digits)
    whole, _, frac = f"{abs(v):.{digits}f}".partition(".")
    out = _group(whole, t("fmt.thousands", lang))
    if frac:
        out += t("fmt.decimal", lang) + frac
    return ("-" if v < 0 else "") + out


def fmt_sig(x: float | None, lang: str = DEFAULT_LANG, sig: int = 3) -> str:
    """A probability that may be tiny (u = 0.0000013) with `sig` significant digits and no exponent,
    so m and u stay comparable at a glance."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    v = float(x)
    if v == 0:
        return fmt_num(0, lang)
    digits = max(0, min(10, sig - 1 - math.floor(math.log10(abs(v)))))
    text = fmt_num(v, lang, digits)
    dec = t("fmt.decimal", lang)
    return text.rstrip("0").rstrip(dec) if dec in text else text


def fmt_int(x: int | None, lang: str = DEFAULT_LANG) -> str:
    """A count, grouped by thousands."""
    return fmt_num(x, lang, 0)


def fmt_pct(share: float | None, lang: str = DEFAULT_LANG, digits: int = 1) -> str:
    """A share 0..1 as a percentage (vi 12,5 %; en 12.5%)."""
    if share is None or (isinstance(share, float) and not math.isfinite(share)):
        return "–"
    return t("fmt.percent", lang, value=fmt_num(share * 100, lang, digits))


def fmt_date(value: date | datetime | str | None, lang: str = DEFAULT_LANG) -> str:
    """A date in the language's order (vi dd/mm/yyyy); an ISO string is parsed, anything else shown as is."""
    if value is None or value == "":
        return "–"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    d = value.date() if isinstance(value, datetime) else value
    return d.strftime(t("fmt.date", lang))


def fmt_datetime(value: datetime | str | None, lang: str = DEFAULT_LANG) -> str:
    """A timestamp as date and hh:mm (UTC as recorded)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if value is None:
        return "–"
    return f"{fmt_date(value, lang)} {value.strftime('%H:%M')}"


def num_cell(x: float | int | None, lang: str = DEFAULT_LANG, digits: int = 0) -> Markup:
    """A right-aligned numeric cell; zero is greyed so the eye finds the non-zero counts."""
    zero = " zero" if x == 0 else ""
    return Markup(f'<td class="n{zero}">{esc(fmt_num(x, lang, digits))}</td>')


def share_bar(share: float | None, lang: str = DEFAULT_LANG) -> Markup:
    """A small inline bar and its percentage, for shares in tables."""
    if share is None:
        return Markup('<span class="muted">–</span>')
    w = max(0.0, min(1.0, float(share))) * 6
    return Markup(f'<span class="barbg"><span class="bar" style="width:{w:.2f}rem"></span></span>'
                  f"{esc(fmt_pct(share, lang))}")


def code(text: object) -> Markup:
    """An identifier (rule id, column name) set apart, in the body font, kept on one line."""
    return Markup(f'<span class="code">{esc(text)}</span>')


def path_text(text: object) -> Markup:
    """A file path: may break anywhere (last resort) so a long path never widens a phone screen."""
    return Markup(f'<span class="path">{esc(text)}</span>')


def table(headers: Sequence[object], rows: Iterable[Sequence[object]], numeric: Iterable[int] = (),
          lang: str = DEFAULT_LANG, digits: dict[int, int] | None = None, wide: Iterable[int] = ()) -> Markup:
    """A table in a horizontal scroll wrapper (phones scroll the table, not the page). Cells in
    `numeric` columns are formatted numbers unless already Markup; a Markup cell that starts with
    <td is used as the whole cell."""
    numeric, wide, digits = set(numeric), set(wide), digits or {}
    head = "".join(f'<th{" class=n" if i in numeric else ""}>{esc(h)}</th>' for i, h in enumerate(headers))
    body = []
    for row in rows:
        cells = []
        for i, v in enumerate(row):
            if isinstance(v, Markup) and v.startswith("<td"):
                cells.append(v)
            elif i in numeric and not isinstance(v, Markup) and (v is None or isinstance(v, (int, float))):
                cells.append(num_cell(v, lang, digits.get(i, 0)))
            else:
                cls = ' class="v wide"' if i in wide else ' class="v"'
                cells.append(f"<td{cls}>{esc(v)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return Markup(f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody>'
                  "</table></div>")


def kpis(items: Iterable[tuple[object, object]]) -> Markup:
    """A row of headline figures (label, value) that wraps on a narrow screen."""
    return Markup('<div class="kpis">' + "".join(
        f'<div class="kpi"><span class="muted">{esc(k)}</span><b>{esc(v)}</b></div>' for k, v in items) + "</div>")


def para(text: object, cls: str | None = None) -> Markup:
    """One paragraph (escaped)."""
    attr = f' class="{esc(cls)}"' if cls else ""
    return Markup(f"<p{attr}>{esc(text)}</p>")


def note(text: object) -> Markup:
    """A highlighted remark the reader should not miss (missing table, training warnings)."""
    return Markup(f'<div class="note">{esc(text)}</div>')


def bullets(items: Iterable[object]) -> Markup:
    """A bulleted list."""
    return Markup("<ul>" + "".join(f"<li>{esc(i)}</li>" for i in items) + "</ul>")


def details(summary: object, body: object) -> Markup:
    """A collapsible detail block (works without script; printed open by browsers that print details)."""
    return Markup(f"<details><summary>{esc(summary)}</summary>{esc(body)}</details>")


def figure(svg: Markup, caption: object | None = None) -> Markup:
    """A chart with an optional caption; the SVG scales to the column width."""
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return Markup(f'<figure class="chart">{svg}{cap}</figure>')


def section(sid: str, title: object, *parts: object) -> Markup:
    """A report section with a stable id (links and tests rely on it)."""
    return Markup(f'<section id="{esc(sid)}"><h2>{esc(title)}</h2>{"".join(esc(p) for p in parts)}</section>')


def toc(entries: Iterable[tuple[str, object]]) -> Markup:
    """Links to the sections, hidden in print."""
    return Markup('<nav class="toc">' + "".join(f'<a href="#{esc(i)}">{esc(x)}</a>' for i, x in entries) + "</nav>")


def page(title: object, body: Iterable[object] | object, lang: str = DEFAULT_LANG) -> str:
    """The whole document: doctype, language, charset, viewport, inline CSS, the body."""
    check_lang(lang)
    content = "".join(esc(b) for b in body) if not isinstance(body, (str, Markup)) else esc(body)
    return ("<!doctype html>\n"
            f'<html lang="{esc(lang)}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(title)}</title><style>{CSS}</style></head>"
            f"<body><h1>{esc(title)}</h1>{content}</body></html>\n")
