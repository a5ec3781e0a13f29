"""The desk's index built from a wanted file and a model, without a workspace
(`linkage screen --wanted W --model M`): the file read and checked as ingest reads it, normalised
and prepared by the batch's own functions (normalize_table, add_wanted), each blocking rule's
wanted keys (rule_keys_sql), and the same ScreenIndex the workspace gives, so the same Screener
scores against it.

There is no register behind it, so two things the nightly takes from the register are stood in
for: the term frequencies are the wanted list's own shares of each value (wanted persons are
people of the same population; a value nobody on the list holds gets the model's TF minimum, as
in the batch) and the prior is that of a register of `register_persons` persons
(rules/screen.yaml). Every screened record is a new person and no wanted record has other
candidates to compete with. The probabilities are therefore the model's with these stand-ins,
not the nightly's: a workspace gives the batch's exact ones."""

from __future__ import annotations

import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from linkage.block import rule_keys_sql
from linkage.errors import InputError, UsageError
from linkage.ingest.contract import COLUMNS
from linkage.ingest.pipeline import read_source_checked
from linkage.model import load_model
from linkage.normalize.table import normalize_table
from linkage.prepare import REGISTER_UID, add_wanted, derived_sql, prepared_arrow
from linkage.screen.index import ScreenIndex, WantedKeys, _base_tf, key_hash
from linkage.settings import Settings
from linkage.workspace.nightly import _level_cols, _place_text, _tf_columns


def _register_schema(con: duckdb.DuckDBPyConnection, settings: Settings, rules: Path | None) -> pa.Table:
    """An empty register table with the columns a workspace's `reg` has (the prepare stage's
    vocabulary, person_idx, r_idx): the Screener selects a probe's columns by these names."""
    one = pd.DataFrame({c: pd.Series([None], dtype=object) for c in COLUMNS["residents"]})
    one["person_id"], one["full_name"] = "000000000000", "A"
    con.register("_prepared", prepared_arrow(normalize_table(one, "residents", rules=rules),
                                             REGISTER_UID["residents"], "residents"))
    try:
        table = con.sql(f"SELECT 0::BIGINT AS r_idx, *, 0::BIGINT AS person_idx FROM "
                        f"({derived_sql(_place_text(settings)).replace('{source}', '_prepared')}) LIMIT 0").to_arrow_table()
    finally:
        con.unregister("_prepared")
    return table


def load_wanted_index(wanted: Path, model_path: Path, settings: Settings, register_persons: int,
                      rules: Path | None = None, danger_column: str = "danger_level") -> ScreenIndex:
    """Read, check, normalise and index the wanted file; score with the model at `model_path`."""
    wanted, model_path = Path(wanted), Path(model_path)
    if not model_path.is_file():
        raise UsageError(f"--model {model_path}: no such file (a model written by `linkage train` or `linkage run`)")
    model = load_model(model_path, settings)
    read = read_source_checked(wanted, "wanted", rules)
    if read.accepted.num_rows == 0:
        raise InputError(f"{wanted}: no usable wanted record ({read.report.rows_quarantined} rows quarantined; "
                         "`linkage ingest` writes them with their reasons)")
    raw = read.accepted
    con = duckdb.connect(":memory:")
    try:
        con.execute(f"SET threads = {int(settings.engine.get('threads', 2))}")
        add_wanted(con, normalize_table(raw.to_pandas(), "wanted", rules=rules), _place_text(settings))
        w = con.sql("SELECT * FROM w ORDER BY w_idx").to_arrow_table().combine_chunks()
        n_w = w.num_rows
        w_row = np.arange(n_w, dtype=np.int64)  # add_wanted numbers the records 0..n-1 in file order
        if danger_column in raw.column_names:
            con.register("_raw", raw.select([danger_column]))
            danger = np.asarray(con.sql(f"SELECT lower(trim(nfc_normalize({danger_column}))) AS d FROM _raw")
                                .to_arrow_table().column("d").to_pylist(), dtype=object)
            con.unregister("_raw")
        else:
            danger = np.full(n_w, None, dtype=object)
        keys = []
        for rule in settings.blocking:
            got = con.sql(f"SELECT w_idx, CAST(k AS VARCHAR) AS k FROM ({rule_keys_sql(con, rule, 'l', 'w')})").fetchnumpy()
            h = key_hash(np.asarray(got["k"], dtype=object))
            order = np.argsort(h, kind="stable")
            keys.append(WantedKeys(h[order], np.asarray(got["w_idx"], dtype=np.int64)[order]))
        # the wanted list's shares stand in for the register's: records holding each value
        tf_counts: dict[str, dict[str, int]] = {}
        w_tf_n: dict[str, np.ndarray] = {}
        for col in _tf_columns(settings):
            rows = con.execute(f"""SELECT CAST({col} AS VARCHAR), count(*) FROM
                                   (SELECT DISTINCT w_idx, {col} FROM w WHERE {col} IS NOT NULL) GROUP BY 1""").fetchall()
            tf_counts[col] = {v: int(n) for v, n in rows}
            got = con.execute(f"""SELECT coalesce(t.n, 0) AS n FROM w LEFT JOIN
                                  (SELECT CAST({col} AS VARCHAR) AS v, count(*) AS n FROM
                                   (SELECT DISTINCT w_idx, {col} FROM w WHERE {col} IS NOT NULL) GROUP BY 1) t
                                  ON t.v = CAST(w.{col} AS VARCHAR) ORDER BY w.w_idx""").fetchnumpy()
            w_tf_n[col] = np.asarray(got["n"], dtype=np.int64)
        tf_totals = {c: sum(v.values()) for c, v in tf_counts.items()}
        reg = _register_schema(con, settings, rules)
    finally:
        con.close()
    n_levels = len(_level_cols(settings))
    st = wanted.stat()
    empty = np.zeros(0, dtype=np.int64)
    return ScreenIndex(
        workspace=wanted, stamp=(st.st_mtime_ns, st.st_size), loaded_at=time.time(), last_night="",
        model=model, model_path=str(model_path), n_persons=int(register_persons), w=w, w_row=w_row,
        wanted_id=np.asarray(w.column("uid").to_pylist(), dtype=object), danger_level=danger, keys=keys,
        tf_counts=tf_counts, tf_totals=tf_totals, w_tf_n=w_tf_n,
        cand_w=empty, cand_person=empty, cand_rules=empty, cand_levels=np.zeros((0, n_levels), np.int8),
        cand_start=np.zeros(n_w + 1, dtype=np.int64), cand_total=np.zeros(0, np.float64),
        base_tf=_base_tf(settings, w, w_tf_n, tf_totals),
        uids=np.zeros(0, dtype=object), uid_person=empty, place=empty, reg=reg, reg_person=empty,
    )
