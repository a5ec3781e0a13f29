"""The waterfall of one pair's score: the prior, then each comparison's contribution (match weight
bits) as a bar starting where the previous one ended, then the total. Server-rendered SVG in the
reports' house style (linkage/reports/charts.py): no script, no inline style, scales to its column."""

from __future__ import annotations

from collections.abc import Sequence

from linkage.reports.charts import CHAR_W, W, _svg, nice_ticks
from linkage.reports.html import Markup, esc, fmt_num

POS, NEG, TOTAL, GRID = "#3f9b5b", "#b3261e", "#4a7bd0", "#dde3ea"


def waterfall(prior: float, steps: Sequence[tuple[str, float]], total_label: str, prior_label: str,
              lang: str = "vi", label: str = "") -> Markup:
    """prior + steps = total; steps with no contribution are left out by the caller or drawn thin."""
    rows: list[tuple[str, float, float, str]] = [(prior_label, 0.0, prior, TOTAL)]
    acc = prior
    for name, v in steps:
        rows.append((name, acc, acc + v, POS if v >= 0 else NEG))
        acc += v
    rows.append((total_label, 0.0, acc, TOTAL))
    lo = min(0.0, *(min(a, b) for _, a, b, _ in rows))
    hi = max(0.0, *(max(a, b) for _, a, b, _ in rows))
    ticks = nice_ticks(lo, hi, 6)
    lo, hi = min(lo, ticks[0]), max(hi, ticks[-1])
    lw = min(W * 0.34, max(len(r[0]) for r in rows) * CHAR_W + 10)
    x0, x1 = lw + 8, W - 56
    sx = lambda v: x0 + (v - lo) / (hi - lo or 1.0) * (x1 - x0)  # noqa: E731
    bar_h, gap, top = 16, 6, 8
    height = top + len(rows) * (bar_h + gap) + 26
    bottom = top + len(rows) * (bar_h + gap)
    parts = []
    for tv in ticks:
        x = sx(tv)
        parts.append(f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{bottom:.1f}" stroke="{GRID}"/>'
                     f'<text x="{x:.1f}" y="{bottom + 16:.1f}" font-size="12" text-anchor="middle">'
                     f'{esc(fmt_num(tv, lang, 0))}</text>')
    zero = sx(0.0)
    parts.append(f'<line x1="{zero:.1f}" y1="{top - 4}" x2="{zero:.1f}" y2="{bottom:.1f}" stroke="#57606a"/>')
    for i, (name, a, b, colour) in enumerate(rows):
        y = top + i * (bar_h + gap)
        xa, xb = sorted((sx(a), sx(b)))
        value = b - a if i not in (0, len(rows) - 1) else b
        sign = "+" if value > 0 and 0 < i < len(rows) - 1 else ""
        parts.append(f'<text x="{lw:.1f}" y="{y + bar_h - 3:.1f}" font-size="13" text-anchor="end">{esc(name)}</text>'
                     f'<rect x="{xa:.1f}" y="{y:.1f}" width="{max(xb - xa, 1.0):.1f}" height="{bar_h}" fill="{colour}">'
                     f'<title>{esc(name)}: {esc(sign + fmt_num(value, lang, 2))}</title></rect>'
                     f'<text x="{xb + 4:.1f}" y="{y + bar_h - 3:.1f}" font-size="12">{esc(sign + fmt_num(value, lang, 1))}</text>')
        if 0 < i < len(rows) - 1:  # the connector to the next bar
            parts.append(f'<line x1="{sx(b):.1f}" y1="{y + bar_h:.1f}" x2="{sx(b):.1f}" y2="{y + bar_h + gap:.1f}" '
                         f'stroke="#8c959f"/>')
    return _svg(height, "".join(parts), label)
