"""The main job: ingest -> normalise -> block -> compare -> (train) -> score -> rank -> write.

`run` is what `linkage run` calls; `prepare_workspace` (up to blocking) is shared with
`linkage train` and `linkage blocking`. Each stage is timed and counted for the run manifest.
"""

from __future__ import annotations

import hashlib
import json
import re
import resource
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Collection, Iterator

import duckdb
import numpy as np
import pyarrow as pa

from linkage import __version__
from linkage.block import RuleCount, block
from linkage.compare import Gammas, compare
from linkage.errors import InputError
from linkage.rundir import staging, swap_in
from linkage.buffer_pool import drop_cached_blocks
from linkage.ingest import ingest
from linkage.ingest.contract import KEY
from linkage.matches_io import matches_form, matches_parts
from linkage.model import Model, load_model, save_model
from linkage.normalize.distinct import (
    DEDUPED,
    Dictionary,
    Positions,
    StoredPositions,
    build_dictionaries,
    drop_tables,
    normalised_arrow,
    source_positions,
)
from linkage.normalize.pool import normaliser_pool
from linkage.normalize.table import normalize_table
from linkage.outputs import fingerprint, write_manifest, write_matches
from linkage.prepare import (
    finish_register,
    load_register,
    load_wanted,
    name_columns,
    prepared_arrow,
    prepared_reads,
    start_register,
    uses_place_text,
)
from linkage.progress import Renaming, Reporter
from linkage.rules import rules_dir, rules_hash
from linkage.score import score
from linkage.settings import Settings, load_settings
from linkage.train import train_weighed

SAVED_MODEL = "model.json"  # the project's saved model, under the rules directory


def saved_model_path(rules: Path | None) -> Path:
    return rules_dir(rules) / SAVED_MODEL


@dataclass
class Context:
    """State of one job: the workspace connection, settings, and what each stage measured."""

    out_dir: Path
    settings: Settings
    rules: Path | None
    con: duckdb.DuckDBPyConnection
    reporter: Reporter
    timings: dict[str, float] = field(default_factory=dict)
    counts: dict[str, Any] = field(default_factory=dict)
    rule_counts: list[RuleCount] = field(default_factory=list)
    memory: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    backend: Any = None  # another engine's stages (linkage/backends/spark): None = DuckDB on this machine
    pair_weights: Any = None  # the candidate pairs' summed match weights, when training computed them (train.Trained)

    def say(self, message: str) -> None:
        self.reporter.say(message)

    def warn(self, message: str) -> None:
        """A warning the operator sees now and the manifest keeps."""
        self.warnings.append(message)
        self.say(f"warning: {message}")

    @contextmanager
    def stage(self, name: str, total: int | None = None) -> Iterator[Reporter]:
        t0 = time.perf_counter()
        with self.reporter.stage(name, total) as bar:
            yield bar
        self.timings[name] = round(time.perf_counter() - t0, 3)
        self.memory[name] = peak_rss_mb()


def peak_rss_mb() -> float:
    """Peak resident memory so far of this process plus its largest worker process, in MB:
    what the machine had to hold at the worst moment (Linux reports KiB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round((own + workers) / 1024, 1)


RUN_DB = "run_scratch"  # the run's own tables: an in-memory database beside the workspace file


def connect(path: Path, settings: Settings, out_dir: Path) -> duckdb.DuckDBPyConnection:
    """Open the workspace with the memory limit, threads and temp directory from the rules.

    The tables the run makes (the prepared wanted list, term frequencies, training's pairs, the
    scores, normalisation's row positions) go to an in-memory database of the run (`RUN_DB`,
    spilled to the temp directory past the memory limit); the workspace file keeps the ingested
    sources as ingest wrote them. Why: a table committed to the file made DuckDB checkpoint it,
    and the first checkpoint after ingest took 10-12 s at 10M residents however small the table
    (docs/benchmarks.md, fifteenth step); nothing reads those tables after the run."""
    eng = settings.engine
    con = duckdb.connect(str(path))
    workspace = con.execute("SELECT current_database()").fetchall()[0][0]
    con.execute(f"ATTACH ':memory:' AS {RUN_DB}")
    con.execute(f"USE {RUN_DB}")
    con.execute(f"SET search_path = '{RUN_DB}.main,{workspace}.main'")  # the sources are found in the file
    con.execute(f"SET memory_limit = '{settings.memory_limit}'")
    con.execute(f"SET threads = {int(eng.get('threads', 2))}")
    temp = eng.get("temp_directory") or str(out_dir / "tmp")
    con.execute(f"SET temp_directory = '{temp}'")
    con.execute("SET preserve_insertion_order = true")
    return con


@contextmanager
def _memory_limit(con: duckdb.DuckDBPyConnection, limit: str | None, after: str) -> Iterator[None]:
    """DuckDB's memory limit set to `limit` for a stage, then to `after`: normalisation holds the
    run's dictionaries and chunks in Python beside DuckDB, so it may give DuckDB less than the rest."""
    if limit:
        con.execute(f"SET memory_limit = '{limit}'")
    try:
        yield
    finally:
        if limit:
            con.execute(f"SET memory_limit = '{after}'")


