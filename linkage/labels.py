"""Reviewers' decisions as labels: load them, judge a matches file with them, and draw a sample
worth labelling.

A labels file is the review export (`linkage/review/export.py`: wanted_id, person_id, decision, ...,
unique_id_l, unique_id_r, clerical_match_score) or any CSV/Parquet file with wanted_id, person_id
and a `label` of 1 (match), 0 (not a match) or 0.5 (unsure). Unsure labels say nothing about m or
about accuracy, so every user of labels drops them (and counts them).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from linkage.errors import InputError, UsageError
from linkage.ingest.atomic import write_parquet
from linkage.matches_io import read_matches

LABEL_VALUES = (0.0, 0.5, 1.0)
DECISIONS = {"match": 1.0, "not_match": 0.0, "unsure": 0.5}
# Where the label comes from, in order of preference: our own column, Splink's, the decision words.
LABEL_SOURCES = ("label", "clerical_match_score", "decision")
QUEUE_WARNING = (
    "labels from a review queue are not a random sample of candidates (reviewers see the likeliest "
    "ones first): these estimates describe the labelled pairs; for the whole run, label a "
    "`linkage sample-for-review` sample"
)


def _read(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise InputError(f"labels file not found: {path}")
    with open(path, "rb") as fh:
        parquet = fh.read(4) == b"PAR1"
    try:
        return pd.read_parquet(path) if parquet else pd.read_csv(path, dtype=str, keep_default_na=False)
    except Exception as exc:  # a broken file: name it, with the reader's first line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{path}: not a readable labels file ({first})") from None


def _ids(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    """wanted_id and person_id, or Splink's unique_id_l and unique_id_r."""
    if {"wanted_id", "person_id"} <= set(frame.columns):
        return frame[["wanted_id", "person_id"]].astype(str)
    if {"unique_id_l", "unique_id_r"} <= set(frame.columns):
        return frame[["unique_id_l", "unique_id_r"]].astype(str).set_axis(["wanted_id", "person_id"], axis=1)
    missing = [c for c in ("wanted_id", "person_id") if c not in frame.columns]
    raise InputError(
        f"{path}: the labels file lacks column(s) {', '.join(missing)} (expected wanted_id, person_id and "
        f"a label: 'label' 1/0/0.5, 'clerical_match_score' or 'decision'; it has {', '.join(map(str, frame.columns[:8]))})"
    )


def _label(frame: pd.DataFrame, path: Path) -> pd.Series:
    """The label as a float (NaN where there is none yet, e.g. a pending decision)."""
    source = next((c for c in LABEL_SOURCES if c in frame.columns), None)
    if source is None:
        raise InputError(
            f"{path}: the labels file lacks a label column (one of {', '.join(LABEL_SOURCES)}; "
            f"it has {', '.join(map(str, frame.columns[:8]))})"
        )
    raw = frame[source]
    if source == "decision":
        text = raw.astype(str).str.strip().str.lower()
        value = text.map(DECISIONS)
        bad = value.isna() & ~text.isin(["", "none", "nan", "pending_confirmation"])
    else:
        value = pd.to_numeric(raw.replace("", np.nan), errors="coerce")
        bad = (value.isna() & raw.notna() & (raw.astype(str).str.strip() != "")) | (
            value.notna() & ~value.isin(LABEL_VALUES))
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(
            f"{path}: row {row + 1}: {source} {raw.iloc[row]!r} is not a label "
            f"(expected {'match, not_match or unsure' if source == 'decision' else '1, 0 or 0.5'})"
        )
    return value.astype(float)


def load_labels(path: str | Path) -> pd.DataFrame:
    """wanted_id, person_id, label (1 / 0 / 0.5) from a labels file; rows without a label yet
    (a decision pending its second reviewer) are left out. A `sample_weight` column (written by
    `sample_for_review`) is kept. The last label of a pair wins (a decision changed)."""
    path = Path(path)
    frame = _read(path)
    out = _ids(frame, path)
    out["label"] = _label(frame, path).to_numpy()
    if "sample_weight" in frame.columns:
        out["sample_weight"] = pd.to_numeric(frame["sample_weight"], errors="coerce").fillna(1.0).to_numpy()
    out = out[out["label"].notna() & (out["wanted_id"] != "") & (out["person_id"] != "")]
    return out.drop_duplicates(["wanted_id", "person_id"], keep="last").reset_index(drop=True)


