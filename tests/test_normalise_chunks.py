"""Register normalisation in chunks and in worker processes gives the same run as one chunk in one
process: record numbering, candidates and scores do not depend on chunking or timing. Looking
values up in a run's dictionaries of distinct values (linkage/normalize/distinct.py) gives the
columns normalising each table gives."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from linkage.ingest import read_source
from linkage.model import default_model, save_model
from linkage.normalize.distinct import build_dictionaries, source_positions
from linkage.normalize.table import normalize_table
from linkage.pipeline import run
from linkage.rules import rules_hash
from linkage.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data_samples" / "sample"


def rules_with(tmp: Path, name: str, chunk: int, parallel_min: int) -> Path:
    d = tmp / name
    shutil.copytree(ROOT / "rules", d)
    p = d / "matching.yaml"
    text = p.read_text(encoding="utf-8")
    text, n_chunk = re.subn(r"normalise_chunk_rows: \d+", f"normalise_chunk_rows: {chunk}", text)
    text, n_min = re.subn(r"parallel_min_rows: \d+", f"parallel_min_rows: {parallel_min}", text)
    assert n_chunk == 1 and n_min == 1, "the engine settings in rules/matching.yaml changed their keys"
    p.write_text(text, encoding="utf-8")
    return d


def matches_of(tmp: Path, rules: Path):
    model = save_model(default_model(load_settings(rules), rules_hash(rules)), tmp / f"{rules.name}.json")
    res = run(SAMPLE / "wanted.csv", SAMPLE / "residents.csv", SAMPLE / "id_cards.csv", tmp / f"out_{rules.name}",
              rules=rules, model_path=model)
    return pq.read_table(res.matches).drop_columns(["run_id"])


def test_chunked_parallel_normalisation_gives_the_same_matches(tmp_path):
    whole = matches_of(tmp_path, rules_with(tmp_path, "whole", 500000, 10**9))
    chunked = matches_of(tmp_path, rules_with(tmp_path, "chunked", 4000, 1))  # 8 + 4 chunks, 2 processes
    assert whole.num_rows > 100
    assert chunked.equals(whole)


def _sources():
    return {s: read_source(SAMPLE / f"{s}.csv", s)[0] for s in ("wanted", "residents", "id_cards")}


def _workspace(tables) -> duckdb.DuckDBPyConnection:
    """An in-memory workspace holding the sources' tables, as ingest leaves them."""
    con = duckdb.connect()
    for name, table in tables.items():
        con.register(f"_{name}", table)
        con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM _{name}')
    return con


@pytest.mark.parametrize("piece_rows", [100_000, 997])
def test_dictionary_lookup_gives_the_columns_of_normalising_each_table(piece_rows):
    """All three sources' distinct values normalised once (in one piece, or in pieces of 997
    values), then looked up: every column, value and dtype as normalize_table on each source."""
    tables = _sources()
    con = _workspace(tables)
    dictionaries = build_dictionaries(con, list(tables), None, piece_rows)
    assert {"names", "dates", "places", "gender"} <= set(dictionaries)
    names = dictionaries["names"]
    assert len(names.values) < sum(t.num_rows for t in tables.values())  # the registers repeat names
    for name, table in tables.items():
        df = table.to_pandas()
        for lo, hi in ((0, len(df)), (0, 997), (997, 5000)):  # the whole table and chunks of it
            hi = min(hi, len(df))
            if hi <= lo:
                continue
            part = df.iloc[lo:hi]
            looked_up = normalize_table(part, name, dictionaries=dictionaries)
            pd.testing.assert_frame_equal(looked_up, normalize_table(part, name))
            # positions found by DuckDB's join, as the pipeline reads its chunks
            positions = source_positions(con, name, dictionaries).between(df["_row"].iloc[lo] - 1,
                                                                          df["_row"].iloc[hi - 1])
            joined = normalize_table(part, name, dictionaries=dictionaries, positions=positions)
            pd.testing.assert_frame_equal(joined, normalize_table(part, name))


