"""The in-memory index of a workspace that a desk screens against: the normalised wanted list, each
blocking rule's wanted keys (hashed, sorted: a record's keys are looked up, never joined against
the register), the TF counts, the model and prior, and every current candidate pair's levels (a
wanted record's candidates compete for its one-person probability). Loaded once from the
workspace's DuckDB file, read-only and closed again, so the nightly job is never locked out; a
person's stored register records are exported to a memory-mapped Arrow file (the register's size
costs disk and page cache, not a request's time)."""

from __future__ import annotations

import functools
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from linkage.errors import RulesError, UsageError
from linkage.ingest.contract import KEY
from linkage.model import Model, WeightPlan, load_model, weight_plan
from linkage.settings import Settings
from linkage.workspace import store
from linkage.workspace.nightly import KEYS_W, _level_cols, _tf_columns

CACHE = "screen/cache"  # under the workspace: the desk's own folder (keys, audit log, this cache)


def key_hash(keys: np.ndarray) -> np.ndarray:
    """Stable 64-bit hashes of key strings (vectorised): the index stores these, not the strings."""
    if not len(keys):
        return np.zeros(0, dtype=np.uint64)
    return pd.util.hash_array(np.asarray(keys, dtype=object), categorize=False)


def generation(workspace: Path, ignore_lock: bool = False) -> tuple[int, int] | None:
    """The workspace file's (mtime_ns, size): a finished night changes it. None while a night holds
    the lock (its tables are changing) or when there is no workspace."""
    db = Path(workspace) / store.DB
    if (not ignore_lock and (Path(workspace) / store.LOCK).exists()) or not db.is_file():
        return None
    st = db.stat()
    return st.st_mtime_ns, st.st_size


@dataclass
class WantedKeys:
    """One blocking rule's wanted keys: sorted hashes and the w_idx of each."""

    hashes: np.ndarray
    w_idx: np.ndarray


@dataclass
class ScreenIndex:
    workspace: Path
    stamp: tuple[int, int]
    loaded_at: float
    last_night: str
    model: Model
    model_path: str
    n_persons: int
    w: pa.Table  # the workspace's `w`, in w_idx order
    w_row: np.ndarray  # w_idx -> row of `w` (-1: no such record)
    wanted_id: np.ndarray  # per row of `w`
    danger_level: np.ndarray  # per row of `w`, lower case (None: not given)
    keys: list[WantedKeys]  # per blocking rule (settings order)
    tf_counts: dict[str, dict[str, int]]
    tf_totals: dict[str, int]
    w_tf_n: dict[str, np.ndarray]  # per TF column, per row of `w`: persons holding the record's value
    cand_w: np.ndarray  # current candidate pairs, sorted by w_idx
    cand_person: np.ndarray
    cand_rules: np.ndarray
    cand_levels: np.ndarray  # n_pairs x comparisons, int8
    cand_start: np.ndarray  # w_idx -> first pair (size max_w + 2)
    cand_total: np.ndarray  # each pair's match weight with the stored TF counts and prior
    base_tf: dict[str, dict[int, np.ndarray]]  # per TF level, per row of `w`: its value's frequency
    uids: np.ndarray  # person ids, sorted
    uid_person: np.ndarray  # person_idx of each sorted uid
    place: np.ndarray  # person_idx -> place in person_id order
    reg: pa.Table  # stored register records sorted by person_idx (memory-mapped), with `fp`
    reg_person: np.ndarray  # person_idx column of `reg`
    prepare_hash: str = ""  # the night's normalisation rules (stage_hashes' "prepare"): "" = none stored
    person_cand: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # pairs by person_idx
    person_cand_start: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))  # person -> first
    register_values: dict[str, pa.Array] = field(default_factory=dict)  # column -> its distinct raw values

    @functools.cached_property
    def reg_layout(self) -> tuple[list[str], pa.Schema, pa.Table]:
        """The register columns a call's records carry (all but r_idx, person_idx and fp), their
        schema, and the register with those columns then fp (zero-copy): read once, not per call."""
        names = [c for c in self.reg.schema.names if c not in ("r_idx", "person_idx", "fp")]
        target = pa.schema([self.reg.schema.field(c) for c in names])
        return names, target, self.reg.select(names + ["fp"] * ("fp" in self.reg.schema.names))

    @functools.cached_property
    def weight_plan(self) -> WeightPlan:
        """The model's weight tables, read once per loaded index (a call weighs a few pairs)."""
        return weight_plan(self.model)

    def person_idx(self, person_id: str) -> int | None:
        i = int(np.searchsorted(self.uids, person_id))
        if i < len(self.uids) and self.uids[i] == person_id:
            return int(self.uid_person[i])
        return None

    def person_place(self, person_id: str) -> float:
        """The person's place in person_id order; a new person sits between its neighbours."""
        known = self.person_idx(person_id)
        if known is not None:
            return float(self.place[known])
        return float(np.searchsorted(self.uids, person_id)) - 0.5

    def stored_records(self, person_idx: int) -> pa.Table:
        lo, hi = np.searchsorted(self.reg_person, [person_idx, person_idx + 1])
        return self.reg.slice(int(lo), int(hi - lo))

    def candidates_of(self, w_idx: int) -> slice:
        if w_idx + 1 >= len(self.cand_start):
            return slice(0, 0)
        return slice(int(self.cand_start[w_idx]), int(self.cand_start[w_idx + 1]))