def prepare_chunk(raw: pa.Table, source: str, rules: Path | None,
                  dictionaries: dict[str, Dictionary] | None = None,
                  positions: dict[str, np.ndarray] | None = None) -> pa.Table:
    """Normalise one chunk of a source and return its prepared Arrow table (runs in a worker,
    or in the run's process when the kinds' distinct values were normalised beforehand: then in
    Arrow, from the dictionaries' rows)."""
    uid = KEY[source]  # the source's record id (the ingest contract's key)
    if dictionaries is not None:
        norm = normalised_arrow(raw, source, rules, dictionaries, positions or {}, prepared_reads(uid, source))
    else:
        norm = normalize_table(raw.to_pandas(), source, rules=rules)
    return prepared_arrow(norm, uid, source)


def _chunks(con: duckdb.DuckDBPyConnection, source: str, size: int,
            where: Positions | StoredPositions) -> Iterator[tuple[pa.Table, dict[str, np.ndarray]]]:
    """A source's rows in `_row` order, `size` rows of the source file at a time, with their
    values' positions in the dictionaries. The rows come as the table stores them (DuckDB keeps
    insertion order; ingest inserts in `_row` order) and are sorted here only when they are not:
    an ORDER BY sorted every chunk again (a third of reading it)."""
    last = con.execute(f'SELECT coalesce(max(_row), 0) FROM "{source}"').fetchall()[0][0]
    for lo in range(0, max(last, 1), size):
        raw = con.sql(f'SELECT * FROM "{source}" WHERE _row > {lo} AND _row <= {lo + size}').to_arrow_table()
        rows = raw.column("_row").to_numpy()
        if (np.diff(rows) < 0).any():
            raw = raw.sort_by("_row")
        yield raw, where.between(lo, lo + size, con)