def decided(labels: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The labels that say match or not (unsure dropped), and how many unsure were dropped."""
    sure = labels["label"].isin([0.0, 1.0])
    return labels[sure].reset_index(drop=True), int((~sure).sum())


# --- Accuracy from labels ------------------------------------------------------------------------

@dataclass
class LabelEvaluation:
    threshold: float
    labelled: int  # labelled pairs found among the candidates (match or not)
    unsure_dropped: int
    not_in_matches: int  # labelled pairs that are no candidate of this matches file
    predicted: int  # labelled candidates at or above the threshold
    true_positives: int
    positives: int  # pairs labelled match
    precision: float
    recall: float
    weighted: bool  # estimates reweighted by the sample's inclusion weights

    def summary(self) -> dict:
        return dict(self.__dict__)

    def render(self) -> str:
        how = "weighted by the sample's inclusion weights" if self.weighted else "unweighted"
        return "\n".join([
            f"threshold (match_probability) {self.threshold}",
            f"labelled pairs {self.labelled:,} ({self.positives:,} match); unsure dropped {self.unsure_dropped:,}; "
            f"labelled pairs that are no candidate here {self.not_in_matches:,} (count as missed matches)",
            f"predicted among labelled {self.predicted:,}; labelled match among them {self.true_positives:,}",
            f"estimated precision {self.precision:.4f}  recall {self.recall:.4f} ({how})",
            f"warning: {QUEUE_WARNING}",
        ])


def _matches_frame(matches: str | Path | pd.DataFrame) -> pd.DataFrame:
    m = read_matches(matches).to_pandas() if not isinstance(matches, pd.DataFrame) else matches
    missing = [c for c in ("wanted_id", "person_id", "match_probability") if c not in m.columns]
    if missing:
        raise InputError(f"{matches if not isinstance(matches, pd.DataFrame) else 'matches'}: lacks column(s) {', '.join(missing)}")
    m = m.copy()
    m["wanted_id"], m["person_id"] = m["wanted_id"].astype(str), m["person_id"].astype(str)
    return m


def evaluate_labels(labels: pd.DataFrame | str | Path, matches: str | Path | pd.DataFrame, threshold: float) -> LabelEvaluation:
    """Precision and recall estimated from labelled pairs: precision = labelled-match share of the
    labelled candidates at or above the threshold; recall = share of the labelled-match pairs that
    are candidates at or above it. With `sample_weight` (a `sample_for_review` sample) each pair
    counts for the candidates of its score band. Warns that a review queue is no random sample."""
    from linkage.evaluate import check_threshold

    threshold = check_threshold(threshold)
    labels = load_labels(labels) if not isinstance(labels, pd.DataFrame) else labels
    keep = [c for c in ("wanted_id", "person_id", "label", "sample_weight") if c in labels.columns]
    sure, unsure = decided(labels[keep])
    m = _matches_frame(matches)[["wanted_id", "person_id", "match_probability"]]
    j = sure.merge(m, on=["wanted_id", "person_id"], how="left")
    weighted = "sample_weight" in j.columns
    w = j["sample_weight"].to_numpy(float) if weighted else np.ones(len(j))
    found = j["match_probability"].notna().to_numpy()
    pred = found & (j["match_probability"].fillna(-1).to_numpy() >= threshold)
    pos = j["label"].to_numpy() == 1.0
    tp_w, pred_w, pos_w = (w * (pred & pos)).sum(), (w * pred).sum(), (w * pos).sum()
    warnings.warn(QUEUE_WARNING, stacklevel=2)
    return LabelEvaluation(
        threshold=threshold,
        labelled=int(found.sum()),
        unsure_dropped=unsure,
        not_in_matches=int((~found).sum()),
        predicted=int(pred.sum()),
        true_positives=int((pred & pos).sum()),
        positives=int(pos.sum()),
        precision=float(tp_w / pred_w) if pred_w else 0.0,
        recall=float(tp_w / pos_w) if pos_w else 0.0,
        weighted=weighted,
    )


# --- A sample worth labelling --------------------------------------------------------------------

SAMPLE_BANDS = (0.0, 0.1, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)


def sample_for_review(matches: str | Path | pd.DataFrame, n: int, seed: int = 0,
                      bands: tuple[float, ...] = SAMPLE_BANDS) -> pd.DataFrame:
    """A score-stratified random sample of n candidates: the match_probability range is cut into
    bands, each band gets an equal share of n (what a band cannot fill goes to the others), and
    inside a band candidates are drawn uniformly. Each row carries its band, the band's size and
    `sample_weight` = band size / drawn, so labels on it give unbiased estimates for the whole run
    (`evaluate_labels` uses the weights). Why stratified: nearly all candidates sit at 0 or 1, so
    a plain random sample would hardly ever show the uncertain middle, where the threshold is."""
    if n < 1:
        raise UsageError(f"n must be at least 1, got {n}")
    m = _matches_frame(matches)
    p = m["match_probability"].to_numpy(float)
    edges = np.asarray(bands, dtype=float)
    band = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, len(edges) - 2)
    sizes = np.bincount(band, minlength=len(edges) - 1)
    take = np.zeros_like(sizes)
    left = min(int(n), int(sizes.sum()))
    while left > 0:  # equal shares; a band with fewer candidates than its share gives the rest away
        open_ = np.flatnonzero(take < sizes)
        share = max(left // len(open_), 1)
        for b in open_:
            add = min(share, sizes[b] - take[b], left)
            take[b] += add
            left -= add
            if left == 0:
                break
    rng = np.random.default_rng(seed)
    chosen = np.concatenate([
        rng.choice(np.flatnonzero(band == b), size=int(take[b]), replace=False) for b in range(len(sizes)) if take[b]
    ]) if take.sum() else np.zeros(0, dtype=int)
    chosen = np.sort(chosen)
    out = m.iloc[chosen].copy()
    out["band"] = [f"{edges[b]:g}-{edges[b + 1]:g}" for b in band[chosen]]
    out["band_candidates"] = sizes[band[chosen]]
    out["sample_weight"] = sizes[band[chosen]] / take[band[chosen]]
    out["label"] = np.nan  # to be filled by the reviewer: 1, 0 or 0.5
    keep = [c for c in ("wanted_id", "person_id", "rank", "match_probability", "match_weight", "explanation",
                        "band", "band_candidates", "sample_weight", "label") if c in out.columns]
    return out[keep].reset_index(drop=True)


def write_review_sample(sample: pd.DataFrame, out: str | Path) -> Path:
    """Write the sample as Parquet, atomically (temporary name, then rename)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_parquet(pa.Table.from_pandas(sample, preserve_index=False), out)
    return out


@dataclass
class ReviewSample:
    """What `linkage sample-for-review` prints after writing the file."""

    path: Path
    sample: pd.DataFrame

    def render(self) -> str:
        by = self.sample.groupby("band", sort=False).agg(drawn=("wanted_id", "size"), candidates=("band_candidates", "first"))
        lines = [f"{len(self.sample):,} candidates drawn into {self.path} (fill the 'label' column: 1, 0 or 0.5)",
                 f"{'band':<10} {'drawn':>6} {'of':>10}"]
        lines += [f"{b:<10} {r.drawn:>6,} {r.candidates:>10,}" for b, r in by.iterrows()]
        return "\n".join(lines)


def draw_review_sample(matches: str | Path, n: int, out: str | Path, seed: int = 0) -> ReviewSample:
    """`linkage sample-for-review --matches M --n N --out FILE [--seed S]`: draw and write."""
    sample = sample_for_review(matches, n, seed)
    return ReviewSample(write_review_sample(sample, out), sample)
