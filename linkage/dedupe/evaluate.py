"""Accuracy of `linkage dedupe` against a duplicate truth (pairs of records of one person, as
written by linkage.synth.duplicates): pairwise precision and recall of the clusters and of the
links, and the share of clusters holding two different true persons."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def _pairs_of_clusters(clusters: pd.DataFrame) -> set[tuple[str, str]]:
    m = clusters.merge(clusters, on="cluster_id", suffixes=("_l", "_r"))
    m = m[m["wanted_id_l"] < m["wanted_id_r"]]
    return set(zip(m["wanted_id_l"], m["wanted_id_r"]))


def _pr(found: set, true: set) -> dict[str, float]:
    tp = len(found & true)
    return {"found": len(found), "true": len(true), "correct": tp,
            "precision": tp / len(found) if found else 1.0, "recall": tp / len(true) if true else 1.0}


def evaluate_dedupe(out_dir: Path | str, duplicates: Path | str) -> dict[str, dict[str, float]]:
    """{'clusters': {...}, 'links': {...}, 'impure': {...}} for a dedupe output folder."""
    out_dir = Path(out_dir)
    truth = pd.read_csv(duplicates, dtype=str, keep_default_na=False)
    true = set(zip(truth["wanted_id_l"], truth["wanted_id_r"]))
    clusters = pd.read_parquet(out_dir / "clusters.parquet")
    pairs = pd.read_parquet(out_dir / "pairs.parquet")
    links = pairs[pairs["link"]]
    found_links = set(zip(links["wanted_id_l"], links["wanted_id_r"]))
    in_cluster = _pairs_of_clusters(clusters)
    # A cluster is pure when every pair inside it is a true pair (its records are one person).
    impure = 0
    n_clusters = clusters["cluster_id"].nunique()
    if n_clusters:
        m = clusters.merge(clusters, on="cluster_id", suffixes=("_l", "_r"))
        m = m[m["wanted_id_l"] < m["wanted_id_r"]]
        m["ok"] = [(a, b) in true for a, b in zip(m["wanted_id_l"], m["wanted_id_r"])]
        impure = int((~m.groupby("cluster_id")["ok"].all()).sum())
    return {
        "clusters": _pr(in_cluster, true),
        "links": _pr(found_links, true),
        "impure": {"clusters": int(n_clusters), "impure": impure, "share": impure / n_clusters if n_clusters else 0.0},
    }