def _meta(con: duckdb.DuckDBPyConnection, key: str) -> str | None:
    rows = con.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchall()
    return rows[0][0] if rows else None


def _column(con: duckdb.DuckDBPyConnection, sql: str) -> dict[str, np.ndarray]:
    return {k: np.asarray(v) for k, v in con.execute(sql).fetchnumpy().items()}


def _export_reg(con: duckdb.DuckDBPyConnection, workspace: Path, stamp: tuple[int, int]) -> pa.Table:
    """The register records sorted by person, as an Arrow IPC file under the workspace's cache
    folder (one per generation, older ones removed), memory-mapped."""
    cache = Path(workspace) / CACHE
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / f"reg-fp-{stamp[0]}-{stamp[1]}.arrow"
    if not target.is_file():
        tmp = cache / f".{target.name}.{os.getpid()}.tmp"
        # each record's source fingerprint (`fp`: NULL where its key is not one raw record's), so a
        # record screened exactly as stored can take its stored row (engine.Screener._prepared)
        raw = " UNION ALL ".join(f"""SELECT '{s}' AS src, {KEY[s]} AS uid,
                                     CASE WHEN count(DISTINCT fp) = 1 AND count(*) = 1 THEN any_value(fp) END AS fp
                                     FROM raw_{s} GROUP BY {KEY[s]}""" for s in ("residents", "id_cards"))
        reader = con.sql(f"""SELECT g.*, f.fp FROM reg g LEFT JOIN ({raw}) f USING (src, uid)
                             ORDER BY g.person_idx, g.r_idx""").to_arrow_reader(batch_size=65_536)
        with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, reader.schema) as writer:
            for batch in reader:
                writer.write_batch(batch)
        os.replace(tmp, target)
    for old in cache.glob("reg-*.arrow"):
        if old != target:
            try:
                old.unlink()
            except OSError:
                pass
    return pa.ipc.open_file(pa.memory_map(str(target), "r")).read_all()


def load_index(workspace: Path, settings: Settings, danger_column: str = "danger_level",
               locked: bool = False, value_columns: tuple[str, ...] = ()) -> ScreenIndex:
    """Read what screening needs from the workspace (read-only), then close it. `locked`: the
    caller holds the workspace's lock (a reload), so the lock file is ours, not a night's."""
    workspace = Path(workspace)
    stamp = generation(workspace, ignore_lock=locked)
    if stamp is None:
        if not (workspace / store.DB).is_file():
            raise UsageError(f"--workspace {workspace}: no workspace there ({store.DB} missing); "
                             "build one with `linkage nightly`")
        raise UsageError(f"--workspace {workspace}: a night is running ({store.LOCK}); try again when it ends")
    con = duckdb.connect(str(workspace / store.DB), read_only=True)
    try:
        con.execute(f"SET threads = {int(settings.engine.get('threads', 2))}")
        index = _load(con, workspace, settings, stamp, danger_column)
        index.register_values = _register_values(con, value_columns)
        return index
    finally:
        con.close()


