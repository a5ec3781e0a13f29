"""The night's flow: read tonight's inputs -> find what changed (fingerprints) -> normalise only
new and changed records -> (one transaction) store them, retire the candidates of changed and
removed records, block new/changed wanted x whole register and whole wanted list x new/changed
register persons with the rules' own SQL, compare only those pairs -> rescore every current
candidate with tonight's term frequencies and prior -> write the night's folder.

Incremental equals full: a pair's levels depend only on its wanted record and its person's
register records, so recomputing every pair that touches a changed record gives the candidate set
a full run would; scoring (TF, prior, ranks, one-person probability) is redone on all of them.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import time
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from itertools import islice
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Iterator

import duckdb
import numpy as np
import pyarrow as pa

from linkage import __version__
from linkage.compare import Gammas, compare
from linkage.errors import InputError, RulesError, UsageError
from linkage.ingest.contract import COLUMNS, KEY, SOURCES
from linkage.model import Model, load_model, save_model
from linkage.normalize.table import normalize_table
from linkage.outputs import fingerprint as file_fingerprint
from linkage.pipeline import peak_rss_mb, prepare_chunk, summarise_warnings
from linkage.prepare import derived_sql, prepared_arrow, uses_place_text
from linkage.progress import Reporter
from linkage.rules import rules_dir, rules_hash
from linkage.score import score
from linkage.settings import Settings, load_settings
from linkage.block import block, rule_keys_sql
from linkage.train import train
from linkage.workspace import store
from linkage.workspace.config import NightlyConfig, load_config
from linkage.workspace.stages import stage_hashes, stages_to_redo
from linkage.workspace.delta import (SourceDelta, SourceInput, add_missing_columns, apply_raw, check_inputs, classify,
                                     raw_table)

KILL_ENV = "LINKAGE_TEST_KILL_AFTER"  # tests only: the process kills itself (SIGKILL) after this stage


def checkpoint(stage: str) -> None:
    """Stage boundary. Under test, `LINKAGE_TEST_KILL_AFTER=<stage>` kills the process here with
    SIGKILL, as an operator's `kill -9` would, to show a rerun ends where an uninterrupted night does."""
    if os.environ.get(KILL_ENV) == stage:
        os.kill(os.getpid(), signal.SIGKILL)


@dataclass
class Night:
    """State of one night: the workspace connection, settings and what each stage measured."""

    night: str
    workspace: Path
    con: duckdb.DuckDBPyConnection
    settings: Settings
    config: NightlyConfig
    rules: Path | None
    reporter: Reporter
    timings: dict[str, float] = field(default_factory=dict)
    memory: dict[str, float] = field(default_factory=dict)
    counts: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    deltas: dict[str, SourceDelta] = field(default_factory=dict)
    engine: Any = None  # linkage.backends.spark.nightly.SparkNight for --engine spark; None: DuckDB here

    def say(self, message: str) -> None:
        self.reporter.say(message)

    def warn(self, message: str) -> None:
        self.warnings.append(message)
        self.say(f"warning: {message}")

    def stage(self, name: str, total: int | None = None):
        return _Stage(self, name, total)


class _Stage:
    def __init__(self, night: Night, name: str, total: int | None) -> None:
        self.night, self.name, self.total = night, name, total

    def __enter__(self) -> Reporter:
        self.t0 = time.perf_counter()
        self.cm = self.night.reporter.stage(self.name, self.total)
        return self.cm.__enter__()

    def __exit__(self, *exc: Any) -> None:
        self.cm.__exit__(*exc)
        if exc[0] is None:
            self.night.timings[self.name] = round(time.perf_counter() - self.t0, 3)
            self.night.memory[self.name] = peak_rss_mb()


@dataclass
class NightResult:
    night: str
    night_dir: Path
    matches: Path
    manifest: Path
    report: Path | None
    model_path: Path
    counts: dict[str, Any]
    timings: dict[str, float]
    alerts: list[dict[str, Any]]
    warnings: list[str]
    run_id: str


def night_date(value: str | None) -> str:
    """--date YYYY-MM-DD (default: today), checked."""
    if value is None:
        return date.today().isoformat()
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise UsageError(f"--date {value!r}: expected YYYY-MM-DD") from None


# ---------------------------------------------------------------------------------------------
# preparing records: the same normalisation and derived SQL as a run, on the records that changed


def _place_text(settings: Settings) -> bool:
    return uses_place_text([r.left + r.right + (r.filter or "") for r in settings.blocking]
                           + [str(c.params) for c in settings.comparisons])


def _todo_sql(source: str) -> str:
    """The contract rows to prepare tonight: added and changed records, from tonight's input or,
    for a rules rebuild, from the stored raw records."""
    key = KEY[source]
    cols = ", ".join(COLUMNS[source])
    return f"""
        SELECT {cols} FROM (
            SELECT {cols} FROM in_{source} WHERE {key} IN (SELECT key FROM chg_{source} WHERE kind <> 'removed')
            UNION ALL
            SELECT {cols} FROM {raw_table(source)}
            WHERE {key} IN (SELECT key FROM chg_{source} WHERE kind = 'changed')
              AND {key} NOT IN (SELECT {key} FROM in_{source})
        ) ORDER BY {key}
    """