@pytest.mark.parametrize("arrow", [False, True])
def test_a_chunk_prepared_in_arrow_is_the_chunk_prepared_from_its_frame(arrow):
    """The run prepares each source's chunks in Arrow from the dictionaries' rows
    (distinct.normalised_arrow): the same table as prepared_arrow over normalize_table's frame, with
    positions or without, from dictionaries kept as pandas frames or (as a run keeps them) built
    from Arrow pieces with no frame at all."""
    from linkage.pipeline import prepare_chunk
    from linkage.ingest.contract import KEY
    from linkage.prepare import prepared_arrow

    tables = _sources()
    con = _workspace(tables)
    dictionaries = build_dictionaries(con, list(tables), None, 3001, arrow=arrow)
    assert all((d.frame is None) == arrow for d in dictionaries.values())
    for name in ("wanted", "residents", "id_cards"):
        table = tables[name]
        where = source_positions(con, name, dictionaries)
        for lo, hi in ((0, table.num_rows), (97, 300), (997, 3000)):
            hi = min(hi, table.num_rows)
            if hi <= lo:
                continue
            raw = table.slice(lo, hi - lo)
            rows = raw.column("_row").to_pylist()
            want = prepared_arrow(normalize_table(raw.to_pandas(), name), KEY[name], name)
            assert want.num_rows == hi - lo and "full_name_norm" in want.column_names
            got = prepare_chunk(raw, name, None, dictionaries, where.between(rows[0] - 1, rows[-1]))
            assert got.equals(want)
            if not arrow:
                assert prepare_chunk(raw, name, None, dictionaries, {}).equals(want)  # looked up instead
            else:  # a run's dictionaries keep no values: positions are found beforehand
                with pytest.raises(RuntimeError, match="released its values"):
                    prepare_chunk(raw, name, None, dictionaries, {})
    for d in dictionaries.values():  # as a run does once every source's positions are found
        d.arrow_only()
    raw = tables["residents"].slice(10, 500)
    rows = raw.column("_row").to_pylist()
    where = source_positions(con, "residents", None)  # no dictionary columns: values looked up
    with pytest.raises(RuntimeError, match="released its values"):
        prepare_chunk(raw, "residents", None, dictionaries, where.between(rows[0] - 1, rows[-1]))


def test_dictionaries_built_from_arrow_pieces_hold_the_frames_rows():
    """`arrow=True` (a run's dictionaries): the workers' Arrow pieces, concatenated, are the rows
    the pandas frames give, kind by kind, in pieces small enough that some piece of a kind has a
    column with no value at all."""
    tables = _sources()
    con = _workspace(tables)
    frames = build_dictionaries(con, list(tables), None, 37)
    arrows = build_dictionaries(con, list(tables), None, 37, arrow=True)
    assert set(frames) == set(arrows) and {"names", "places", "marks", "dates"} <= set(arrows)
    for kind, d in frames.items():
        assert arrows[kind].values is None and arrows[kind].columns == d.columns
        n = len(d.values)
        assert arrows[kind].size == d.size == n
        every = np.arange(-1, n)
        assert arrows[kind].arrow_rows(every, d.columns).equals(d.arrow_rows(every, d.columns)), kind


def test_a_value_missing_from_the_dictionary_is_an_error():
    tables = _sources()
    con = duckdb.connect()
    con.register("_w", tables["wanted"])
    con.execute('CREATE TABLE "wanted" AS SELECT * FROM _w')
    dictionaries = build_dictionaries(con, ["wanted"], None, 1000)
    df = tables["residents"].to_pandas().iloc[:50]
    with pytest.raises(ValueError, match="not in this run's dictionary"):
        normalize_table(df, "residents", dictionaries=dictionaries)


def test_chunks_come_in_row_order_whatever_order_the_table_stores(tmp_path):
    """The chunks are read as stored (no sort per chunk); rows stored out of `_row` order (a
    Parquet file written by another engine) are put back in order, with their positions."""
    from linkage.normalize.distinct import Positions
    from linkage.pipeline import _chunks

    con = duckdb.connect()
    con.execute("CREATE TABLE residents AS SELECT i AS _row, 'v' || i AS x FROM range(1, 11) t(i) ORDER BY (i * 7) % 11")
    assert con.execute("SELECT list(_row) FROM residents").fetchall()[0][0] != list(range(1, 11))  # stored shuffled
    where = Positions(rows=np.arange(1, 11), columns={"x": np.arange(100, 110)})
    got = list(_chunks(con, "residents", 4, where))
    assert [raw.column("_row").to_pylist() for raw, _ in got] == [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10]]
    assert [raw.column("x").to_pylist() for raw, _ in got][2] == ["v9", "v10"]
    assert [p["x"].tolist() for _, p in got] == [[100, 101, 102, 103], [104, 105, 106, 107], [108, 109]]


def test_value_pieces_sent_to_workers_carry_only_their_values():
    """A worker gets a piece of a kind's distinct values, pickled; a slice would pickle its
    parent's whole buffers (all of the kind's values, once per piece)."""
    import pickle

    import pyarrow as pa

    from linkage.normalize.distinct import _pieces

    values = pa.array([f"Số {i} đường Lê Lợi, phường Bến Thành" for i in range(20_000)])
    pieces = list(_pieces(values, 1_000))
    assert pa.concat_arrays(pieces).equals(values)
    assert max(len(pickle.dumps(p)) for p in pieces) < len(pickle.dumps(values)) / 10


