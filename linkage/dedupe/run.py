"""`linkage dedupe`: the wanted list linked against itself, pairs scored, clusters formed, the
decision-number data errors listed; outputs written atomically into the output folder."""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from linkage.dedupe.cluster import Clusters, cluster
from linkage.dedupe.rules import DedupeRules, check_against, load_dedupe_rules, self_model, self_settings
from linkage.dedupe.scoring import compare_pairs, decision_key_sql, score_pairs
from linkage.dedupe.selflink import EXTRA_TABLE, build_tables, read_wanted, self_pairs
from linkage.ingest.atomic import write_json, write_parquet
from linkage.model import Model, default_model, load_model
from linkage.pipeline import saved_model_path
from linkage.rules import rules_hash
from linkage.settings import load_settings

PAIRS = "pairs.parquet"
CLUSTERS = "clusters.parquet"
CONFLICTS = "decision_conflicts.parquet"
SUMMARY = "dedupe_summary.json"


@dataclass
class DedupeResult:
    out_dir: Path
    counts: dict[str, int]
    timings: dict[str, float] = field(default_factory=dict)
    model: str = ""


def _model(rules: Path | None, model_path: Path | None, settings) -> tuple[Model, str]:
    """The given model, else the project's saved one, else the rules' default m and u."""
    path = Path(model_path) if model_path else saved_model_path(rules)
    if path.is_file():
        return load_model(path, settings), str(path)
    if model_path:
        return load_model(path, settings), str(path)  # raises: the named model file is missing
    return default_model(settings, rules_hash(rules)), "rules defaults (rules/matching.yaml m and u)"


def _clusters_table(found: Clusters, ids: np.ndarray) -> pa.Table:
    size = np.bincount(found.label, minlength=len(ids))[found.label] if len(found.label) else np.zeros(0, np.int64)
    weakest = 1.0 / (1.0 + np.exp2(-found.weakest))
    return pa.table({
        "cluster_id": pa.array(ids[found.label].tolist(), pa.string()),
        "wanted_id": pa.array(ids[found.record].tolist(), pa.string()),
        "cluster_size": pa.array(size, pa.int32()),
        "weakest_link_probability": pa.array(np.round(weakest, 9), pa.float64()),
        "weakest_link_weight": pa.array(np.round(found.weakest, 6), pa.float64()),
        "weakest_link_l": pa.array(ids[found.weakest_left].tolist(), pa.string()),
        "weakest_link_r": pa.array(ids[found.weakest_right].tolist(), pa.string()),
    })


def _conflicts(con: duckdb.DuckDBPyConnection, drules: DedupeRules) -> pa.Table:
    """Every pair of records sharing a decision number (on the whole list, blocked or not)."""
    key = decision_key_sql(drules.decision_column, drules.decision_within)
    return con.sql(
        f"""
        WITH k AS (SELECT uid, {drules.decision_column} AS raw, {key} AS k FROM {EXTRA_TABLE})
        SELECT a.uid AS wanted_id_l, b.uid AS wanted_id_r, a.raw AS decision_number_l, b.raw AS decision_number_r
        FROM k a JOIN k b ON a.k = b.k AND a.uid < b.uid
        ORDER BY a.uid, b.uid
        """
    ).to_arrow_table()


def self_u(con, settings, model: Model, drules: DedupeRules) -> Model:
    """u from random pairs of the wanted list itself (the engine's sampler and estimator)."""
    from linkage.train import estimate_u, sample_u_pairs
    from linkage.compare import compare
    import copy

    out = copy.deepcopy(model)
    sample_u_pairs(con, int(settings.model.get("u_sample_pairs", 500_000)), int(settings.model.get("seed", 42)))
    # a record drawn with itself agrees on everything: not a random pair of two records
    con.execute(f"DELETE FROM upairs USING {EXTRA_TABLE} x WHERE x.w_idx = upairs.w_idx AND x.person_idx = upairs.person_idx")
    estimate_u(out, compare(con, settings, source="upairs"))
    con.execute("DROP TABLE IF EXISTS upairs")
    return out