def _chunks(con: duckdb.DuckDBPyConnection, sql: str, size: int) -> Iterator[pa.Table]:
    """The rows in slices of `size` (fetched first: the connection loads each slice meanwhile)."""
    whole = con.sql(sql).to_arrow_table()
    for lo in range(0, whole.num_rows, size):
        yield whole.slice(lo, size)


def _append(con: duckdb.DuckDBPyConnection, table: pa.Table, into: str, place_text: bool) -> int:
    """Prepared Arrow records -> the engine's vocabulary (prepare.derived_sql) in temp table `into`."""
    if not len(table):
        return 0
    con.register("_prepared", table)
    try:
        verb = f"INSERT INTO {into} BY NAME" if store.has_temp(con, into) else f"CREATE TEMP TABLE {into} AS"
        con.execute(f"{verb} {derived_sql(place_text).replace('{source}', '_prepared')}")
    finally:
        con.unregister("_prepared")
    return len(table)


def _prepare_wanted(raw: pa.Table, rules: Path | None) -> pa.Table:
    return prepared_arrow(normalize_table(raw.to_pandas(), "wanted", rules=rules), "wanted_id", "wanted")


def prepare_changed(n: Night, bar: Reporter) -> dict[str, int]:
    """Temp tables `prep_w` and `prep_reg`: tonight's added and changed records, normalised. Large
    batches (the first night) are normalised in worker processes, as a run does."""
    con, eng = n.con, n.settings.engine
    size = int(eng.get("normalise_chunk_rows", 500_000))
    workers = int(eng.get("threads", 2))
    place = _place_text(n.settings)
    for t in ("prep_w", "prep_reg"):
        con.execute(f"DROP TABLE IF EXISTS {t}")
    done = {}
    for raw in _chunks(con, _todo_sql("wanted"), size):
        done["wanted"] = done.get("wanted", 0) + _append(con, _prepare_wanted(raw, n.rules), "prep_w", place)
        bar.advance(len(raw))
    regs = ["residents", "id_cards"]
    if n.engine is not None:  # the register's records normalised on Spark
        done.update(n.engine.normalise(con, {s: _todo_sql(s) for s in regs}, place, bar))
        return done
    rows = sum(con.execute(f"SELECT count(*) FROM ({_todo_sql(s)})").fetchall()[0][0] for s in regs)
    if workers < 2 or rows < int(eng.get("parallel_min_rows", 200_000)):
        for s in regs:
            for raw in _chunks(con, _todo_sql(s), size):
                done[s] = done.get(s, 0) + _append(con, prepare_chunk(raw, s, n.rules), "prep_reg", place)
                bar.advance(len(raw))
        return done
    # at most `workers` chunks in flight, in submission order (as a run's normalisation does)
    jobs = ((s, raw) for s in regs for raw in _chunks(con, _todo_sql(s), size))
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        pending = deque((s, pool.submit(prepare_chunk, raw, s, n.rules)) for s, raw in islice(jobs, workers))
        while pending:
            s, fut = pending.popleft()
            got = fut.result()
            pending.extend((s2, pool.submit(prepare_chunk, raw, s2, n.rules)) for s2, raw in islice(jobs, 1))
            done[s] = done.get(s, 0) + _append(con, got, "prep_reg", place)
            bar.advance(len(got))
    return done


# ---------------------------------------------------------------------------------------------
# the transaction: store records, retire and rebuild the candidates that touch them


def _ensure_like(con: duckdb.DuckDBPyConnection, table: str, like: str, extra: str) -> None:
    """Create persistent `table` with the columns of temp table `like` plus `extra` ones; a table
    an older version created gets the columns it lacks (NULL until its records are prepared again)."""
    if not store.has_table(con, table):
        con.execute(f"CREATE TABLE {table} AS SELECT {extra} * FROM {like} WHERE FALSE")
        return
    add_missing_columns(con, table, {name: kind for name, kind, *_ in con.execute(f"DESCRIBE {like}").fetchall()})


def _empty_prepared(con: duckdb.DuckDBPyConnection, place: bool) -> None:
    """Empty prep tables with the right columns when nothing of a kind changed tonight."""
    for t in ("prep_w", "prep_reg"):
        if not store.has_temp(con, t):
            empty = prepared_arrow(_empty_frame(), "wanted_id", "wanted")
            con.register("_prepared", empty)
            con.execute(f"CREATE TEMP TABLE {t} AS {derived_sql(place).replace('{source}', '_prepared')}")
            con.unregister("_prepared")


def _empty_frame():
    import pandas as pd

    return pd.DataFrame({"wanted_id": pd.Series([], dtype=object)})


