"""What a pair's evidence was when it was decided, and whether it has changed enough since to ask
a reviewer again. A "not a match" must not come back night after night (nomenklatura's rule: a
negative judgement is never shown again), unless the evidence changed materially: then the pair
is queued again with the reason in words. Everything here works on whole Arrow columns."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from linkage.review.settings import ReviewSettings

FLAGS = ("id_match", "name_changed", "residence_changed", "birth_date_changed")
REQUEUE_STATES = ("not_match", "unsure")
REASON_WEIGHT = "match weight +{} bits since the decision"
REASON_ID = "the id number now agrees"


def _flat(a: pa.Array | pa.ChunkedArray) -> pa.Array:
    return a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a


def _flag_text(col: pa.ChunkedArray | pa.Array) -> pa.Array:
    return pc.fill_null(pc.if_else(col, "1", "0"), "")


def evidence_fingerprint(matches: pa.Table) -> pa.Array:
    """One string per candidate: a hash of its mw_ columns (in hundredths of a bit) and flags,
    then the flags in clear, e.g. '9c1f0e2a7b3d4c55;id_match=0;name_changed=1;...'.

    Same evidence, same string, on any machine: the mw_ values are rounded to integers of 0.01
    before they are written, so float formatting never enters the hash. The flags are kept
    readable because the re-queue rule needs to know whether the id agreed at the decision.
    """
    n = matches.num_rows
    parts: list[pa.Array] = []
    for name in sorted(c for c in matches.column_names if c.startswith("mw_")):
        col = pc.cast(matches[name], pa.float64())
        hundredths = pc.cast(pc.round(pc.multiply(col, 100.0)), pa.int64())  # also turns -0.0 into 0
        parts.append(pc.binary_join_element_wise(f"{name}=", pc.fill_null(pc.cast(hundredths, pa.string()), ""), ""))
    flags = [pc.binary_join_element_wise(f"{f}=", _flag_text(matches[f]), "") for f in FLAGS if f in matches.column_names]
    if not parts and not flags:
        raise ValueError("evidence_fingerprint: the matches table has no mw_ columns and no flags")
    body = pc.binary_join_element_wise(*parts, *flags, "|") if len(parts) + len(flags) > 1 else (parts + flags)[0]
    con = duckdb.connect()
    try:
        con.register("ev", pa.table({"body": body}))
        # DuckDB keeps the row order of a plain projection (preserve_insertion_order is its default).
        digest_col = con.sql("SELECT left(md5(body), 16) AS h FROM ev").to_arrow_table()["h"]
    finally:
        con.close()
    out = pc.binary_join_element_wise(digest_col, *flags, ";") if flags else digest_col
    out = out.combine_chunks() if isinstance(out, pa.ChunkedArray) else out
    assert len(out) == n
    return out


def id_agreed(evidence: pa.Array | pa.ChunkedArray) -> pa.Array:
    """From stored fingerprints: did the id agree at the decision (null when it is not known)."""
    return pc.match_substring(pc.cast(evidence, pa.string()), ";id_match=1")


def requeue_reasons(state: pa.Array | pa.ChunkedArray, weight_at_decision: pa.Array | pa.ChunkedArray,
                    evidence_at_decision: pa.Array | pa.ChunkedArray, weight_now: pa.Array | pa.ChunkedArray,
                    id_match_now: pa.Array | pa.ChunkedArray | None, settings: ReviewSettings) -> pa.Array:
    """Why each pair decided not_match / unsure must be asked again, or null.

    - the match weight rose by more than `requeue_weight_bits` since the decision;
    - `requeue_when_id_agrees` and the id agrees now but did not at the decision (a decision whose
      stored evidence does not say, e.g. one made without a fingerprint, is not re-queued for this).
    Match, pending_confirmation and undecided pairs never get a reason.
    """
    # Plain arrays: Arrow's element-wise kernels refuse chunked inputs whose chunks do not line up.
    state, weight_at_decision, evidence_at_decision, weight_now = (
        _flat(a) for a in (state, weight_at_decision, evidence_at_decision, weight_now))
    id_match_now = None if id_match_now is None else _flat(id_match_now)
    eligible = pc.fill_null(pc.is_in(pc.cast(state, pa.string()), value_set=pa.array(REQUEUE_STATES)), False)
    rise = pc.subtract(pc.cast(weight_now, pa.float64()), pc.cast(weight_at_decision, pa.float64()))
    rose = pc.and_(eligible, pc.fill_null(pc.greater(rise, settings.requeue_weight_bits), False))
    tenths = pc.cast(pc.round(pc.multiply(pc.if_else(rose, rise, 0.0), 10.0)), pa.int64())
    whole = pc.divide(tenths, 10)
    frac = pc.subtract(tenths, pc.multiply(whole, 10))
    head, tail = REASON_WEIGHT.split("{}")
    weight_text = pc.binary_join_element_wise(head, pc.cast(whole, pa.string()), ".", pc.cast(frac, pa.string()), tail, "")
    weight_reason = pc.if_else(rose, weight_text, pa.scalar(None, pa.string()))
    n = len(state)
    if settings.requeue_when_id_agrees and id_match_now is not None:
        was = id_agreed(evidence_at_decision)
        agrees = pc.and_(pc.and_(eligible, pc.fill_null(id_match_now, False)), pc.fill_null(pc.equal(was, False), False))
    else:
        agrees = pa.array([False] * n, pa.bool_())
    id_reason = pc.if_else(agrees, REASON_ID, pa.scalar(None, pa.string()))
    # Both reasons joined (null when either is null), else whichever there is. (Not
    # null_handling="skip": pyarrow 26 drops the rows where every input is null.)
    out = pc.coalesce(pc.binary_join_element_wise(id_reason, weight_reason, "; "), id_reason, weight_reason)
    return out.combine_chunks() if isinstance(out, pa.ChunkedArray) else out