def _normalise(ctx: Context, sources: list[str], bar: Reporter) -> None:
    """Normalise the wanted list and the registers and load them into the engine tables.

    Each distinct name, alias, date, place, gender, ethnicity and marks text of all the sources
    is normalised once (linkage/normalize/distinct.py), in `threads` worker processes for a
    large register (normalisation is Python work, so threads would not run it in parallel);
    then the sources are read in chunks of rows, their values looked up, their ids read, and
    loaded. Memory stays bounded by the chunk size and the number of distinct values."""
    eng = ctx.settings.engine
    chunk = int(eng.get("normalise_chunk_rows", 500_000))
    workers = int(eng.get("threads", 2))
    settings = ctx.settings
    place_text = uses_place_text(
        [r.left + r.right + (r.filter or "") for r in settings.blocking] + [str(c.params) for c in settings.comparisons]
    )
    start_register(ctx.con)
    registers = [s for s in sources if s != "wanted"]
    rows = sum(ctx.con.execute(f'SELECT count(*) FROM "{s}"').fetchall()[0][0] for s in registers)
    limit = eng.get("normalise_memory_limit") or settings.memory_limit
    where: dict[str, StoredPositions] = {}

    # In the run's database, named in full: the chunks are read through a second connection,
    # which sees no other's TEMP tables and does not share its USE.
    def find_positions(kinds: Collection[str]) -> None:  # while the workers normalise
        where.update({s: source_positions(ctx.con, s, kinds, into=f"{RUN_DB}._positions_{s}") for s in sources})
        drop_tables(ctx.con, kinds)
        drop_cached_blocks(ctx.con, limit)  # the sources' pages the joins read: the workers' memory counts

    if workers < 2 or rows < int(eng.get("parallel_min_rows", 200_000)):
        dictionaries = build_dictionaries(ctx.con, sources, ctx.rules, chunk, limit=limit, meanwhile=find_positions,
                                          arrow=True)
    else:
        with normaliser_pool(workers, DEDUPED, ctx.rules) as pool:
            dictionaries = build_dictionaries(ctx.con, sources, ctx.rules, chunk, pool, limit, find_positions, arrow=True)
    if "wanted" in sources:
        for raw, positions in _chunks(ctx.con, "wanted", 2**62, where["wanted"]):  # one chunk
            load_wanted(ctx.con, prepare_chunk(raw, "wanted", ctx.rules, dictionaries, positions), place_text)
            bar.advance(raw.num_rows)
    if "names" in dictionaries:  # and the full name's tone-less form and sorted words, once per name
        names = dictionaries["names"]
        names.add_columns(name_columns(ctx.con, names.arrow_column("norm"), names.arrow_column("ascii")))
    # A chunk is loaded into the engine table (DuckDB work, which releases the GIL) by a second
    # thread while the next one is prepared (Python work): one chunk loading, one being prepared.
    # Loads run one at a time, in source and row order: record numbering is the same every run.
    # The chunks are read through a second connection, as `ctx.con` is the loader's meanwhile.
    reader = ctx.con.cursor()
    try:
        with ThreadPoolExecutor(max_workers=1) as loader:
            loading = None
            for source in registers:
                for raw, positions in _chunks(reader, source, chunk, where[source]):
                    table = prepare_chunk(raw, source, ctx.rules, dictionaries, positions)
                    if loading is not None:
                        bar.advance(loading.result())
                    loading = loader.submit(load_register, ctx.con, table, place_text)
                    del raw, table
            if loading is not None:
                bar.advance(loading.result())
    finally:
        reader.close()
        for stored in where.values():
            stored.drop(ctx.con)


def prepare_workspace(
    wanted: Path,
    residents: Path | None,
    id_cards: Path | None,
    out_dir: Path,
    rules: Path | None = None,
    reporter: Reporter | None = None,
    blocking_rules: list[str] | None = None,
    engine: str = "duckdb",
    spark_master: str | None = None,
) -> Context:
    """Ingest, normalise, build the engine tables and block; returns the open context. With
    engine 'spark', the validation of Parquet sources, normalisation, blocking (and later the
    comparisons) run on Spark (linkage/backends/spark); what follows the comparisons stays here."""
    reporter = reporter or Reporter()
    settings = load_settings(rules)
    if residents is None and id_cards is None:
        raise InputError("give at least one register: --residents and/or --id-cards")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sources = {"wanted": wanted, "residents": residents, "id_cards": id_cards}
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    with reporter.stage("ingest"):
        if engine == "spark":  # Parquet sources read and validated on Spark (linkage/backends/spark/ingest.py)
            from linkage.backends.spark.ingest import ingest_for_run

            report = ingest_for_run(sources, out_dir, rules, settings, spark_master)
        else:
            report = ingest(sources, out_dir, rules=rules)
    timings["ingest"] = round(time.perf_counter() - t0, 3)
    reporter.say(report.render())
    given = [s for s, p in sources.items() if p is not None]
    check_accepted(report, given)
    con = connect(report.workspace, settings, out_dir)
    ctx = Context(out_dir=out_dir, settings=settings, rules=rules, con=con, reporter=reporter, timings=timings)
    ctx.memory["ingest"] = peak_rss_mb()
    ctx.counts["ingest"] = {s: r.to_dict() for s, r in report.sources.items()}
    limit = float(settings.engine.get("quarantine_warn_share", 0.05))
    for message in quarantine_warnings(report, given, limit):
        ctx.warn(message)
    rows = sum(report.sources[s].rows_accepted for s in given)
    if engine == "spark":
        from linkage.backends.spark import prepare_on_spark

        prepare_on_spark(ctx, given, blocking_rules, spark_master)
        return ctx
    with ctx.stage("normalise", total=rows) as bar, _memory_limit(
            con, settings.engine.get("normalise_memory_limit"), settings.memory_limit):
        _normalise(ctx, given, bar)
    with ctx.stage("prepare"):
        tf_columns = [col for c in settings.comparisons for col in c.tf.values()]
        ctx.counts["tables"] = finish_register(con, tf_columns)
    with ctx.stage("block", total=len(settings.blocking)) as bar:
        ctx.rule_counts = block(con, settings, blocking_rules, progress=bar.advance)
        ctx.counts["blocking"] = [rc.__dict__ for rc in ctx.rule_counts]
        ctx.counts["candidate_pairs"] = ctx.rule_counts[-1].cumulative if ctx.rule_counts else 0
    return ctx