def store_records(n: Night) -> None:
    """Raw records, numbering (stable w_idx / person_idx, never reused) and prepared tables."""
    con = n.con
    for s in SOURCES:
        apply_raw(con, s, n.night)
    con.execute("""INSERT INTO wanted_ids SELECT uid, (SELECT coalesce(max(w_idx), -1) FROM wanted_ids)
                   + row_number() OVER (ORDER BY uid) FROM (SELECT DISTINCT uid FROM prep_w ANTI JOIN wanted_ids USING (uid))""")
    con.execute("""INSERT INTO persons SELECT uid, (SELECT coalesce(max(person_idx), -1) FROM persons)
                   + row_number() OVER (ORDER BY uid) FROM (SELECT DISTINCT uid FROM prep_reg ANTI JOIN persons USING (uid))""")
    _ensure_like(con, "w", "prep_w", "0::BIGINT AS w_idx,")
    _ensure_like(con, "reg", "prep_reg", "0::BIGINT AS r_idx, 0::BIGINT AS person_idx,")
    con.execute("DELETE FROM w WHERE uid IN (SELECT key FROM chg_wanted)")
    con.execute("INSERT INTO w BY NAME SELECT p.*, i.w_idx FROM prep_w p JOIN wanted_ids i USING (uid) ORDER BY i.w_idx")
    gone = """(src = 'residents' AND uid IN (SELECT key FROM chg_residents))
              OR (src = 'id_cards' AND uid IN (SELECT key FROM chg_id_cards))"""
    con.execute(f"CREATE OR REPLACE TEMP TABLE gone_r AS SELECT r_idx FROM reg WHERE {gone}")
    top = con.execute("SELECT coalesce(max(r_idx), -1) FROM reg").fetchall()[0][0]
    con.execute(f"DELETE FROM reg WHERE {gone}")
    # numbers after the highest ever given (never reused: the stored keys of a removed record are
    # found by its number, and tonight's records are those above `top`)
    con.execute(f"""INSERT INTO reg BY NAME SELECT p.*, i.person_idx,
                   {int(top)} + row_number() OVER (ORDER BY p.src DESC, p.uid) AS r_idx
                   FROM prep_reg p JOIN persons i USING (uid)""")
    con.execute(f"CREATE OR REPLACE TEMP TABLE new_r AS SELECT r_idx FROM reg WHERE r_idx > {int(top)}")
    con.execute("""CREATE OR REPLACE TEMP TABLE dirty_w AS SELECT w_idx FROM wanted_ids
                   WHERE uid IN (SELECT key FROM chg_wanted)""")
    con.execute("""CREATE OR REPLACE TEMP TABLE dirty_p AS SELECT person_idx FROM persons
                   WHERE uid IN (SELECT key FROM chg_residents UNION SELECT key FROM chg_id_cards)""")


KEYS_W, KEYS_REG = "keys_w_{bit}", "keys_reg_{bit}"


def keep_keys(n: Night, full: bool) -> None:
    """Each blocking rule's keys of every wanted and register record, stored (tables keys_w_<i>,
    keys_reg_<i>, i = the rule's place in matching.yaml) so a night keys only its changed records:
    built whole on a first night, a rules rebuild or a workspace without them; otherwise the keys
    of removed and changed records are deleted and those of added and changed ones inserted."""
    con, rules = n.con, n.settings.blocking
    want = json.dumps([[r.name, r.left, r.right, r.year_window] for r in rules])
    stored = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE NOT temporary "
                                        "AND (table_name LIKE 'keys_w_%' OR table_name LIKE 'keys_reg_%')").fetchall()}
    whole = full or store.get_meta(con, "blocking_keys") != want
    if not whole:
        con.execute("CREATE OR REPLACE TEMP TABLE new_reg AS SELECT * FROM reg WHERE r_idx IN (SELECT r_idx FROM new_r)")
    try:
        if whole:
            for t in sorted(stored):
                con.execute(f"DROP TABLE {t}")
        for bit, rule in enumerate(rules):
            kw, kr = KEYS_W.format(bit=bit), KEYS_REG.format(bit=bit)
            if whole:
                con.execute(f"CREATE TABLE {kw} AS {rule_keys_sql(con, rule, 'l', 'w')}")
                if n.engine is not None:  # the whole register keyed on Spark
                    n.engine.register_keys(con, rules, bit, kr)
                else:
                    con.execute(f"CREATE TABLE {kr} AS {rule_keys_sql(con, rule, 'r', 'reg')}")
                continue
            con.execute(f"DELETE FROM {kw} WHERE w_idx IN (SELECT w_idx FROM dirty_w)")
            con.execute(f"INSERT INTO {kw} {rule_keys_sql(con, rule, 'l', 'dirty_wt')}")
            con.execute(f"DELETE FROM {kr} WHERE r_idx IN (SELECT r_idx FROM gone_r)")
            con.execute(f"INSERT INTO {kr} {rule_keys_sql(con, rule, 'r', 'new_reg')}")
    except duckdb.Error as exc:
        raise RulesError(f"blocking rule '{rule.name}': invalid key expression: {exc}") from None
    store.set_meta(con, "blocking_keys", want)