def test_dictionary_rows_taken_through_encoded_columns_are_the_plain_rows():
    """A dictionary keeps its columns of few values (a place's codes) dictionary-encoded for the
    chunks' takes; the rows it gives are the frame's own, nulls and the missing row included."""
    import pyarrow as pa

    from linkage.normalize.distinct import Dictionary

    n = 4000
    codes = pd.array([None if i % 7 == 0 else f"{i % 13:02d}" for i in range(n)] + [None], dtype="string")
    names = pd.array([f"tên {i}" for i in range(n)] + [None], dtype="string")
    frame = pd.DataFrame({"code": codes, "name": names, "year": pd.array(list(range(n)) + [None], dtype="Int32")})
    d = Dictionary("places", pa.array([f"v{i}" for i in range(n)]), frame)
    positions = np.random.default_rng(5).integers(-1, n, 3000)
    got = d.arrow_rows(positions, ["code", "name", "year"])
    assert pa.types.is_dictionary(d._table.schema.field("code").type)  # the path under test
    assert not pa.types.is_dictionary(d._table.schema.field("name").type)  # mostly distinct: left as is
    want = pa.Table.from_pandas(frame, preserve_index=False).take(pa.array(np.where(positions < 0, n, positions)))
    assert got.equals(want) and got.schema.equals(want.schema)
    d.arrow_only()  # as a run does once the wanted list is in: the pandas frame released
    assert d.frame is None and d.columns == ["code", "name", "year"]
    assert d.arrow_rows(positions, ["code", "name", "year"]).equals(want)
    with pytest.raises(RuntimeError, match="Arrow only"):
        d.rows(positions, pd.RangeIndex(len(positions)))


class _CountingPool:
    """A one-thread pool that counts the pieces given to it and not yet done."""

    def __init__(self) -> None:
        import threading
        from concurrent.futures import ThreadPoolExecutor

        self.inner, self.lock = ThreadPoolExecutor(1), threading.Lock()
        self.pending = self.most = self.given = 0

    def submit(self, fn, *args):
        with self.lock:
            self.pending, self.given = self.pending + 1, self.given + 1
            self.most = max(self.most, self.pending)
        job = self.inner.submit(fn, *args)
        job.add_done_callback(self._done)
        return job

    def _done(self, _job) -> None:
        with self.lock:
            self.pending -= 1


def test_workers_are_fed_a_few_pieces_at_a_time_and_a_failed_feed_stops_the_build():
    """The pieces go to the pool at most distinct._AHEAD at a time (a waiting piece is a copy of
    its values), all of them, and the rows are those of normalising in this process; a pool that
    refuses a piece fails the build instead of leaving a kind short."""
    from linkage.normalize.distinct import _AHEAD

    tables = _sources()
    con = _workspace(tables)
    pool = _CountingPool()
    fed = build_dictionaries(con, list(tables), None, 97, pool, arrow=True)
    here = build_dictionaries(con, list(tables), None, 97, arrow=True)
    assert pool.given > 4 * _AHEAD and 1 <= pool.most <= _AHEAD
    for kind, d in here.items():
        every = np.arange(-1, d.size)
        assert fed[kind].arrow_rows(every, d.columns).equals(d.arrow_rows(every, d.columns)), kind
    pool.inner.shutdown()
    with pytest.raises(RuntimeError, match="after shutdown"):
        build_dictionaries(con, list(tables), None, 97, pool.inner, arrow=True)


def test_the_runs_tables_stay_out_of_the_workspace_file(tmp_path, monkeypatch):
    """The rows' dictionary positions, like every table the run makes, live in the run's
    in-memory database, never in the workspace file (a commit there made DuckDB checkpoint the
    file: 10-12 s at 10M residents); the file keeps the ingested sources as ingest wrote them."""
    import linkage.pipeline as pipeline

    homes = []
    real = pipeline.source_positions

    def recording(con, source, kinds, into=None):
        stored = real(con, source, kinds, into=into)
        homes.append(con.execute(
            "SELECT database_name FROM duckdb_tables() WHERE table_name = ?", [into.split(".")[-1]]).fetchall())
        return stored

    monkeypatch.setattr(pipeline, "source_positions", recording)
    rules = rules_with(tmp_path, "chunked", 4000, 1)
    model = save_model(default_model(load_settings(rules), rules_hash(rules)), tmp_path / "model.json")
    res = run(SAMPLE / "wanted.csv", SAMPLE / "residents.csv", SAMPLE / "id_cards.csv", tmp_path / "out",
              rules=rules, model_path=model)
    assert sorted(homes) == [[("run_scratch",)]] * 3  # wanted, residents, id_cards
    con = duckdb.connect(str(tmp_path / "out" / "workspace.duckdb"), read_only=True)
    try:
        kept = sorted(r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall())
    finally:
        con.close()
    assert kept == ["id_cards", "residents", "wanted"]
    assert pq.read_table(res.matches).num_rows > 100