def check_accepted(report, given: list[str]) -> None:
    """A source with no usable row stops the run (exit 2): a nightly job must not report
    success on an empty wanted list or register."""
    for source in given:
        r = report.sources[source]
        if r.rows_accepted == 0:
            reasons = ", ".join(f"{k} {v:,}" for k, v in r.reasons.items()) or "no rows"
            raise InputError(
                f"{r.path}: no usable {source} row: {r.rows_read:,} read, all quarantined ({reasons}); "
                "`linkage ingest` writes the quarantined rows with their reasons"
            )


def quarantine_warnings(report, given: list[str], limit: float) -> list[str]:
    """One warning per source whose quarantined share passes the rules' limit."""
    out = []
    for source in given:
        r = report.sources[source]
        share = r.rows_quarantined / r.rows_read if r.rows_read else 0.0
        if share > limit:
            out.append(
                f"{source}: {r.rows_quarantined:,} of {r.rows_read:,} rows quarantined ({share:.1%}, "
                f"above the {limit:.0%} set in engine.quarantine_warn_share)"
            )
    return out


def summarise_warnings(warnings: list[str]) -> list[str]:
    """Training warnings grouped by kind, one line each ("13 levels kept their default m: EM
    gave m below u on an agreeing level"); the detail stays in the model file and the report."""
    groups: dict[str, list[str]] = {}
    for w in warnings:
        subject, _, what = w.partition(": ")
        kind = re.sub(r"=[-+0-9.e]+", "", what) if what else subject
        groups.setdefault(kind, []).append(subject)
    lines = []
    for kind, subjects in groups.items():
        head = f"{len(subjects)} level{'s' if len(subjects) != 1 else ''}" if "." in subjects[0] else (
            f"{len(subjects)} item{'s' if len(subjects) != 1 else ''}")
        lines.append(f"{head}: {kind} ({', '.join(subjects[:3])}{', ...' if len(subjects) > 3 else ''})")
    return lines


def compare_pairs(ctx: Context) -> Gammas:
    if ctx.backend is not None:
        return ctx.backend.compare_pairs(ctx)
    rows = ctx.con.execute(
        "SELECT count(*) FROM pairs p JOIN reg r ON r.person_idx = p.person_idx"
    ).fetchall()[0][0]
    with ctx.stage("compare", total=rows) as bar:
        gammas = compare(ctx.con, ctx.settings, progress=bar.advance)
    return gammas


def fit_model(ctx: Context, gammas: Gammas, labels=None) -> Model:
    """The model from this run's pairs; with reviewers' labels (linkage.labels.load_labels), m from
    the labelled pairs where a level has enough of them, and a calibration map."""
    with ctx.stage("train"):
        trained = train_weighed(ctx.con, ctx.settings, gammas, rules_hash(ctx.rules), log=ctx.say, labels=labels,
                                n_persons=ctx.counts.get("tables", {}).get("persons"))
    model, ctx.pair_weights = trained.model, trained.weights
    for line in summarise_warnings(model.warnings):
        ctx.say(f"training warning: {line}; see model.json and report.html")
    return model


