"""Training's pairs of register persons sharing a key, drawn in numpy from DuckDB's hashes: the
same pairs, partners and weights as the window query they replaced (kept here as the reference)."""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa

from linkage.train import sample_shared_pairs

REFERENCE = """
    WITH keyed AS (SELECT w_idx, ({key}) AS name FROM ns_left), members AS (
        SELECT w_idx, name,
               row_number() OVER (PARTITION BY name ORDER BY hash(w_idx + {seed}), w_idx) - 1 AS pos,
               count(*) OVER (PARTITION BY name) AS k
        FROM keyed WHERE name IS NOT NULL
    ), chosen AS (
        SELECT w_idx, name, k, (pos + 1 + hash(w_idx * 7 + {seed}) % (k - 1)) % k AS partner_pos
        FROM members WHERE k >= 2
        ORDER BY hash(w_idx + {seed} * 13), w_idx LIMIT {n}
    )
    SELECT row_number() OVER (ORDER BY c.w_idx) - 1 AS pair_idx, c.w_idx, m.w_idx AS person_idx,
           CAST(c.k - 1 AS DOUBLE) AS weight
    FROM chosen c JOIN members m ON m.name = c.name AND m.pos = c.partner_pos
    ORDER BY pair_idx
"""


def _register(tmp_path) -> duckdb.DuckDBPyConnection:
    """ns_left stand-in in a DuckDB file: 5,000 persons in shuffled order, names from a few hundred
    (some alone, some NULL), district codes as integers."""
    rng = np.random.default_rng(11)
    n = 5000
    names = np.array([f"name {i}" for i in rng.zipf(1.6, n) % 700], dtype=object)
    names[rng.random(n) < 0.05] = None
    con = duckdb.connect(str(tmp_path / "ws.duckdb"))
    con.register("_t", pa.table({"w_idx": rng.permutation(n).astype(np.int64) * 3,
                                 "full_name_ascii": pa.array(names, pa.string()),
                                 "district": rng.integers(0, 40, n).astype(np.int32)}))
    con.execute("CREATE TABLE ns_left AS SELECT * FROM _t")
    con.unregister("_t")
    return con


def test_shared_pairs_are_those_of_the_window_query(tmp_path):
    con = _register(tmp_path)
    for key, n, seed in [("full_name_ascii", 800, 42), ("full_name_ascii", 10_000, 7), ("district", 300, 42),
                         ("CASE WHEN district < 2 THEN district END", 10_000, 3)]:
        got_n = sample_shared_pairs(con, n, seed, key)
        got = con.execute("SELECT * FROM nspairs ORDER BY pair_idx").fetchnumpy()
        want = con.execute(REFERENCE.format(key=key, seed=seed, n=n)).fetchnumpy()
        assert got_n == len(want["pair_idx"]) > 0, key
        for col in ("pair_idx", "w_idx", "person_idx", "weight"):
            assert np.array_equal(got[col], want[col]), (key, col)
        assert con.execute("SELECT typeof(pair_idx), typeof(w_idx), typeof(person_idx), typeof(weight) "
                           "FROM nspairs LIMIT 1").fetchall()[0] == ("BIGINT", "BIGINT", "BIGINT", "DOUBLE")
        assert (got["w_idx"] != got["person_idx"]).all()


def test_no_shared_key_gives_no_pairs(tmp_path):
    con = _register(tmp_path)
    assert sample_shared_pairs(con, 100, 42, "CAST(w_idx AS VARCHAR)") == 0  # every key alone
    assert sample_shared_pairs(con, 100, 42, "CAST(NULL AS VARCHAR)") == 0
    assert con.execute("SELECT count(*) FROM nspairs").fetchall()[0][0] == 0