def _key_columns(con: duckdb.DuckDBPyConnection, settings: Settings) -> str:
    """The register columns the rules' keys read (every column a key expression names, and the
    numbers and birth year), so keying a night's records reads no more of the register."""
    exprs = " ".join(r.right for r in settings.blocking)
    if "*" in exprs or "columns(" in exprs.lower():
        return "*"
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", exprs)) | {"r_idx", "person_idx", "birth_year"}
    return ", ".join(c for (c, *_) in con.execute("DESCRIBE reg").fetchall() if c in words)


def _level_cols(settings: Settings) -> list[str]:
    return [f"g_{c.name}" for c in settings.comparisons]


def screen(n: Night, full: bool) -> dict[str, int]:
    """Candidates of changed records out, then the rules' blocking on tonight's records only (all
    records on a first night or a rebuild) and the comparison of the pairs found."""
    con, settings = n.con, n.settings
    blocker, comparer = (n.engine.block, n.engine.compare) if n.engine is not None else (block, compare)
    gcols = _level_cols(settings)
    if not store.has_table(con, "cand"):
        levels = ", ".join(f"{g} TINYINT" for g in gcols)
        con.execute(f"""CREATE TABLE cand (w_idx BIGINT, person_idx BIGINT, rules BIGINT, {levels},
                        first_seen DATE, last_changed DATE, first_above DATE)""")
    where = "TRUE" if full else ("w_idx IN (SELECT w_idx FROM dirty_w) OR person_idx IN (SELECT person_idx FROM dirty_p)")
    con.execute(f"CREATE OR REPLACE TEMP TABLE old_c AS SELECT * FROM cand WHERE {where}")
    old_cols = {r[0] for r in con.execute("DESCRIBE old_c").fetchall()}
    if full:  # the comparisons may have changed: the table takes tonight's columns, history carried over
        con.execute("DROP TABLE cand")
        levels = ", ".join(f"{g} TINYINT" for g in gcols)
        con.execute(f"""CREATE TABLE cand (w_idx BIGINT, person_idx BIGINT, rules BIGINT, {levels},
                        first_seen DATE, last_changed DATE, first_above DATE)""")
    else:
        con.execute(f"DELETE FROM cand WHERE {where}")
    con.execute("CREATE OR REPLACE TEMP TABLE dirty_wt AS SELECT * FROM w WHERE w_idx IN (SELECT w_idx FROM dirty_w)")
    keep_keys(n, full)
    if full:
        counts = blocker(con, settings, into="pairs", left_keys=KEYS_W, right_keys=KEYS_REG)
    else:  # tonight's records keyed, the other side's keys read from the workspace
        counts = blocker(con, settings, left="dirty_wt", into="pa", right_keys=KEYS_REG)
        con.execute(f"CREATE OR REPLACE TEMP TABLE dirty_reg AS SELECT {_key_columns(con, settings)} FROM reg "
                    "WHERE person_idx IN (SELECT person_idx FROM dirty_p)")
        counts_b = blocker(con, settings, right="dirty_reg", into="pb", left_keys=KEYS_W)
        for a, b in zip(counts, counts_b):
            a.candidate_pairs += b.candidate_pairs
            a.pairs = (a.pairs or 0) + (b.pairs or 0)
        con.execute("""CREATE OR REPLACE TEMP TABLE pairs AS
                       SELECT row_number() OVER (ORDER BY w_idx, person_idx) - 1 AS pair_idx, w_idx, person_idx,
                              bit_or(rules) AS rules
                       FROM (SELECT w_idx, person_idx, rules FROM pa UNION ALL SELECT w_idx, person_idx, rules FROM pb)
                       GROUP BY w_idx, person_idx""")
        con.execute("DROP TABLE pa; DROP TABLE pb")
    n.counts["blocking"] = [c.__dict__ for c in counts]
    gammas = comparer(con, settings, source="pairs")
    cols: dict[str, Any] = {"pair_idx": gammas.pair_idx}
    for j, g in enumerate(gcols):
        cols[g] = gammas.levels[:, j]
    con.register("_levels", pa.table(cols))
    con.execute("CREATE OR REPLACE TEMP TABLE fresh AS SELECT p.w_idx, p.person_idx, p.rules, l.* EXCLUDE (pair_idx) "
                "FROM pairs p JOIN _levels l USING (pair_idx)")
    con.unregister("_levels")
    same = (" AND ".join(f"o.{g} IS NOT DISTINCT FROM f.{g}" for g in gcols) or "TRUE") if set(gcols) <= old_cols else "FALSE"
    night = f"DATE '{n.night}'"
    con.execute(f"""
        INSERT INTO cand
        SELECT f.w_idx, f.person_idx, f.rules, {', '.join('f.' + g for g in gcols)},
               coalesce(o.first_seen, {night}),
               CASE WHEN o.w_idx IS NOT NULL AND {same} THEN o.last_changed ELSE {night} END,
               o.first_above
        FROM fresh f LEFT JOIN old_c o USING (w_idx, person_idx)
    """)
    con.execute(f"""
        INSERT INTO retired
        SELECT {night}, o.w_idx, o.person_idx, wi.uid, pe.uid,
               CASE WHEN wi.uid IN (SELECT key FROM chg_wanted WHERE kind = 'removed') THEN 'wanted record removed'
                    WHEN o.person_idx NOT IN (SELECT person_idx FROM reg) THEN 'register person removed'
                    ELSE 'no longer a candidate (records changed)' END,
               o.first_seen
        FROM old_c o ANTI JOIN fresh f USING (w_idx, person_idx)
        JOIN wanted_ids wi ON wi.w_idx = o.w_idx JOIN persons pe ON pe.person_idx = o.person_idx
    """)
    got = con.execute(f"""SELECT (SELECT count(*) FROM fresh),
                                 (SELECT count(*) FROM fresh ANTI JOIN old_c USING (w_idx, person_idx)),
                                 (SELECT count(*) FROM old_c ANTI JOIN fresh USING (w_idx, person_idx)),
                                 (SELECT count(*) FROM cand)""").fetchall()[0]
    con.execute("DROP TABLE fresh; DROP TABLE old_c")
    return {"screened_pairs": int(got[0]), "new_pairs": int(got[1]), "retired_pairs": int(got[2]),
            "candidate_pairs": int(got[3])}