def _run_id(inputs: dict[str, Any], rules_digest: str, model: Model) -> str:
    """Deterministic: the same inputs, rules and model give the same run id (and output bytes)."""
    h = hashlib.sha256()
    h.update(json.dumps({k: v["sha256"] for k, v in inputs.items()}, sort_keys=True).encode())
    h.update(rules_digest.encode())
    h.update(model.identity().encode())
    return h.hexdigest()[:16]


@dataclass
class RunResult:
    matches: Path
    manifest: Path
    model_path: Path
    trained: bool
    counts: dict[str, Any]
    timings: dict[str, float]
    run_id: str = ""
    warnings: list[str] = field(default_factory=list)
    report: Path | None = None


def run(
    wanted: Path,
    residents: Path | None,
    id_cards: Path | None,
    out_dir: Path,
    rules: Path | None = None,
    model_path: Path | None = None,
    reporter: Reporter | None = None,
    retrain: bool = False,
    lang: str = "vi",
    decisions: str | Path | None = None,
    engine: str = "duckdb",
    spark_master: str | None = None,
    relatives: bool = False,
) -> RunResult:
    """The nightly job. Uses the given model, else the project's saved one; with neither it trains
    on this run's pairs first, says so, and writes the model next to the outputs. Everything is
    written into a staging folder and swapped in at the end (linkage.rundir): `out_dir` always
    holds one whole run, the previous one until this one has finished."""
    out_dir = Path(out_dir)
    with staging(out_dir) as stage:
        shown = Renaming(reporter or Reporter(), str(stage), str(out_dir))
        result = _run_into(stage, out_dir, wanted, residents, id_cards, rules, model_path, shown, retrain, lang,
                           decisions, engine, spark_master, relatives)
        swap_in(stage, out_dir)
    return result


