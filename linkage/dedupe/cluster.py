"""Clusters of wanted records from scored pairs, without chaining strangers.

Single linkage (connected components of the links) lets one weak or wrong link join two
people's groups. Here the components only bound the work: inside each component of three or more
records, groups grow by links in descending weight, and two groups merge only when no pair
across them is strong evidence of two people (weight <= cannot_link_weight) and the mean weight
over all pairs across them reaches average_link_weight (a pair no blocking rule found counts as
unblocked_weight). A two-record component is its link. Components are small (a person's few
records), so the per-component loop runs over links, never over candidate pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from linkage.dedupe.rules import Clustering


@dataclass
class Clusters:
    """Per clustered record (records in no cluster are left out): its record number, its
    cluster's label (the smallest record number in it), and the cluster's weakest link (the
    lowest weight among the links that formed it) with that link's two records."""

    record: np.ndarray
    label: np.ndarray
    weakest: np.ndarray
    weakest_left: np.ndarray
    weakest_right: np.ndarray


def components(n: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Connected-component label (smallest record number) of every record, by min-label
    propagation with pointer jumping (vectorised)."""
    label = np.arange(n, dtype=np.int64)
    if len(left) == 0:
        return label
    while True:
        before = label.copy()
        low = np.minimum(label[left], label[right])
        np.minimum.at(label, left, low)
        np.minimum.at(label, right, low)
        while True:
            jumped = label[label]
            if np.array_equal(jumped, label):
                break
            label = jumped
        if np.array_equal(label, before):
            return label


def _merge_component(members: np.ndarray, links: list[tuple[float, int, int]], weights: dict[tuple[int, int], float],
                     cfg: Clustering) -> tuple[dict[int, int], dict[int, tuple[float, int, int]]]:
    """Greedy constrained average linkage inside one component: (record -> group root, root ->
    weakest accepted link)."""
    group = {int(m): int(m) for m in members}
    parts = {int(m): [int(m)] for m in members}
    weakest: dict[int, tuple[float, int, int]] = {}
    for w, a, b in sorted(links, key=lambda t: (-t[0], t[1], t[2])):
        ga, gb = group[a], group[b]
        if ga == gb:
            continue
        cross = np.array([weights.get((min(x, y), max(x, y)), cfg.unblocked_weight) for x in parts[ga] for y in parts[gb]])
        if cross.min() <= cfg.cannot_link_weight or cross.mean() < cfg.average_link_weight:
            continue
        keep, gone = min(ga, gb), max(ga, gb)
        for x in parts[gone]:
            group[x] = keep
        parts[keep] += parts.pop(gone)
        prev = [weakest.pop(g) for g in (ga, gb) if g in weakest]
        weakest[keep] = min(prev + [(w, a, b)])
    return group, weakest


def cluster(n: int, left: np.ndarray, right: np.ndarray, weight: np.ndarray, link_weight: float,
            cfg: Clustering) -> Clusters:
    """Clusters of two or more records from every scored pair (record numbers 0..n-1)."""
    links = weight >= link_weight
    comp = components(n, left[links], right[links])
    size = np.bincount(comp, minlength=n)
    ll, lr, lw = left[links], right[links], weight[links]
    out_rec, out_lab, out_w, out_l, out_r = [], [], [], [], []
    # Two-record components: the link is the cluster.
    two = size[comp[ll]] == 2
    for arr, vals in ((out_rec, ll[two]), (out_rec, lr[two])):
        arr.append(vals)
    lab2 = np.minimum(ll[two], lr[two])
    out_lab += [lab2, lab2]
    out_w += [lw[two], lw[two]]
    out_l += [ll[two], ll[two]]
    out_r += [lr[two], lr[two]]
    # Larger components: constrained average linkage over every blocked pair inside them.
    big = size[comp[ll]] >= 3
    if big.any():
        inside = (comp[left] == comp[right]) & (size[comp[left]] >= 3)
        weights = {(int(min(a, b)), int(max(a, b))): float(w) for a, b, w in zip(left[inside], right[inside], weight[inside])}
        by_comp: dict[int, list[tuple[float, int, int]]] = {}
        for a, b, w in zip(ll[big], lr[big], lw[big]):
            by_comp.setdefault(int(comp[a]), []).append((float(w), int(a), int(b)))
        for c, c_links in sorted(by_comp.items()):
            members = np.flatnonzero(comp == c)
            group, weakest = _merge_component(members, c_links, weights, cfg)
            for root, (w, a, b) in weakest.items():
                recs = np.array(sorted(x for x, g in group.items() if g == root), dtype=np.int64)
                out_rec.append(recs)
                out_lab.append(np.full(len(recs), recs.min()))
                out_w.append(np.full(len(recs), w))
                out_l.append(np.full(len(recs), a))
                out_r.append(np.full(len(recs), b))
    cat = (lambda xs, t: np.concatenate(xs).astype(t) if xs else np.zeros(0, t))
    rec = cat(out_rec, np.int64)
    order = np.argsort(rec, kind="stable")
    return Clusters(rec[order], cat(out_lab, np.int64)[order], cat(out_w, np.float64)[order],
                    cat(out_l, np.int64)[order], cat(out_r, np.int64)[order])
