"""The desk's memo of normalised values (linkage.normalize.distinct.ValueMemo) gives the prepared
table prepared_arrow(normalize_table(...)) gives, call after call: one record or lists, values
seen before or not, after its tables are compacted and after a kind starts afresh; and it holds
each distinct value once."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from linkage.ingest.contract import COLUMNS
from linkage.normalize.distinct import ValueMemo
from linkage.normalize.table import normalize_table
from linkage.prepare import REGISTER_UID, prepared_arrow

SAMPLE = Path(__file__).resolve().parent.parent / "data_samples" / "sample"


def frames(source: str) -> list[pd.DataFrame]:
    """Calls as the desk makes them: single records, lists, repeats of records seen before."""
    table = pd.read_csv(SAMPLE / f"{source}.csv", dtype=str, keep_default_na=False).sample(400, random_state=5)
    rows = [{k: (v or None) for k, v in r.items()} for r in table.to_dict("records")]
    calls = [(0, 1), (1, 1), (2, 3), (5, 100), (0, 1), (105, 50)] + [(160 + i, 1) for i in range(60)]
    calls += [(220, 100), (0, 300)]
    return [pd.DataFrame({c: pd.Series([r.get(c) for r in rows[lo:lo + n]], dtype=object) for c in COLUMNS[source]})
            for lo, n in calls]


@pytest.mark.parametrize("source", ["residents", "id_cards"])
def test_memo_gives_the_normalised_table(source):
    memo = ValueMemo(None, max_values=150)  # small: the kinds with many values start afresh
    memo._COMPACT = 5  # merge pieces often
    for frame in frames(source):
        got = memo.prepared(frame, source, REGISTER_UID[source])
        want = prepared_arrow(normalize_table(frame, source), REGISTER_UID[source], source)
        assert got.schema == want.schema
        assert got.equals(want)
    seen = set().union(*(frame["birth_date"].dropna() for frame in frames(source)))
    last = set(frames(source)[-1]["birth_date"].dropna())
    assert set(memo._where["dates"]) - {None} == last < seen  # started afresh with the last call's 300 records


def test_memo_holds_each_value_once():
    memo = ValueMemo(None)
    calls = frames("residents")
    for frame in calls:
        memo.prepared(frame, "residents", "person_id")
    places = set()
    for frame in calls:
        for c in ("birth_place", "hometown", "permanent_address", "current_address"):
            places |= set(frame[c].dropna())
    assert set(memo._where["places"]) - {None} == places
    rows = sum(p.num_rows for p in memo._pieces["places"])
    assert rows == len(places) + 1  # each value once, and the missing value
