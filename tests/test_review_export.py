"""Export of decisions as labels (ours + Splink's labels schema), live and full history, from
SQLite and PostgreSQL stores."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from linkage.review import Store
from linkage.review.export import export_decisions

T0 = datetime(2025, 11, 26, 8, 0, tzinfo=timezone.utc)
LIVE_COLUMNS = ["wanted_id", "person_id", "decision", "reviewer", "decided_at", "note", "match_weight_at_decision",
                "evidence_at_decision", "confirmed_by", "confirmed_at", "unique_id_l", "unique_id_r",
                "clerical_match_score"]


def fill(store: Store) -> None:
    t = lambda m: T0 + timedelta(minutes=m)  # noqa: E731
    store.decide("W-2", "079012345678", "not_match", "an", note="khác cha", match_weight=1.5, now=t(0))
    store.decide("W-1", "079012345679", "unsure", "an", match_weight=4.0, now=t(1))
    store.decide("W-1", "079012345670", "match", "binh", match_weight=12.5, now=t(2))
    store.decide("W-3", "079012345671", "match", "an", danger_level="đặc biệt nguy hiểm", now=t(3))  # pending
    store.decide("W-2", "079012345678", "unsure", "binh", note="xem lại", match_weight=1.5, now=t(4))


def test_live_export_has_splink_labels(store_url: str, tmp_path: Path) -> None:
    store = Store.open(store_url)
    fill(store)
    out = export_decisions(store, tmp_path / "out" / "labels.parquet")
    assert out == tmp_path / "out" / "labels.parquet" and sorted(p.name for p in out.parent.iterdir()) == ["labels.parquet"]
    t = pq.read_table(out)
    assert t.column_names == LIVE_COLUMNS
    assert t.schema.field("decided_at").type == pa.timestamp("us", tz="UTC")
    assert t.schema.field("clerical_match_score").type == pa.float64()
    rows = t.to_pylist()
    assert [(r["unique_id_l"], r["unique_id_r"], r["decision"], r["clerical_match_score"]) for r in rows] == [
        ("W-1", "079012345670", "match", 1.0),
        ("W-1", "079012345679", "unsure", 0.5),
        ("W-2", "079012345678", "unsure", 0.5),  # the live state, not the earlier not_match
    ]  # the pending match of W-3 does not count yet: left out
    assert rows[2]["reviewer"] == "binh" and rows[2]["note"] == "xem lại" and rows[0]["match_weight_at_decision"] == 12.5
    store.decide("W-2", "079012345678", "not_match", "chau")
    assert pq.read_table(export_decisions(store, out))["clerical_match_score"].to_pylist() == [1.0, 0.5, 0.0]
    store.close()


def test_history_export_keeps_every_state(store_url: str, tmp_path: Path) -> None:
    store = Store.open(store_url)
    fill(store)
    store.confirm("W-3", "079012345671", "binh", now=T0 + timedelta(minutes=5))
    t = pq.read_table(export_decisions(store, tmp_path / "history.parquet", history=True))
    for col in LIVE_COLUMNS + ["id", "action", "actor", "recorded_at", "deleted_at", "deleted_by", "live"]:
        assert col in t.column_names, col
    rows = t.to_pylist()
    assert [r["id"] for r in rows] == sorted(r["id"] for r in rows) and len(rows) == 6
    w2 = [r for r in rows if r["wanted_id"] == "W-2"]
    assert [(r["decision"], r["live"], r["deleted_by"], r["clerical_match_score"]) for r in w2] == [
        ("not_match", False, "binh", 0.0), ("unsure", True, None, 0.5)]
    assert w2[0]["deleted_at"] == T0 + timedelta(minutes=4)
    w3 = [r for r in rows if r["wanted_id"] == "W-3"]
    assert [(r["decision"], r["clerical_match_score"], r["action"], r["confirmed_by"]) for r in w3] == [
        ("pending_confirmation", None, "decide", None), ("match", 1.0, "confirm", "binh")]
    store.close()


def test_empty_store_exports_an_empty_table_with_the_schema(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s.sqlite")
    t = pq.read_table(export_decisions(store, tmp_path / "e.parquet"))
    assert t.num_rows == 0 and t.column_names == LIVE_COLUMNS
    store.close()
