"""The Arrow paths of the names, ids and places normalisers (table.ARROW_KINDS, used by the desk's
value memo) give the table the pandas normalisers' frames convert to, value for value and type for
type: on every distinct value of the committed sample's columns of that kind, on edge values, and
on one or a few values at a time (the names path reads few names one by one)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from linkage.normalize import ids
from linkage.normalize.distinct import normalise_values, normalised_table
from linkage.normalize.table import ARROW_KINDS, KINDS, parts

SAMPLE = Path(__file__).resolve().parents[1] / "data_samples" / "sample"
EDGE = [None, "", " ", "  \t", "0", "Không có", "không rõ", "N/A", "x", "123", "12345678901", "0012030040",
        "001 203 004 005", "CCCD: 001203004005", "1.0", "NGUYỄN VĂN AN", "nguyen van an", "Thị Nở",
        "H’ Hen Niê", "Y Bih Byă", "Tôn Nữ Thị Diệu Hằng", "Số 12, Phường Hàng Bài, Quận Hoàn Kiếm, Hà Nội",
        "Hà Nội", "ha noi", "Xã Nậm Kè, Tỉnh Điện Biên", "TP.HCM", "Q.1, TP HCM", "İstanbul", "ﬁ", "\u00a0Huế\u00a0"]


def _sample_values(kind: str) -> list[str]:
    values: set[str] = set()
    for source in ("residents", "id_cards", "wanted"):
        frame = pd.read_csv(SAMPLE / f"{source}.csv", dtype=str, keep_default_na=False)
        for part in parts(source, frame.columns):
            if part.kind == kind and part.column in frame.columns:
                values.update(frame[part.column].tolist())
    return sorted(values)


def _pandas(kind: str, values: list[str | None]) -> pa.Table:
    return pa.Table.from_pandas(normalise_values(kind, pa.array(values, pa.string()), None), preserve_index=False)


@pytest.mark.parametrize("kind", sorted(ARROW_KINDS))
def test_arrow_path_equals_the_pandas_path_on_the_sample(kind: str) -> None:
    values = _sample_values(kind) + EDGE
    assert len(values) > 100
    got = normalised_table(kind, pa.array(values, pa.string()), None)
    want = _pandas(kind, values)
    assert got.schema == want.schema
    assert got.equals(want), kind


@pytest.mark.parametrize("kind", sorted(ARROW_KINDS))
def test_arrow_path_on_a_few_values_at_a_time(kind: str) -> None:
    values = _sample_values(kind)[::97] + EDGE
    for start in range(0, len(values), 3):
        few = values[start:start + 3] + values[start:start + 1]  # a repeated value too
        got = normalised_table(kind, pa.array(few, pa.string()), None)
        assert got.equals(_pandas(kind, few)), few


def test_every_arrow_kind_is_a_kind() -> None:
    assert set(ARROW_KINDS) <= set(KINDS)
    # a kind without an Arrow path still gives its table through pandas
    got = normalised_table("dates", pa.array(["12/03/1990", None], pa.string()), None)
    assert got.num_rows == 2 and got.equals(_pandas("dates", ["12/03/1990", None]))


def test_plain_ids_read_from_their_bytes_give_the_general_paths_table() -> None:
    """A register's numbers are all 9 or 12 plain digits: ids_table reads them from the strings'
    bytes (_plain_ids_table); the table is the pandas path's, on the sample's register numbers,
    on ids with an unknown province or prefix, a birth year after today, NULLs, and on a slice."""
    frames = {s: pd.read_csv(SAMPLE / f"{s}.csv", dtype=str).astype(object).where(lambda f: f.notna(), None)
              for s in ("residents", "id_cards")}
    values = (frames["residents"]["person_id"].tolist()[:3000] + frames["id_cards"]["card_number"].tolist()[:3000]
              + frames["id_cards"]["old_id_number"].tolist()[:3000]
              + ["999060398307", "001099000001", "001399000001", "000000000000", "999999999", "000000000", None, None])
    assert sum(isinstance(v, str) and len(v) == 9 for v in values) > 1000
    arr = pa.array(values, pa.string())
    rules = ids.load_id_rules(None)
    today = ids.load_date_rules(None, kind="birth").today
    for piece in (arr, arr.slice(17, 4000)):
        assert len(piece) >= ids._PLAIN_MIN and ids._plain_ids_table(piece, rules, today) is not None
        got = normalised_table("ids", piece, None)
        want = _pandas("ids", piece.to_pylist())
        assert got.schema == want.schema
        assert got.equals(want)
    # one value not plain: the general path, the same table
    mixed = pa.array(values + ["CCCD: 001203004005"], pa.string())
    assert ids._plain_ids_table(mixed, rules, today) is None
    assert normalised_table("ids", mixed, None).equals(_pandas("ids", mixed.to_pylist()))