# ---------------------------------------------------------------------------------------------
# the model: versioned in the workspace, never retrained silently


def _next_model_path(n: Night) -> tuple[int, Path]:
    version = n.con.execute("SELECT coalesce(max(version), 0) + 1 FROM models").fetchall()[0][0]
    return int(version), n.workspace / store.MODELS / f"model-v{version:03d}-{n.night}.json"


def all_pairs(n: Night) -> tuple[Gammas, dict[str, np.ndarray]]:
    """The levels of every current candidate, as a run holds them after its comparison stage, and
    the pairs' w_idx, person_idx and rules (pair_idx = place in the table's order): one Arrow read,
    no sort (ranks and the one-person probability do not depend on the pairs' order)."""
    gcols = _level_cols(n.settings)
    got = n.con.sql(f"SELECT w_idx, person_idx, rules{''.join(', ' + g for g in gcols)} FROM cand").to_arrow_table()
    col = lambda name, dtype: np.asarray(got.column(name).to_numpy(), dtype=dtype)  # noqa: E731
    meta = {"w_idx": col("w_idx", np.int64), "person_idx": col("person_idx", np.int64), "rules": col("rules", np.int64)}
    levels = (np.column_stack([col(g, np.int8) for g in gcols]) if gcols and got.num_rows
              else np.zeros((got.num_rows, len(gcols)), np.int8))
    return Gammas(np.arange(got.num_rows, dtype=np.int64), levels, tuple(c.name for c in n.settings.comparisons)), meta


def pairs_table(n: Night, meta: dict[str, np.ndarray]) -> None:
    """Temp table `pairs` (pair_idx, w_idx, person_idx, rules) for training, which reads it."""
    n.con.register("_pairs", pa.table({"pair_idx": np.arange(len(meta["w_idx"]), dtype=np.int64), **meta}))
    n.con.execute("CREATE OR REPLACE TEMP TABLE pairs AS SELECT * FROM _pairs")
    n.con.unregister("_pairs")


def resolve_model(n: Night, model_path: Path | None, retrain: bool, gammas: Gammas,
                  meta: dict[str, np.ndarray]) -> tuple[Model, Path, str]:
    """The model for tonight: a given file (copied into the workspace as a new version), a new
    training (`--retrain`, or the first night without --model), else the workspace's current one."""
    con, current = n.con, store.get_meta(n.con, "model_path")
    digest = rules_hash(n.rules)
    if model_path is not None and retrain:
        raise UsageError("give either --model FILE or --retrain, not both")
    if model_path is not None:
        model = load_model(Path(model_path), n.settings)
        version, target = _next_model_path(n)
        if current and Path(current).is_file() and Path(current).read_bytes() == Path(model_path).read_bytes():
            return model, Path(current), "workspace"
        shutil.copyfile(model_path, target)
        how, source = "given", str(model_path)
    elif retrain or not current:
        if not retrain:
            n.say("no model in the workspace and no --model: training one on tonight's candidate pairs")
        with n.stage("train"):
            pairs_table(n, meta)
            model = train(con, n.settings, gammas, digest, log=n.say)
        for line in summarise_warnings(model.warnings):
            n.say(f"training warning: {line}; see the model file")
        version, target = _next_model_path(n)
        save_model(model, target)
        how, source = "trained", ""
    else:
        path = Path(current)
        if not path.is_file():
            raise RulesError(f"{path}: the workspace's model file is missing; give --model FILE or --retrain")
        model = load_model(path, n.settings)
        if model.rules_hash != digest:
            n.warn(f"model {path} was trained with other rules (hash {model.rules_hash[:12]}, now {digest[:12]})")
        return model, path, "workspace"
    con.execute("INSERT INTO models VALUES (?, ?, ?, ?, ?)", [version, str(target), n.night, how, source])
    store.set_meta(con, "model_path", str(target))
    if model.rules_hash != digest:
        n.warn(f"model {model_path} was trained with other rules (hash {model.rules_hash[:12]}, now {digest[:12]})")
    return model, target, how


