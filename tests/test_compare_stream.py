"""The compare stage read in batches: similarity once per distinct pair of strings, and a person's
records merged within each batch and again across batches, give the levels of one whole pass."""

from __future__ import annotations

import copy

import numpy as np
import pyarrow as pa
from rapidfuzz import process
from rapidfuzz.distance import JaroWinkler

from engine_helpers import workspace
from linkage.compare import compare, similarity
from linkage.settings import load_settings


def test_similarity_reaches_a_band_where_every_row_scored_alone_does():
    rng = np.random.default_rng(3)
    names = ["nguyen van hung", "nguyen van hunh", "tran thi hoa", "tran thi hoa", "le minh", "le minh tuan",
             "pham duc anh", "pham duc an", "", "hoang"]
    left = [names[i] if i < len(names) else None for i in rng.integers(0, len(names) + 2, 2000)]
    right = [names[i] if i < len(names) else None for i in rng.integers(0, len(names) + 2, 2000)]
    alone = np.asarray(process.cpdist([s or "" for s in left], [s or "" for s in right],
                                      scorer=JaroWinkler.normalized_similarity))
    got = similarity(pa.array(left, pa.string()), pa.array(right, pa.string()), cutoff=0.86)
    for band in (0.86, 0.88, 0.94):
        assert np.array_equal(got >= band, alone >= band)
    assert np.array_equal(got[alone >= 0.86], alone[alone >= 0.86])  # the same float32 scores
    assert (got[alone < 0.86 - 1e-6] == 0).all()


def _every_pair(tmp_path):
    """Two wanted records against four persons, each with a residents record and a card; table
    `testpairs` holds every (wanted, person) pair."""
    residents = [{"person_id": f"0800850012{i:02d}", "full_name": name, "father_name": ""}
                 for i, name in enumerate(["Nguyễn Văn Hùng", "Nguyễn Văn Hùnh", "Trần Thị Hoa", "Lê Minh"])]
    cards = [{"card_number": r["person_id"], "full_name": "Nguyen Van Hung", "gender": "Nam",
              "birth_date": "12/05/1985"} for r in residents]
    con = workspace(tmp_path, [{"wanted_id": "W1"}, {"wanted_id": "W2", "full_name": "Trần Thị Hoà"}], residents, cards)
    con.execute("CREATE TABLE testpairs AS SELECT row_number() OVER (ORDER BY w.w_idx, p.person_idx) - 1 AS pair_idx, "
                "w.w_idx, p.person_idx FROM w, (SELECT DISTINCT person_idx FROM reg) p")
    return con


def test_levels_do_not_depend_on_how_the_rows_are_batched(tmp_path):
    """Each person has a residents record and a card; batches of one row put the two records of a
    pair in different batches, so only the merge across batches can give the best of both."""
    con = _every_pair(tmp_path)
    settings = load_settings()
    whole = compare(con, settings, source="testpairs")
    assert con.execute("SELECT count(*) FROM testpairs p JOIN reg r USING (person_idx)").fetchall()[0][0] \
        == 2 * len(whole.pair_idx)  # two records per pair: there is something to merge
    one_row = copy.deepcopy(settings)
    one_row.engine["batch_rows"] = 1
    batched = compare(con, one_row, source="testpairs")
    assert np.array_equal(batched.pair_idx, whole.pair_idx)
    assert np.array_equal(batched.levels, whole.levels)
    names = [c.name for c in settings.comparisons]
    full = whole.levels[:, names.index("full_name")]
    assert (full == 0).sum() >= 1  # W1 against the person whose residents record has the exact name


def test_levels_do_not_depend_on_the_join_order_and_the_setting_comes_back(tmp_path):
    """compare plans its query with the joins as written (DuckDB's join-order optimizer off for
    it): the levels equal those of DuckDB's own order, and the connection's setting is restored."""
    from linkage.compare import _merge_records, pair_query

    con = _every_pair(tmp_path)
    settings = load_settings()
    con.execute("SET disabled_optimizers = 'top_n'")  # an operator's own setting
    got = compare(con, settings, source="testpairs")
    assert con.execute("SELECT current_setting('disabled_optimizers')").fetchall()[0][0] == "top_n"
    con.execute("SET disabled_optimizers = ''")
    sql, compiled, _ = pair_query(settings, "testpairs")
    rows = con.execute(f"SELECT * FROM ({sql}) ORDER BY pair_idx").fetchnumpy()  # DuckDB's own join order
    assert len(rows["pair_idx"]) == 2 * len(got.pair_idx)
    assert con.execute("SELECT current_setting('disabled_optimizers')").fetchall()[0][0] == ""
    names = [c.name for c in settings.comparisons]
    levels = np.column_stack([rows[f"g{j}"] for j in range(len(compiled))]).astype(np.int8)
    pair_idx, merged = _merge_records(np.asarray(rows["pair_idx"]), levels)
    assert np.array_equal(pair_idx, got.pair_idx)
    for j, c in enumerate(compiled):
        if not c.fuzzy:  # a fuzzy band comes after the SQL: the other levels are the SQL's alone
            assert np.array_equal(got.levels[:, names.index(c.name)], merged[:, j]), c.name