def _run_into(
    stage: Path,
    out_dir: Path,
    wanted: Path,
    residents: Path | None,
    id_cards: Path | None,
    rules: Path | None,
    model_path: Path | None,
    reporter: Reporter,
    retrain: bool,
    lang: str,
    decisions: str | Path | None = None,
    engine: str = "duckdb",
    spark_master: str | None = None,
    relatives: bool = False,
) -> RunResult:
    """The run's stages, writing into `stage`; paths in the manifest name `out_dir`, where the
    files will be once swapped in."""
    say = reporter.say
    t_start = time.perf_counter()
    model_file = Path(model_path) if model_path else saved_model_path(rules)
    ctx = prepare_workspace(wanted, residents, id_cards, stage, rules, reporter, engine=engine,
                            spark_master=spark_master)
    settings = ctx.settings
    # The inputs' fingerprints (0.3 s of hashing at 1M) in a thread beside compare and train,
    # whose Python and DuckDB leave part of the second core free (hashlib releases the GIL).
    given = {k: Path(p) for k, p in {"wanted": wanted, "residents": residents, "id_cards": id_cards}.items() if p}
    hashing = ThreadPoolExecutor(max_workers=1)
    fingerprints = {k: hashing.submit(fingerprint, p) for k, p in given.items()}
    hashing.shutdown(wait=False)
    gammas = compare_pairs(ctx)
    trained = False
    if model_file.is_file() and not retrain:
        model = load_model(model_file, settings)
        current = rules_hash(rules)
        if model.rules_hash != current:
            ctx.warn(f"model {model_file} was trained with other rules (hash {model.rules_hash[:12]}, now {current[:12]})")
        say(f"model: {model_file} (version {model.version}, created {model.created})")
    else:
        if not retrain:
            say(f"no model at {model_file}: training one on this run's pairs first")
        model = fit_model(ctx, gammas)
        save_model(model, stage / SAVED_MODEL)
        model_file = out_dir / SAVED_MODEL
        trained = True
    with ctx.stage("score"):
        # the persons as the prepare stage counted them (the register is unchanged since)
        ctx.counts["scoring"] = score(ctx.con, settings, model, gammas,
                                      n_persons=ctx.counts.get("tables", {}).get("persons"),
                                      weights=ctx.pair_weights)  # None unless trained in this run
    inputs = {k: f.result() for k, f in fingerprints.items()}
    digest = rules_hash(rules)
    run_id = _run_id(inputs, digest, model)
    with ctx.stage("write"):
        staged = write_matches(ctx.con, settings, stage / "matches.parquet", run_id, lang=lang)
        if decisions is not None:
            ctx.counts["decisions"] = add_decisions(staged, decisions, rules)
        ctx.counts["matches"] = matches_form(staged)["rows"]
        ctx.counts["wanted_with_candidates"] = ctx.con.execute("SELECT count(DISTINCT w_idx) FROM scored").fetchall()[0][0]
    ctx.con.close()
    kin = _relatives(ctx, stage, out_dir, wanted, residents, id_cards, rules, lang) if relatives else None
    ctx.timings["total"] = round(time.perf_counter() - t_start, 3)
    matches = out_dir / "matches.parquet"
    manifest = {
        "run_id": run_id,
        "version": __version__,
        "inputs": inputs,
        "rules_dir": str(rules_dir(rules)),
        "rules_hash": digest,
        "model": {"path": str(model_file), "trained_in_this_run": trained, "created": model.created,
                  "rules_hash": model.rules_hash, "warnings": model.warnings},
        "outputs": {"matches": str(matches), "matches_form": matches_form(staged), "quarantine": str(out_dir / "quarantine"),
                    "report": str(out_dir / "report.html")},
        "counts": ctx.counts,
        "warnings": ctx.warnings,
        "timings_s": ctx.timings,
        "memory_mb": ctx.memory,
    }
    if kin:  # linkage run --relatives
        manifest["outputs"].update(kin["outputs"])
        manifest["counts"]["relatives"] = kin["counts"]
    write_manifest(stage / "manifest.json", manifest)
    _write_report(stage, ctx, rules, lang)
    return RunResult(matches, out_dir / "manifest.json", model_file, trained, ctx.counts, ctx.timings,
                     run_id=run_id, warnings=ctx.warnings, report=out_dir / "report.html")


def add_decisions(matches: Path, store_target: str | Path, rules: Path | None) -> dict[str, int]:
    """The reviewers' live decision on each candidate (and why a decided pair is queued again),
    from the judgement store; returns the count of candidates per decision."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from linkage.ingest.atomic import write_parquet
    from linkage.review.decisions import decision_column
    from linkage.review.store import Store

    if "://" not in str(store_target) and not Path(store_target).is_file():
        raise InputError(f"{store_target}: judgement store not found (a SQLite file or a postgresql:// URL)")
    store = Store.open(store_target, rules=rules)
    try:
        tables = [decision_column(store, pq.read_table(part), rules) for part in matches_parts(matches)]
    finally:
        store.close()
    for table, part in zip(tables, matches_parts(matches)):  # each part keeps its rows (matches_io)
        write_parquet(table, part)
    counts = pc.value_counts(pa.concat_tables(tables)["decision"]).to_pylist()
    return {c["values"]: c["counts"] for c in sorted(counts, key=lambda c: c["values"])}


def _relatives(ctx: Context, stage: Path, out_dir: Path, wanted: Path, residents: Path | None,
               id_cards: Path | None, rules: Path | None, lang: str) -> dict:
    """relatives.parquet next to matches.parquet (linkage/relatives, `linkage run --relatives`)."""
    from linkage.relatives.run import relatives_for_run

    with ctx.stage("relatives"):
        return relatives_for_run(stage, out_dir, wanted, residents, id_cards, rules, lang)


def _write_report(stage: Path, ctx: Context, rules: Path | None, lang: str) -> None:
    """report.html from the staged outputs (the same function `linkage report` calls)."""
    from linkage.reports.run_report import build_run_report

    t0 = time.perf_counter()
    with ctx.reporter.stage("report"):
        build_run_report(stage, lang=lang, rules=rules)
    ctx.timings["report"] = round(time.perf_counter() - t0, 3)