# ---------------------------------------------------------------------------------------------
# scoring every current candidate


def _tf_columns(settings: Settings) -> list[str]:
    return sorted({col for c in settings.comparisons for col in c.tf.values()})


def _tf_counts_sql(columns: list[str], persons: str | None) -> str:
    """Per TF column and value, the number of register persons holding it (a person counts once
    per value, as prepare.build_tf counts), over all persons or those of table `persons`."""
    where = f" AND person_idx IN (SELECT person_idx FROM {persons})" if persons else ""
    selects = [f"""SELECT '{col}' AS col, CAST(value AS VARCHAR) AS value, count(*) AS n
                   FROM (SELECT DISTINCT person_idx, {col} AS value FROM reg WHERE {col} IS NOT NULL{where})
                   GROUP BY value""" for col in columns]
    return " UNION ALL ".join(selects) or "SELECT NULL::VARCHAR AS col, NULL::VARCHAR AS value, 0::BIGINT AS n WHERE FALSE"


def tf_before(n: Night, full: bool) -> None:
    """Before tonight's records are stored: the TF counts of the persons they touch (temp tf_old)."""
    con = n.con
    if full or not store.has_table(con, "reg"):
        return
    con.execute("""CREATE OR REPLACE TEMP TABLE touched_p AS SELECT person_idx FROM persons
                   WHERE uid IN (SELECT key FROM chg_residents UNION SELECT key FROM chg_id_cards)""")
    con.execute(f"CREATE OR REPLACE TEMP TABLE tf_old AS {_tf_counts_sql(_tf_columns(n.settings), 'touched_p')}")


def keep_tf_counts(n: Night, full: bool) -> None:
    """The workspace's TF counts (table tf_counts: col, value, persons holding it), so a night
    needs no pass over the whole register: built whole on a first night, a rebuild or when the TF
    columns change; otherwise the touched persons' counts before (tf_old) are taken off and their
    counts now added."""
    con, cols = n.con, _tf_columns(n.settings)
    if full or store.get_meta(con, "tf_columns") != json.dumps(cols) or not store.has_table(con, "tf_counts"):
        con.execute(f"CREATE OR REPLACE TABLE tf_counts AS {_tf_counts_sql(cols, None)}")
        store.set_meta(con, "tf_columns", json.dumps(cols))
        return
    con.execute(f"CREATE OR REPLACE TEMP TABLE tf_new AS {_tf_counts_sql(cols, 'dirty_p')}")
    con.execute("""CREATE OR REPLACE TEMP TABLE tf_delta AS SELECT col, value, sum(n) AS d FROM (
                       SELECT col, value, n FROM tf_new UNION ALL SELECT col, value, -n FROM tf_old)
                   GROUP BY col, value HAVING sum(n) <> 0""")
    con.execute("""UPDATE tf_counts SET n = tf_counts.n + t.d FROM tf_delta t
                   WHERE tf_counts.col = t.col AND tf_counts.value = t.value""")
    con.execute("INSERT INTO tf_counts SELECT col, value, d FROM tf_delta ANTI JOIN tf_counts USING (col, value)")
    con.execute("DELETE FROM tf_counts WHERE n = 0")
    con.execute("DROP TABLE tf_new; DROP TABLE tf_delta; DROP TABLE tf_old")


def tonight_tf(n: Night) -> None:
    """Tonight's term frequencies over the whole register (temp table `tf`), as prepare.build_tf
    computes them (a value's persons over all persons' values of the column), from the stored
    counts: training and scoring both weigh pairs by them, as a run does after its prepare stage."""
    n.con.execute("""CREATE OR REPLACE TEMP TABLE tf AS
                     SELECT col, value, n / sum(n) OVER (PARTITION BY col) AS tf FROM tf_counts""")


def rescore(n: Night, model: Model, gammas: Gammas, meta: dict[str, np.ndarray]) -> dict[str, int]:
    """The run's scoring on all pairs with tonight's TF table and prior; ties in rank broken in
    person_id order, as a run's person numbering does (each person's place in uid order)."""
    con = n.con
    by_uid = np.asarray(con.execute("SELECT person_idx FROM persons ORDER BY uid").fetchnumpy()["person_idx"], np.int64)
    place = np.zeros(int(by_uid.max()) + 1 if len(by_uid) else 0, dtype=np.int64)
    place[by_uid] = np.arange(len(by_uid))
    person_place = place[meta["person_idx"]]
    # A run's pair order, (wanted, person_id): the same sums in the same order, the same probabilities.
    order = np.argsort(meta["w_idx"] * max(len(by_uid), 1) + person_place, kind="stable")
    ordered = Gammas(gammas.pair_idx[order], gammas.levels[order], gammas.names)
    return score(con, n.settings, model, ordered, person_order=person_place[order], pairs=meta)


