"""Inline SVG charts drawn by our own code: no plotting library, no script, no network, so a
report stays one small file that prints and scales to a phone screen (viewBox + width:100%).

Each function takes arrays already computed (counts, shares, curves) and returns Markup."""

from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np

from linkage.reports.html import Markup, esc, fmt_num
from linkage.reports.strings import DEFAULT_LANG

W = 640  # viewBox width; the figure scales to its column
PALETTE = ("#4a7bd0", "#d0804a", "#3f9b5b", "#9b59b6", "#7f8c8d")
THRESHOLD_COLOUR = "#b3261e"
CHAR_W = 8.6  # rough width of one 14px label character, to size the label column


def _svg(height: float, body: str, label: str) -> Markup:
    return Markup(f'<svg viewBox="0 0 {W} {height:.0f}" role="img" '
                  f'aria-label="{esc(label)}"><title>{esc(label)}</title>{body}</svg>')


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """Round tick values covering [lo, hi] (1, 2, 5 x 10^k steps), so axis labels read easily."""
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / max(n, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    return [round(first + i * step, 10) for i in range(int((hi - first) / step + 1e-9) + 1)]


def _digits(ticks: Sequence[float]) -> int:
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    return max(0, -math.floor(math.log10(step) + 1e-9)) if step < 1 else 0


def _legend(names: Sequence[str], x: float, y: float) -> str:
    out, cx = [], x
    for i, name in enumerate(names):
        out.append(f'<rect x="{cx:.1f}" y="{y - 9:.1f}" width="10" height="10" fill="{PALETTE[i % len(PALETTE)]}"/>'
                   f'<text x="{cx + 14:.1f}" y="{y:.1f}" font-size="13">{esc(name)}</text>')
        cx += 14 + len(name) * CHAR_W * 0.93 + 16
    return "".join(out)


def hbar_chart(labels: Sequence[str], series: Sequence[tuple[str, Sequence[float]]], lang: str = DEFAULT_LANG,
               digits: int = 0, label: str = "", max_value: float | None = None,
               value_text: Callable[[float], str] | None = None) -> Markup:
    """Horizontal bars, one group per label and one bar per series (e.g. m and u per level).
    Labels sit on the left, values at the bar ends; long labels are cut with an ellipsis and kept
    whole in a tooltip."""
    n = len(labels)
    ns = max(len(series), 1)
    lw = min(W * 0.38, max((len(str(s)) for s in labels), default=4) * CHAR_W + 10)
    top = 24 if ns > 1 else 6
    bar_h, gap = 15, 9
    row_h = ns * bar_h + gap
    vmax = max_value if max_value is not None else max(
        (float(v) for _, vals in series for v in vals if v is not None and math.isfinite(float(v))), default=0.0)
    vmax = vmax or 1.0
    plot_w = W - lw - 80
    parts = [_legend([s for s, _ in series], lw, 14)] if ns > 1 else []
    max_chars = int((lw - 10) / CHAR_W)
    for i, lab in enumerate(labels):
        y0 = top + i * row_h
        text = str(lab) if len(str(lab)) <= max_chars else str(lab)[: max_chars - 1] + "…"
        parts.append(f'<text x="{lw - 6:.1f}" y="{y0 + ns * bar_h / 2 + 5:.1f}" font-size="14" text-anchor="end">'
                     f"<title>{esc(lab)}</title>{esc(text)}</text>")
        for j, (_name, vals) in enumerate(series):
            v = vals[i]
            v = 0.0 if v is None or not math.isfinite(float(v)) else float(v)
            w = max(0.0, min(1.0, v / vmax)) * plot_w
            y = y0 + j * bar_h
            parts.append(f'<rect x="{lw:.1f}" y="{y:.1f}" width="{max(w, 0.5):.1f}" height="{bar_h - 2}" '
                         f'fill="{PALETTE[j % len(PALETTE)]}"/>'
                         f'<text x="{lw + w + 4:.1f}" y="{y + bar_h - 4:.1f}" font-size="12">'
                         f"{esc(value_text(v) if value_text else fmt_num(v, lang, digits))}</text>")
    height = top + n * row_h + 4
    return _svg(height, "".join(parts), label)


def _axes(x0: float, y0: float, x1: float, y1: float, xt: Sequence[float], yt: Sequence[float],
          sx, sy, lang: str, x_label: str, y_label: str) -> str:
    """Frame, grid lines, tick labels and axis titles shared by the histogram and the line chart."""
    dx, dy = _digits(xt), _digits(yt)
    out = [f'<rect x="{x0}" y="{y1}" width="{x1 - x0}" height="{y0 - y1}" fill="none" stroke="#c9d1d9"/>']
    for v in yt:
        y = sy(v)
        out.append(f'<line x1="{x0}" x2="{x1}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eef1f4"/>'
                   f'<text x="{x0 - 5}" y="{y + 4:.1f}" font-size="12" text-anchor="end">{esc(fmt_num(v, lang, dy))}</text>')
    for v in xt:
        x = sx(v)
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y0}" y2="{y0 + 4}" stroke="#8c959f"/>'
                   f'<text x="{x:.1f}" y="{y0 + 17}" font-size="12" text-anchor="middle">{esc(fmt_num(v, lang, dx))}</text>')
    out.append(f'<text x="{(x0 + x1) / 2:.1f}" y="{y0 + 36}" font-size="14" text-anchor="middle">{esc(x_label)}</text>'
               f'<text x="14" y="{(y0 + y1) / 2:.1f}" font-size="14" text-anchor="middle" '
               f'transform="rotate(-90 14 {(y0 + y1) / 2:.1f})">{esc(y_label)}</text>')
    return "".join(out)