def dedupe(wanted: Path, out_dir: Path, rules: Path | None = None, model_path: Path | None = None,
           threshold: float | None = None, lang: str = "vi") -> DedupeResult:
    """Link the wanted list against itself; writes pairs.parquet, clusters.parquet,
    decision_conflicts.parquet and dedupe_summary.json into `out_dir`."""
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    drules = load_dedupe_rules(rules, lang)
    engine_settings = load_settings(rules)
    settings = self_settings(engine_settings, drules)
    check_against(drules, settings)
    t = drules.threshold if threshold is None else threshold
    model, model_name = _model(rules, model_path, engine_settings)
    model = self_model(model, drules)
    frame, read = read_wanted(Path(wanted), rules)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    extra_cols = sorted({c.column for c in drules.comparisons} | {drules.decision_column}
                        | ({drules.decision_within} if drules.decision_within else set()))
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".dedupe-") as tmp:
        con = duckdb.connect(str(Path(tmp) / "dedupe.duckdb"))
        try:
            eng = settings.engine
            con.execute(f"SET memory_limit = '{settings.memory_limit}'")
            con.execute(f"SET threads = {int(eng.get('threads', 2))}")
            con.execute(f"SET temp_directory = '{Path(tmp) / 'spill'}'")
            con.execute("SET preserve_insertion_order = true")
            n = build_tables(con, settings, frame, rules, extra_cols)
            timings["normalise"] = round(time.perf_counter() - t0, 3)
            rule_counts = self_pairs(con, settings)
            n_pairs = con.execute("SELECT count(*) FROM pairs").fetchall()[0][0]
            timings["block"] = round(time.perf_counter() - t0 - sum(timings.values()), 3)
            gammas = compare_pairs(con, settings, drules)
            if drules.u_from_wanted and n >= drules.u_min_records:
                model = self_u(con, settings, model, drules)
                model_name += "; u from random pairs of the wanted list"
            scored = score_pairs(con, settings, model, drules, n, gammas)
            timings["score"] = round(time.perf_counter() - t0 - sum(timings.values()), 3)
            ids = np.array(con.execute(f"SELECT uid FROM {EXTRA_TABLE} ORDER BY w_idx").fetchnumpy()["uid"], dtype=object)
            link_weight = math.log2(t / (1.0 - t)) if t < 1.0 else math.inf
            # a cannot-link pair is no link and keeps its two records apart when groups merge
            found = cluster(n, scored.left, scored.right, np.where(scored.forbid, -np.inf, scored.weight),
                            link_weight, drules.clustering)
            conflicts = _conflicts(con, drules)
        finally:
            con.close()
    clusters = _clusters_table(found, ids)
    kept = scored.kept
    kept["link"] = (kept["match_probability"] >= t) & kept["cannot_link"].isna()
    by_id = dict(zip(clusters.column("wanted_id").to_pylist(), clusters.column("cluster_id").to_pylist()))
    cl_l = kept["wanted_id_l"].map(by_id)
    kept["same_cluster"] = cl_l.notna() & (cl_l == kept["wanted_id_r"].map(by_id))
    columns = (["wanted_id_l", "wanted_id_r", "match_weight", "match_probability", "link", "cannot_link", "same_cluster"]
               + [c for c in kept.columns if c.startswith("mw_")]
               + ["explanation", "same_decision_number", "decision_number_l", "decision_number_r", "blocking_rules"])
    pairs = kept[columns].sort_values(["match_probability", "wanted_id_l", "wanted_id_r"],
                                      ascending=[False, True, True], kind="stable").reset_index(drop=True)
    write_parquet(pa.Table.from_pandas(pairs, preserve_index=False), out_dir / PAIRS)
    write_parquet(clusters, out_dir / CLUSTERS)
    write_parquet(conflicts, out_dir / CONFLICTS)
    timings["total"] = round(time.perf_counter() - t0, 3)
    counts = {
        **read["counts"],
        "blocked_pairs": int(n_pairs),
        "pairs_written": int(len(pairs)),
        "links": int(pairs["link"].sum()),
        "cannot_link_pairs": int(pairs["cannot_link"].notna().sum()),
        "clusters": int(len(set(clusters.column("cluster_id").to_pylist()))),
        "records_in_clusters": int(clusters.num_rows),
        "decision_conflicts": int(conflicts.num_rows),
    }
    summary = {"wanted": str(wanted), "threshold": t, "model": model_name, "rules_hash": rules_hash(rules),
               "counts": counts, "blocking": [rc.__dict__ for rc in rule_counts], "timings_s": timings,
               "outputs": {k: str(out_dir / v) for k, v in
                           {"pairs": PAIRS, "clusters": CLUSTERS, "decision_conflicts": CONFLICTS}.items()}}
    write_json(summary, out_dir / SUMMARY)
    return DedupeResult(out_dir, counts, timings, model_name)