def _load(con, workspace: Path, settings: Settings, stamp, danger_column: str) -> ScreenIndex:
    model_path = _meta(con, "model_path")
    if not model_path or not Path(model_path).is_file():
        raise RulesError(f"{workspace}: the workspace's model file is missing ({model_path}); run a night first")
    want = json.dumps([[r.name, r.left, r.right, r.year_window] for r in settings.blocking])
    if _meta(con, "blocking_keys") != want:
        raise RulesError(f"{workspace}: the workspace's blocking keys were built with other blocking rules than "
                         f"{settings.path}; run a night with these rules first")
    model = load_model(Path(model_path), settings)
    # one chunk: a request takes a few rows, and take() on a many-chunked table concatenates it first
    w = con.sql("SELECT * FROM w ORDER BY w_idx").to_arrow_table().combine_chunks()
    w_idx = np.asarray(w.column("w_idx").to_numpy(), dtype=np.int64)
    w_row = np.full(int(w_idx.max()) + 1 if len(w_idx) else 0, -1, dtype=np.int64)
    w_row[w_idx] = np.arange(len(w_idx))
    dl = con.execute(f"""SELECT lower(trim(nfc_normalize(r.{danger_column}))) FROM w
                         LEFT JOIN raw_wanted r ON r.wanted_id = w.uid ORDER BY w.w_idx""").fetchnumpy()
    danger = np.asarray(list(dl.values())[0], dtype=object)
    keys = []
    for bit in range(len(settings.blocking)):
        got = con.execute(f"SELECT w_idx, CAST(k AS VARCHAR) AS k FROM {KEYS_W.format(bit=bit)}").fetchnumpy()
        h = key_hash(np.asarray(got["k"], dtype=object))
        order = np.argsort(h, kind="stable")
        keys.append(WantedKeys(h[order], np.asarray(got["w_idx"], dtype=np.int64)[order]))
    tf_counts: dict[str, dict[str, int]] = {c: {} for c in _tf_columns(settings)}
    for col, value, n in con.execute("SELECT col, value, n FROM tf_counts").fetchall():
        tf_counts.setdefault(col, {})[value] = int(n)
    tf_totals = {c: sum(v.values()) for c, v in tf_counts.items()}
    w_tf_n = {}
    for col in tf_counts:
        got = con.execute(f"""SELECT coalesce(t.n, 0) AS n FROM w LEFT JOIN tf_counts t
                              ON t.col = '{col}' AND t.value = CAST(w.{col} AS VARCHAR) ORDER BY w.w_idx""").fetchnumpy()
        w_tf_n[col] = np.asarray(got["n"], dtype=np.int64)
    cand_w, cand_person, cand_rules, levels = _candidates(con, settings)
    cand_start = np.searchsorted(cand_w, np.arange(len(w_row) + 1))
    person_cand = np.argsort(cand_person, kind="stable").astype(np.int32 if len(cand_person) < 2**31 else np.int64)
    persons = _column(con, "SELECT uid, person_idx FROM persons ORDER BY uid")
    uids = np.asarray(persons["uid"], dtype=object)
    uid_person = np.asarray(persons["person_idx"], dtype=np.int64)
    place = np.zeros(int(uid_person.max()) + 1 if len(uid_person) else 0, dtype=np.int64)
    place[uid_person] = np.arange(len(uid_person))
    person_cand_start = np.searchsorted(cand_person[person_cand], np.arange(len(place) + 1))
    n_persons = con.execute("SELECT count(DISTINCT person_idx) FROM reg").fetchall()[0][0]
    base_tf = _base_tf(settings, w, w_tf_n, tf_totals)
    cand_total = _cand_totals(settings, model, int(n_persons), levels, w_row[cand_w], base_tf)
    reg = _export_reg(con, workspace, stamp)
    return ScreenIndex(
        workspace=workspace, stamp=stamp, loaded_at=time.time(),
        last_night=str(_meta(con, "last_night") or ""), model=model, model_path=str(model_path),
        n_persons=int(n_persons), w=w, w_row=w_row, wanted_id=np.asarray(w.column("uid").to_pylist(), dtype=object),
        danger_level=danger, keys=keys, tf_counts=tf_counts, tf_totals=tf_totals, w_tf_n=w_tf_n,
        cand_w=cand_w, cand_person=cand_person, cand_rules=cand_rules, cand_levels=levels, cand_start=cand_start,
        cand_total=cand_total, base_tf=base_tf,
        uids=uids, uid_person=uid_person, place=place, reg=reg,
        reg_person=np.asarray(reg.column("person_idx").to_numpy(), dtype=np.int64),
        prepare_hash=str(json.loads(_meta(con, "stage_hashes") or "{}").get("prepare", "")),
        person_cand=person_cand, person_cand_start=person_cand_start,
    )


