"""Each source row's position in its kind's dictionary, joined by the values' hashes: right where
DuckDB's string hash gives two values one number, and by the text when the table keeps it."""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa

from linkage.normalize.distinct import _table_name, build_dictionaries, source_positions

# Two synthetic addresses whose DuckDB hash() was equal (found among a generated register's places)
TWINS = ["Số 262 đường Lạc Long Quân, Phường 8, Quận Gò Vấp, Thành phố Hồ Chí Minh",
         "Số 263 đường Lạc Long Quân, Phường 1, Quận Gò Vấp, Thành phố Hồ Chí Minh"]


def _workspace() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    places = TWINS + ["Xã Hải Tân, Huyện Hải Hậu, Tỉnh Nam Định", None, TWINS[1], "Tỉnh Đắk Lắk"]
    con.register("_r", pa.table({
        "_row": np.arange(1, len(places) + 1, dtype=np.int64),
        "person_id": [f"0010900000{i:02d}" for i in range(len(places))],
        "full_name": ["Nguyễn Văn An"] * len(places),
        "permanent_address": pa.array(places, pa.string()),
    }))
    con.execute("CREATE TABLE residents AS SELECT * FROM _r")
    con.unregister("_r")
    return con


def _expected(con: duckdb.DuckDBPyConnection, values: pa.Array) -> np.ndarray:
    text = [r[0] for r in con.execute("SELECT permanent_address FROM residents ORDER BY _row").fetchall()]
    index = {v: i for i, v in enumerate(values.to_pylist())}
    return np.array([-1 if v is None else index[v] for v in text], dtype=np.int32)


def test_positions_by_hash_are_those_of_the_text():
    con = _workspace()
    same_hash = con.execute("SELECT hash(?) = hash(?)", TWINS).fetchall()[0][0]
    positions: dict[str, np.ndarray] = {}
    dictionaries = build_dictionaries(con, ["residents"], None, 1000,
                                      meanwhile=lambda kinds: positions.update(source_positions(con, "residents", kinds).columns))
    assert np.array_equal(positions["permanent_address"], _expected(con, dictionaries["places"].values))
    keys = [r[0] for r in con.execute(f"DESCRIBE {_table_name('places')}").fetchall()]
    assert keys == (["h1", "h2", "pos"] if same_hash else ["h1", "pos"])  # the second hash only where needed


def test_a_table_that_keeps_the_text_joins_by_it():
    con = _workspace()
    values = pa.array(sorted(v for v in set(TWINS + ["Xã Hải Tân, Huyện Hải Hậu, Tỉnh Nam Định", "Tỉnh Đắk Lắk"])))
    con.register("_v", pa.table({"v": values, "pos": np.arange(len(values), dtype=np.int64)}))
    con.execute(f"CREATE TABLE {_table_name('places')} AS SELECT * FROM _v")
    got = source_positions(con, "residents", ["places"]).columns["permanent_address"]
    assert np.array_equal(got, _expected(con, values))
