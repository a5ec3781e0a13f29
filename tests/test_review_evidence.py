"""Evidence fingerprints and re-queue on changed evidence, and decisions joined back onto a run's
matches (on SQLite and PostgreSQL stores)."""

from __future__ import annotations

import pyarrow as pa
import pytest

from linkage.review import ReviewSettings, Store
from linkage.review.decisions import confirm_mask, decision_column, queue_mask
from linkage.review.evidence import evidence_fingerprint, id_agreed, requeue_reasons

DANGER = "đặc biệt nguy hiểm"


def matches(weights: list[float], id_match: list[bool | None], mw_name: list[float] | None = None) -> pa.Table:
    n = len(weights)
    return pa.table({
        "wanted_id": [f"W-{i:04d}" for i in range(n)],
        "person_id": [f"0790{i:08d}" for i in range(n)],
        "match_weight": pa.array(weights, pa.float64()),
        "mw_full_name": pa.array(mw_name or [2.0] * n, pa.float64()),
        "mw_id_number": pa.array([6.0 if x else -1.0 for x in id_match], pa.float64()),
        "id_match": pa.array(id_match, pa.bool_()),
        "name_changed": pa.array([False] * n),
    })


def test_fingerprint_is_stable_and_sees_material_changes() -> None:
    base = matches([5.0, 5.0, 5.0], [False, True, None], [1.234, 1.234, -0.001])
    fp = evidence_fingerprint(base)
    assert fp.to_pylist() == evidence_fingerprint(base).to_pylist()
    assert fp[0].as_py().split(";")[1:] == ["id_match=0", "name_changed=0"]
    assert fp[1].as_py().split(";")[1] == "id_match=1" and fp[2].as_py().split(";")[1] == "id_match="
    # Column order does not matter; a change below 0.005 bits does not count; 0.01 does.
    assert evidence_fingerprint(base.select(list(reversed(base.column_names)))).equals(fp)
    nudged = base.set_column(3, "mw_full_name", pa.array([1.2341, 1.236, 0.0]))
    assert evidence_fingerprint(nudged).to_pylist()[0] == fp[0].as_py()
    assert evidence_fingerprint(nudged).to_pylist()[1] != fp[1].as_py()
    assert evidence_fingerprint(nudged).to_pylist()[2] == fp[2].as_py()  # -0.001 and 0.0 are one value
    flagged = base.set_column(6, "name_changed", pa.array([True, False, False]))
    assert evidence_fingerprint(flagged).to_pylist()[0] != fp[0].as_py()
    assert id_agreed(fp).to_pylist() == [False, True, False]
    with pytest.raises(ValueError, match="no mw_ columns"):
        evidence_fingerprint(pa.table({"wanted_id": ["W-1"]}))


def test_requeue_reasons_pure() -> None:
    rules = ReviewSettings(requeue_weight_bits=3.0)
    state = pa.array(["not_match", "unsure", "not_match", "match", None, "not_match", "pending_confirmation", "unsure"])
    then = pa.array([1.0, 1.0, 1.0, 1.0, None, 1.0, 1.0, None])
    ev = pa.array(["h;id_match=0", "h;id_match=0", "h;id_match=0", "h;id_match=0", None, "h;id_match=1", "h;id_match=0", None])
    now = pa.array([5.2, 3.9, 9.0, 9.0, 9.0, 1.0, 9.0, 9.0])
    idm = pa.array([False, True, True, True, True, True, True, True])
    got = requeue_reasons(state, then, ev, now, idm, rules).to_pylist()
    assert got == [
        "match weight +4.2 bits since the decision",
        "the id number now agrees",  # +2.9 bits is not enough
        "the id number now agrees; match weight +8.0 bits since the decision",
        None,  # a match is never re-queued
        None,  # undecided: it is in the queue anyway
        None,  # the id agreed already at the decision
        None,  # pending: waits in the "to confirm" queue
        None,  # no weight or evidence kept at the decision: nothing to compare
    ]
    off = ReviewSettings(requeue_weight_bits=3.0, requeue_when_id_agrees=False)
    assert requeue_reasons(state, then, ev, now, idm, off).to_pylist()[1] is None


def test_decision_column_and_queue(store_url: str) -> None:
    store = Store.open(store_url)
    before = matches([2.0, 2.0, 2.0, 8.0, 8.0, 1.0, 3.0], [False] * 7)
    fp = evidence_fingerprint(before)
    ids = list(zip(before["wanted_id"].to_pylist(), before["person_id"].to_pylist()))
    plan = ["not_match", "unsure", "not_match", "match", "match", "unsure"]  # pair 6 stays undecided
    for i, decision in enumerate(plan):
        store.decide(*ids[i], decision, "an", match_weight=before["match_weight"][i].as_py(), evidence=fp[i].as_py(),
                     danger_level=DANGER if i == 4 else "thường")

    # The next night: pair 0's weight rose 4.2 bits, pair 1's id now agrees, pair 2 unchanged,
    # pair 3 (a match) rose too, pair 5 rose by exactly 3 bits (not more than the rule).
    after = matches([6.2, 2.5, 2.0, 12.0, 8.0, 4.0, 3.0], [False, True, False, True, False, False, False])
    after = after.take(pa.array([6, 5, 4, 3, 2, 1, 0]))  # any row order: it is kept
    out = decision_column(store, after)
    assert out.column_names == after.column_names + ["decision", "requeue_reason"]
    assert out["wanted_id"].to_pylist() == after["wanted_id"].to_pylist()
    got = dict(zip(out["wanted_id"].to_pylist(), zip(out["decision"].to_pylist(), out["requeue_reason"].to_pylist())))
    assert got == {
        "W-0000": ("not_match", "match weight +4.2 bits since the decision"),
        "W-0001": ("unsure", "the id number now agrees"),
        "W-0002": ("not_match", None),
        "W-0003": ("match", None),
        "W-0004": ("pending_confirmation", None),
        "W-0005": ("unsure", None),
        "W-0006": ("none", None),
    }
    queued = out.filter(queue_mask(out))["wanted_id"].to_pylist()
    assert sorted(queued) == ["W-0000", "W-0001", "W-0006"]
    assert out.filter(confirm_mask(out))["wanted_id"].to_pylist() == ["W-0004"]
    # Run twice: the columns are replaced, not added again; other rules from the caller apply.
    again = decision_column(store, out, rules=ReviewSettings(requeue_weight_bits=10.0))
    assert again.column_names == out.column_names
    assert dict(zip(again["wanted_id"].to_pylist(), again["requeue_reason"].to_pylist()))["W-0000"] is None
    empty = decision_column(store, after.slice(0, 0))
    assert empty.num_rows == 0 and empty.column_names == out.column_names
    store.close()