def _register_values(con: duckdb.DuckDBPyConnection, columns: tuple[str, ...]) -> dict[str, pa.Array]:
    """The distinct raw values of these columns over the stored residents and cards (a column
    neither holds is left out)."""
    out = {}
    held = {t: {r[0] for r in con.execute("SELECT column_name FROM information_schema.columns WHERE table_name = ?",
                                          [t]).fetchall()} for t in ("raw_residents", "raw_id_cards")}
    for col in columns:
        parts = [f'SELECT "{col}" AS v FROM {t}' for t, cols in held.items() if col in cols]
        if parts:
            out[col] = con.sql(f"SELECT DISTINCT v FROM ({' UNION ALL '.join(parts)}) WHERE v IS NOT NULL"
                               ).to_arrow_table().column(0).combine_chunks().cast(pa.string())
    return out


def _candidates(con: duckdb.DuckDBPyConnection, settings: Settings,
                batch: int = 1_000_000) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The current candidate pairs sorted by (w_idx, person_idx): streamed from DuckDB in batches
    into arrays sized once, then sorted here. Fetching them whole with ORDER BY held DuckDB's
    sorted result and numpy's copy of it (and a stacked copy of the levels) at once: the index
    load's peak memory (4.3 GB at 1M residents / 16.9M pairs)."""
    gcols = _level_cols(settings)
    n = int(con.execute("SELECT count(*) FROM cand").fetchall()[0][0])
    w = np.empty(n, np.int64)
    person = np.empty(n, np.int64)
    rules = np.empty(n, np.int64)
    levels = np.empty((n, len(gcols)), np.int8)
    at = 0
    reader = con.sql(f"SELECT w_idx, person_idx, rules{''.join(', ' + g for g in gcols)} FROM cand"
                     ).to_arrow_reader(batch_size=batch)
    for rb in reader:
        k = rb.num_rows
        if at + k > n:
            raise RuntimeError("the workspace's candidate table changed while it was read")
        w[at:at + k] = rb.column("w_idx").to_numpy()
        person[at:at + k] = rb.column("person_idx").to_numpy()
        rules[at:at + k] = rb.column("rules").to_numpy()
        for j, g in enumerate(gcols):
            levels[at:at + k, j] = rb.column(g).fill_null(-1).to_numpy()
        at += k
    if at != n:
        raise RuntimeError("the workspace's candidate table changed while it was read")
    dw, dp = np.diff(w), np.diff(person)
    if not np.all((dw > 0) | ((dw == 0) & (dp > 0))):  # a night writes them in order; else sort here
        order = np.lexsort((person, w))
        w, person, rules = w[order], person[order], rules[order]
        levels = levels[order]
    return w, person, rules, levels


def _base_tf(settings: Settings, w: pa.Table, w_tf_n: dict[str, np.ndarray],
             totals: dict[str, int]) -> dict[str, dict[int, np.ndarray]]:
    """Per TF level and wanted record, the stored frequency of its value (NaN: nobody holds it),
    as the batch's TF table gives it (a value's persons over the column's total)."""
    out: dict[str, dict[int, np.ndarray]] = {}
    for c in settings.comparisons:
        for level_id, col in c.tf.items():
            n = w_tf_n[col].astype(np.float64)
            has = np.asarray(w.column(col).is_valid().to_numpy(zero_copy_only=False), bool) & (n > 0)
            tf = np.full(len(n), np.nan)
            tf[has] = n[has] / float(totals.get(col, 0))
            out.setdefault(c.name, {})[c.level_ids().index(level_id)] = tf
    return out


def _cand_totals(settings: Settings, model: Model, n_persons: int, levels: np.ndarray, rows: np.ndarray,
                 base_tf: dict[str, dict[int, np.ndarray]], size: int = 1_000_000) -> np.ndarray:
    """Every current candidate's match weight as the night scored it (prior + summed weights),
    in slices of rows (the TF values of a slice only)."""
    from linkage.model import prior_weight, run_prior
    from linkage.score import weight_sums

    prior = prior_weight(run_prior(model, n_persons))
    out = np.empty(len(levels), dtype=np.float64)
    threads = int(settings.engine.get("threads", 2))
    for lo in range(0, len(levels), size):
        sl = slice(lo, lo + size)
        tf = {name: {k: v[rows[sl]] for k, v in per.items()} for name, per in base_tf.items()}
        out[sl] = prior + weight_sums(levels[sl], model, tf, threads)
    return out


def clear_cache(workspace: Path) -> None:
    shutil.rmtree(Path(workspace) / CACHE, ignore_errors=True)