def mark_above(n: Night) -> None:
    """The night a candidate first reached the threshold (kept for 'above the threshold for the
    first time'); idempotent."""
    n.con.execute(f"""UPDATE cand SET first_above = DATE '{n.night}' FROM scored s
                      WHERE cand.w_idx = s.w_idx AND cand.person_idx = s.person_idx AND cand.first_above IS NULL
                        AND s.match_probability >= {float(n.settings.threshold)}""")


def night_stats(n: Night) -> dict[str, Any]:
    con = n.con
    wanted, persons, records = con.execute(
        "SELECT (SELECT count(*) FROM w), count(DISTINCT person_idx), count(*) FROM reg").fetchall()[0]
    kept, with_c, mean_p = con.execute(
        "SELECT count(*), count(DISTINCT w_idx), coalesce(avg(match_probability), 0) FROM scored").fetchall()[0]
    return {"wanted": int(wanted), "persons": int(persons), "register_records": int(records), "kept": int(kept),
            "wanted_with_candidates": int(with_c),
            "share_with_candidate": round(with_c / wanted, 9) if wanted else 0.0,
            "mean_probability": round(float(mean_p), 9)}


def drift(n: Night, stats: dict[str, Any]) -> dict[str, Any]:
    """Tonight against the mean of the last nights (window from the config); a warning for each
    measure that moved more than its limit."""
    cfg = n.config
    prev = n.con.execute(f"""SELECT avg(share_with_candidate), avg(mean_probability), count(*) FROM (
                              SELECT * FROM nights WHERE night < DATE '{n.night}' ORDER BY night DESC
                              LIMIT {int(cfg.drift_window)})""").fetchall()[0]
    out: dict[str, Any] = {"nights_compared": int(prev[2])}
    if not prev[2]:
        return out
    for name, now, before, limit in (
        ("share_with_candidate", stats["share_with_candidate"], prev[0], cfg.drift_share),
        ("mean_probability", stats["mean_probability"], prev[1], cfg.drift_probability),
    ):
        moved = now - float(before)
        out[name] = {"tonight": now, "previous_mean": round(float(before), 9), "moved": round(moved, 9),
                     "limit": limit}
        if abs(moved) > limit:
            n.warn(f"drift: {name.replace('_', ' ')} {now:.3f} tonight against {float(before):.3f} over the last "
                   f"{prev[2]} night(s) (moved {moved:+.3f}, limit {limit}; {cfg.path or 'defaults'})")
    return out


def record_night(n: Night, stats: dict[str, Any]) -> None:
    n.con.execute("DELETE FROM nights WHERE night = ?", [n.night])
    n.con.execute("INSERT INTO nights VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [
        n.night, stats["wanted"], stats["persons"], n.counts.get("candidate_pairs", 0), stats["kept"],
        stats["share_with_candidate"], stats["mean_probability"], time.strftime("%Y-%m-%dT%H:%M:%S")])


def state_digest(con: duckdb.DuckDBPyConnection) -> str:
    """What the workspace holds, as one hash of every record's fingerprint (for the run id)."""
    parts = []
    for s in SOURCES:  # order-free sums of two 60-bit slices of each MD5 fingerprint: one scan, no sort
        parts.append(str(con.execute(f"""SELECT count(*), sum(CAST('0x' || left(fp, 15) AS BIGINT)::HUGEINT),
                                         sum(CAST('0x' || right(fp, 15) AS BIGINT)::HUGEINT)
                                         FROM {raw_table(s)}""").fetchall()[0]))
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def run_id(night: str, rules_digest: str, model: Model, state: str) -> str:
    h = hashlib.sha256()
    for part in (night, rules_digest, model.identity(), state):
        h.update(part.encode())
    return h.hexdigest()[:16]


# ---------------------------------------------------------------------------------------------
# the night