def _marker(x: float, y0: float, y1: float, text: str, x0: float, top: bool = True) -> str:
    """A dashed vertical line with its label on the left of it (right when too close to the
    axis), at the top or the bottom of the plot, where the data leave room."""
    anchor, tx = ("start", x + 4) if x < x0 + 120 else ("end", x - 4)
    ty = y1 + 14 if top else y0 - 6
    return (f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y1}" y2="{y0}" stroke="{THRESHOLD_COLOUR}" stroke-width="2" '
            f'stroke-dasharray="5 3"/><text x="{tx:.1f}" y="{ty}" font-size="14" fill="{THRESHOLD_COLOUR}" '
            f'text-anchor="{anchor}">{esc(text)}</text>')


def histogram(values: np.ndarray, lang: str = DEFAULT_LANG, bins: int = 20, value_range: tuple[float, float] = (0.0, 1.0),
              threshold: float | None = None, threshold_label: str = "", x_label: str = "", y_label: str = "",
              label: str = "") -> Markup:
    """Counts of values in equal bins with the decision threshold drawn as a dashed line, so the
    reader sees how many candidates sit just above or below it."""
    vals = np.asarray(values, dtype=float)
    vals = vals[np.isfinite(vals)]
    counts, edges = np.histogram(vals, bins=bins, range=value_range)
    x0, x1, y1, y0 = 60.0, W - 16.0, 24.0, 230.0
    yt = nice_ticks(0, float(max(counts.max(initial=0), 1)))
    ymax = yt[-1] or 1.0
    lo, hi = value_range

    def sx(v: float) -> float:
        return x0 + (v - lo) / (hi - lo) * (x1 - x0)

    def sy(v: float) -> float:
        return y0 - v / ymax * (y0 - y1)

    parts = [_axes(x0, y0, x1, y1, nice_ticks(lo, hi), yt, sx, sy, lang, x_label, y_label)]
    for c, a, b in zip(counts, edges[:-1], edges[1:]):
        if c:
            parts.append(f'<rect x="{sx(a) + 0.5:.1f}" y="{sy(c):.1f}" width="{max(sx(b) - sx(a) - 1, 0.5):.1f}" '
                         f'height="{y0 - sy(c):.1f}" fill="{PALETTE[0]}"><title>{esc(fmt_num(a, lang, 2))}–'
                         f'{esc(fmt_num(b, lang, 2))}: {esc(fmt_num(int(c), lang))}</title></rect>')
    if threshold is not None:
        parts.append(_marker(sx(threshold), y0, y1, threshold_label, x0))
    return _svg(y0 + 46, "".join(parts), label)


def _thin(xs: np.ndarray, ys: np.ndarray, most: int = 400) -> tuple[np.ndarray, np.ndarray]:
    if len(xs) <= most:
        return xs, ys
    idx = np.unique(np.linspace(0, len(xs) - 1, most).round().astype(int))
    return xs[idx], ys[idx]


def line_chart(series: Sequence[tuple[str, Sequence[float], Sequence[float]]], lang: str = DEFAULT_LANG,
               x_range: tuple[float, float] = (0.0, 1.0), y_range: tuple[float, float] = (0.0, 1.0),
               marker_x: float | None = None, marker_label: str = "", x_label: str = "", y_label: str = "",
               label: str = "") -> Markup:
    """Curves over a shared x axis (precision and recall against the threshold), with an optional
    vertical marker; long curves are thinned to a few hundred points to keep the file small."""
    x0, x1, y1, y0 = 60.0, W - 16.0, 30.0, 230.0
    lo, hi = x_range
    ylo, yhi = y_range

    def sx(v: float) -> float:
        return x0 + (v - lo) / ((hi - lo) or 1.0) * (x1 - x0)

    def sy(v: float) -> float:
        return y0 - (v - ylo) / ((yhi - ylo) or 1.0) * (y0 - y1)

    parts = [_axes(x0, y0, x1, y1, nice_ticks(lo, hi), nice_ticks(ylo, yhi), sx, sy, lang, x_label, y_label),
             _legend([s for s, _, _ in series], x0 + 6, 16)]
    for i, (_name, xs, ys) in enumerate(series):
        xa, ya = _thin(np.asarray(xs, dtype=float), np.asarray(ys, dtype=float))
        keep = np.isfinite(xa) & np.isfinite(ya)
        pts = " ".join(f"{sx(x):.1f},{sy(min(max(y, ylo), yhi)):.1f}" for x, y in zip(xa[keep], ya[keep]))
        if pts:
            parts.append(f'<polyline points="{pts}" fill="none" stroke="{PALETTE[i % len(PALETTE)]}" stroke-width="2"/>')
    if marker_x is not None:
        parts.append(_marker(sx(marker_x), y0, y1, marker_label, x0, top=False))
    return _svg(y0 + 46, "".join(parts), label)
