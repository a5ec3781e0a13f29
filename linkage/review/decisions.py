"""Decisions flow back into a run: every candidate gets its live decision and, when a rejected
or unsure pair's evidence changed materially, the reason it is queued again. One join of the
matches against the store's live decisions; no loop per pair."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from linkage.review.evidence import requeue_reasons
from linkage.review.settings import ReviewSettings, load_review_settings
from linkage.review.store import Store

NONE = "none"
ADDED = ("decision", "requeue_reason")


def _rules(store: Store, rules: ReviewSettings | str | Path | None) -> ReviewSettings:
    if rules is None:
        return store.rules
    return rules if isinstance(rules, ReviewSettings) else load_review_settings(rules)


def decision_column(store: Store, matches: pa.Table, rules: ReviewSettings | str | Path | None = None) -> pa.Table:
    """`matches` (row order kept) plus `decision` (match / not_match / unsure /
    pending_confirmation / none) and `requeue_reason` (text or null)."""
    for key in ("wanted_id", "person_id"):
        if key not in matches.column_names:
            raise ValueError(f"matches table has no {key} column")
    settings = _rules(store, rules)
    base = matches.drop_columns([c for c in ADDED if c in matches.column_names])
    live = store.live_table()
    right = pa.table({
        "wanted_id": live["wanted_id"], "person_id": live["person_id"], "__state": live["state"],
        "__weight": live["match_weight"], "__evidence": live["evidence"]})
    keys = pa.table({
        "wanted_id": pc.cast(base["wanted_id"], pa.string()), "person_id": pc.cast(base["person_id"], pa.string()),
        "__row": pa.array(range(base.num_rows), pa.int64())})
    joined = keys.join(right, keys=["wanted_id", "person_id"], join_type="left outer").sort_by("__row")
    state = joined["__state"]
    weight_now = base["match_weight"] if "match_weight" in base.column_names else pa.nulls(base.num_rows, pa.float64())
    id_now = base["id_match"] if "id_match" in base.column_names else None
    reason = requeue_reasons(state, joined["__weight"], joined["__evidence"], weight_now, id_now, settings)
    return base.append_column("decision", pc.fill_null(state, NONE).combine_chunks()).append_column("requeue_reason", reason)


def queue_mask(table: pa.Table) -> pa.Array:
    """Candidates a reviewer should see: undecided, or re-queued because the evidence changed."""
    undecided = pc.equal(table["decision"], NONE)
    return pc.or_(undecided, pc.is_valid(table["requeue_reason"])).combine_chunks()


def confirm_mask(table: pa.Table) -> pa.Array:
    """Candidates waiting for a second reviewer (the two-person rule's "to confirm" queue)."""
    return pc.equal(table["decision"], "pending_confirmation").combine_chunks()