def nightly(
    workspace: Path,
    out_dir: Path,
    inputs: dict[str, SourceInput],
    night: str | None = None,
    model_path: Path | None = None,
    retrain: bool = False,
    decisions: str | Path | None = None,
    rules: Path | None = None,
    config: Path | None = None,
    reporter: Reporter | None = None,
    lang: str = "vi",
    engine: str = "duckdb",
    spark_master: str | None = None,
) -> NightResult:
    """One night on a workspace (created on the first night). Holds the workspace lock throughout;
    all table changes of the screening are one transaction; outputs go to `<out>/<night>/` through
    a staging folder, and `<out>/latest` points at the newest night. `engine` 'spark': the
    register's normalisation, blocking and comparisons run on Spark (linkage/backends/spark/nightly.py)."""
    from linkage.workspace.outputs import write_night

    reporter = reporter or Reporter()
    settings = load_settings(rules)
    cfg = load_config(config, rules)
    the_night = night_date(night)
    check_inputs(inputs)
    inputs = {s: inputs.get(s) or SourceInput() for s in SOURCES}
    workspace, out_dir = Path(workspace), Path(out_dir)
    t_start = time.perf_counter()
    with store.locked(workspace):
        con = store.open_workspace(workspace, settings)
        side = None
        try:
            n = Night(the_night, workspace, con, settings, cfg, rules, reporter)
            if engine == "spark":
                from linkage.backends.spark.nightly import SparkNight

                side = n.engine = SparkNight(settings, rules, spark_master, workspace)
                n.counts["engine"] = side.describe()
            return _night(n, out_dir, inputs, model_path, retrain, decisions, lang, t_start, write_night)
        finally:
            if side is not None:
                side.close()
            con.close()


def _night(n: Night, out_dir: Path, inputs: dict[str, SourceInput], model_path: Path | None, retrain: bool,
           decisions: str | Path | None, lang: str, t_start: float, write_night) -> NightResult:
    con = n.con
    last = con.execute("SELECT max(night) FROM nights").fetchall()[0][0]
    if last is not None and n.night < str(last):
        raise UsageError(f"--date {n.night} is before the workspace's last night {last}; nights run in order")
    digest = rules_hash(n.rules)
    hashes = stage_hashes(n.rules, n.settings, _place_text(n.settings))
    stored = store.get_meta(con, "stage_hashes")
    first = stored is None
    if first and not (inputs["wanted"].given and (inputs["residents"].given or inputs["id_cards"].given)):
        raise InputError("the first night builds the workspace: give the wanted list and at least one register "
                         "(--wanted and --residents and/or --id-cards, or their -delta files)")
    redo = stages_to_redo(json.loads(stored) if stored else None, hashes)
    rebuild = "prepare" in redo
    if redo:
        what = ("normalising every stored record again and rebuilding the candidate set (blocking, comparison)"
                if rebuild else "rebuilding the candidate set (blocking, comparison) from the stored records")
        n.warn(f"rules changed since the workspace's last night ({', '.join(redo)} rules): {what}; then rescoring")
    n.counts["rules_redo"] = redo
    if not (first or redo):  # a night of changes: the config's (smaller) memory limit
        con.execute(f"SET memory_limit = '{n.config.memory_limit}'")
    with n.stage("read"):
        for s in SOURCES:
            n.deltas[s] = classify(con, s, inputs[s], n.rules, rebuild=rebuild)
    n.counts["ingest"] = {s: d.ingest for s, d in n.deltas.items() if d.ingest}
    n.counts["delta"] = {s: d.to_dict() for s, d in n.deltas.items()}
    n.say("changes: " + "; ".join(f"{s} +{d.added:,} ~{d.changed:,} -{d.removed:,}" for s, d in n.deltas.items()))
    checkpoint("read")
    todo = sum(d.added + d.changed for d in n.deltas.values())
    with n.stage("normalise", total=todo) as bar:
        n.counts["normalised"] = prepare_changed(n, bar)
        _empty_prepared(con, _place_text(n.settings))
    checkpoint("normalise")
    with n.stage("screen"):
        con.execute("BEGIN TRANSACTION")
        try:
            tf_before(n, full=first or bool(redo))
            store_records(n)
            if not con.execute("SELECT count(*) FROM reg").fetchall()[0][0]:
                raise InputError("no register record left in the workspace: nothing to match against")
            n.counts.update(screen(n, full=first or bool(redo)))
            keep_tf_counts(n, full=first or bool(redo))
            store.set_meta(con, "rules_hash", digest)
            store.set_meta(con, "stage_hashes", json.dumps(hashes, sort_keys=True))
            store.set_meta(con, "last_night", n.night)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    checkpoint("commit")
    gammas, meta = all_pairs(n)
    tonight_tf(n)
    model, model_file, how = resolve_model(n, model_path, retrain, gammas, meta)
    n.say(f"model: {model_file} ({how}, version {model.version}, created {model.created})")
    with n.stage("score"):
        n.counts["scoring"] = rescore(n, model, gammas, meta)
        stats = night_stats(n)
        n.counts.update({"tables": {"wanted": stats["wanted"], "register_records": stats["register_records"],
                                    "persons": stats["persons"]},
                         "wanted_with_candidates": stats["wanted_with_candidates"]})
        drift_info = drift(n, stats)
        con.execute("BEGIN TRANSACTION")
        mark_above(n)
        record_night(n, stats)
        con.execute("COMMIT")
    checkpoint("score")
    rid = run_id(n.night, digest, model, state_digest(con))
    return write_night(n, out_dir, inputs, model, model_file, how, rid, decisions, lang, drift_info, t_start)
