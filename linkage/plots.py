"""Accuracy pictures for `linkage evaluate --plot DIR`: the precision-recall curve over the
match_probability threshold, the score histogram of true and false candidate pairs, and recall
per scenario label. PNG files, written atomically (temporary name, then rename).

The curve and histogram are computed from the same pairs `linkage.evaluate` counts, so the point
marked on the curve is the one `evaluate` prints for the threshold.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from linkage.errors import InputError
from linkage.evaluate import (
    Evaluation,
    calibration_table,
    evaluate,
    expected_calibration_error,
    judged_probabilities,
    open_judged,
)

FILES = {"pr": "precision_recall.png", "hist": "score_histogram.png", "scenarios": "recall_by_scenario.png",
         "calibration": "calibration.png"}


def labelled_pairs(truth_path: Path, matches_path: Path) -> tuple[pd.DataFrame, int]:
    """Every judged candidate (of a wanted id the truth covers, as `evaluate` counts them) with its
    score and whether it is the true pair; and the number of true pairs.

    The score is match_weight when the file has it, else the log-odds of match_probability (a
    peer's file), so true and false pairs separate on an unbounded axis. The files are checked as
    `evaluate` checks them: a wrong file is named with the columns it lacks."""
    con = duckdb.connect()
    try:
        cols = open_judged(con, Path(truth_path), Path(matches_path))
        weight = "match_weight" if "match_weight" in cols else (
            "log2(greatest(match_probability, 1e-12) / greatest(1 - match_probability, 1e-12))")
        pairs = con.execute(f"SELECT match_probability, {weight} AS score, is_true FROM judged").df()
        n_true = con.execute("SELECT count(person_id) FROM truth").fetchone()[0]
    except duckdb.Error as exc:
        raise InputError(f"cannot read {truth_path} / {matches_path}: {exc}") from None
    finally:
        con.close()
    return pairs, int(n_true)


def pr_curve(pairs: pd.DataFrame, n_true: int) -> pd.DataFrame:
    """Precision and recall at every distinct match_probability threshold (predicted: p >= t)."""
    p = pairs["match_probability"].to_numpy(dtype=float)
    hit = pairs["is_true"].to_numpy(dtype=bool)
    order = np.argsort(-p, kind="stable")
    p, hit = p[order], hit[order]
    tp = np.cumsum(hit)
    predicted = np.arange(1, len(p) + 1)
    last = np.r_[p[1:] != p[:-1], True]  # one point per distinct threshold: all ties included
    return pd.DataFrame({
        "threshold": p[last],
        "precision": tp[last] / predicted[last],
        "recall": tp[last] / n_true if n_true else np.zeros(last.sum()),
    })


def _save(fig, path: Path) -> Path:
    tmp = path.parent / f".{path.stem}.tmp.png"
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    os.replace(tmp, path)
    return path


def _plot_pr(curve: pd.DataFrame, ev: Evaluation, title: str, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.step(curve["recall"], curve["precision"], where="post", color="tab:blue")
    ax.plot([ev.recall], [ev.precision], "o", color="tab:red",
            label=f"threshold {ev.threshold:g}: P {ev.precision:.3f}, R {ev.recall:.3f}")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    lo = min(0.9, float(curve["precision"].min()) if len(curve) else 0.9, ev.precision) - 0.01
    ax.set_ylim(max(lo, 0.0), 1.005)
    ax.set_xlim(max(min(0.9, float(curve["recall"].min()) if len(curve) else 0.9) - 0.01, 0.0), 1.005)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left")
    ax.set_title(f"Precision-recall over the match_probability threshold\n{title}", fontsize=10)
    try:
        return _save(fig, path)
    finally:
        plt.close(fig)


def _plot_hist(pairs: pd.DataFrame, title: str, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5))
    score = pairs["score"].to_numpy(dtype=float)
    finite = np.isfinite(score)
    bins = np.histogram_bin_edges(score[finite], bins=50) if finite.any() else 10
    for is_true, colour, label in ((True, "tab:green", "true pairs"), (False, "tab:red", "false pairs")):
        sel = finite & (pairs["is_true"].to_numpy(dtype=bool) == is_true)
        ax.hist(score[sel], bins=bins, alpha=0.6, color=colour, label=f"{label} ({sel.sum():,})")
    ax.set_yscale("log")
    ax.set_xlabel("match weight (bits)")
    ax.set_ylabel("candidates (log scale)")
    ax.legend()
    ax.grid(alpha=0.3)
    ax.set_title(f"Scores of the written candidates\n{title}", fontsize=10)
    try:
        return _save(fig, path)
    finally:
        plt.close(fig)


def _plot_scenarios(ev: Evaluation, title: str, path: Path) -> Path:
    import matplotlib.pyplot as plt

    by = ev.by_scenario
    by = by[by["recall"].notna()].sort_values("recall", ascending=False) if "recall" in by else by.iloc[0:0]
    fig, ax = plt.subplots(figsize=(7, 0.28 * max(len(by), 4) + 1.2))
    y = np.arange(len(by))
    ax.barh(y, by["recall"], color="tab:blue", label="recall")
    if "recall_at_1" in by:
        ax.plot(by["recall_at_1"], y, "|", color="black", markersize=10, label="recall@1")
    ax.set_yticks(y, [f"{lab} ({n:,})" for lab, n in zip(by["label"], by["records"])], fontsize=8)
    ax.set_xlim(max(0.0, float(by["recall"].min()) - 0.05) if len(by) else 0.0, 1.0)
    ax.set_xlabel(f"recall at threshold {ev.threshold:g}")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(f"Recall by scenario label (records per label)\n{title}", fontsize=10)
    try:
        return _save(fig, path)
    finally:
        plt.close(fig)


def write_plots(truth_path: Path, matches_path: Path, out_dir: Path, threshold: float,
                title: str | None = None) -> dict[str, Path]:
    """The four PNG files in out_dir (created if needed): precision-recall curve, score histogram,
    recall by scenario and the reliability diagram; returns their paths by kind."""
    try:
        import matplotlib
    except ImportError:  # pragma: no cover - matplotlib is a dependency; a broken install says so
        raise InputError("plots need matplotlib: pip install matplotlib") from None
    matplotlib.use("Agg")
    ev = evaluate(Path(truth_path), Path(matches_path), threshold)
    pairs, n_true = labelled_pairs(Path(truth_path), Path(matches_path))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if title is None:
        title = f"{Path(matches_path).name}: {ev.wanted:,} wanted, {ev.true_pairs:,} with a true person"
        if ev.left_out_wanted:
            title += f" ({ev.left_out_wanted:,} wanted ids without truth left out)"
    return {
        "pr": _plot_pr(pr_curve(pairs, n_true), ev, title, out_dir / FILES["pr"]),
        "hist": _plot_hist(pairs, title, out_dir / FILES["hist"]),
        "scenarios": _plot_scenarios(ev, title, out_dir / FILES["scenarios"]),
        "calibration": write_calibration_plot(truth_path, matches_path, out_dir / FILES["calibration"], title=title),
    }


def _plot_reliability(table: pd.DataFrame, ece: float, title: str, path: Path) -> Path:
    """Reliability diagram: observed share of true pairs against mean predicted probability per
    band (the diagonal is perfect calibration), with the candidates per band underneath."""
    import matplotlib.pyplot as plt

    fig, (ax, axn) = plt.subplots(2, 1, figsize=(6, 6.2), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
    have = table["candidates"] > 0
    t = table[have]
    ax.plot(t["predicted"], t["observed"], "o-", color="tab:blue", label=f"candidates (ECE {ece:.4f})")
    for r in t.itertuples():
        ax.annotate(f"{r.candidates:,}", (r.predicted, r.observed), textcoords="offset points", xytext=(4, -10), fontsize=7)
    ax.set_ylabel("observed share of true pairs")
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(f"Reliability of match_probability\n{title}", fontsize=10)
    width = float(table["band_high"].iloc[0] - table["band_low"].iloc[0]) if len(table) else 0.1
    axn.bar(table["band_low"] + width / 2, table["candidates"].clip(lower=0), width=width * 0.9, color="tab:blue")
    axn.set_yscale("log")
    axn.set_xlabel("match_probability (band mean)")
    axn.set_ylabel("candidates")
    axn.grid(alpha=0.3)
    try:
        return _save(fig, path)
    finally:
        plt.close(fig)


def write_calibration_plot(truth_path: Path, matches_path: Path, path: Path, bands: int = 10,
                           title: str | None = None) -> Path:
    """The reliability diagram of a matches file against the truth, as a PNG at `path` (a
    directory gets calibration.png). For `linkage evaluate --calibration --plot DIR`."""
    try:
        import matplotlib
    except ImportError:  # pragma: no cover
        raise InputError("plots need matplotlib: pip install matplotlib") from None
    matplotlib.use("Agg")
    path = Path(path)
    if path.suffix.lower() != ".png":
        path = path / FILES["calibration"]
    path.parent.mkdir(parents=True, exist_ok=True)
    table = calibration_table(judged_probabilities(Path(truth_path), Path(matches_path)), bands=bands)
    title = title or f"{Path(matches_path).name}"
    return _plot_reliability(table, expected_calibration_error(table), title, path)
