"""Decisions out of the store as labels: our columns plus Splink's labels schema (unique_id_l,
unique_id_r, clerical_match_score), so the labels feed Splink's and our own accuracy tools.

A match still waiting for its second reviewer (pending_confirmation) does not count yet: it is
left out of the live export. The history export keeps every row; there a pending row's
clerical_match_score is null (it is not a label).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from linkage.ingest.atomic import write_parquet
from linkage.review.store import Store

SCORES = {"match": 1.0, "not_match": 0.0, "unsure": 0.5}


def _score(state: pa.ChunkedArray) -> pa.Array:
    keys = pa.array(list(SCORES))
    idx = pc.index_in(state, value_set=keys)
    return pc.take(pa.array(list(SCORES.values()), pa.float64()), idx).combine_chunks()


def _labels(t: pa.Table, extra: list[str]) -> pa.Table:
    cols = {
        "wanted_id": t["wanted_id"], "person_id": t["person_id"], "decision": t["state"],
        "reviewer": t["reviewer"], "decided_at": t["decided_at"], "note": t["note"],
        "match_weight_at_decision": t["match_weight"], "evidence_at_decision": t["evidence"],
        "confirmed_by": t["confirmed_by"], "confirmed_at": t["confirmed_at"],
        **{c: t[c] for c in extra},
        "unique_id_l": t["wanted_id"], "unique_id_r": t["person_id"], "clerical_match_score": _score(t["state"]),
    }
    return pa.table(cols)


def export_decisions(store: Store, out_file: str | Path, history: bool = False) -> Path:
    """Write the live decisions (or, with history, every state) to Parquet, atomically."""
    out = Path(out_file)
    if history:
        t = store.history_table()
        table = _labels(t, ["id", "action", "actor", "recorded_at", "deleted_at", "deleted_by"])
        table = table.append_column("live", pc.is_null(t["deleted_at"]).combine_chunks())
    else:
        t = store.live_table()
        t = t.filter(pc.not_equal(t["state"], "pending_confirmation"))
        table = _labels(t, []).sort_by([("wanted_id", "ascending"), ("person_id", "ascending")])
    write_parquet(table, out)
    return out
