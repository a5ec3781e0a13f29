"""A night's folder, `<out>/<YYYY-MM-DD>/`: matches.parquet (the whole current candidate set, the
run's contract and SQL), new_leads.parquet, retired.parquet, alerts.parquet, quarantine/,
manifest.json and report.html. Written into a staging folder and swapped in (linkage.rundir);
`<out>/latest` then points at the night, replaced atomically (a symlink renamed over the old)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from linkage import __version__
from linkage.ingest.atomic import write_parquet
from linkage.matches_io import matches_form, matches_source
from linkage.model import Model
from linkage.outputs import atomic_copy_parquet, fingerprint, write_manifest, write_matches
from linkage.rules import rules_dir
from linkage.rundir import staging, swap_in

NIGHT_FILES = ("matches.parquet", "new_leads.parquet", "retired.parquet", "alerts.parquet", "quarantine",
               "report.html", "manifest.json")
LATEST = "latest"


def _q(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _matches_rel(con: duckdb.DuckDBPyConnection, matches: Path) -> None:
    """Temp view `m`: the written matches with each row's workspace numbers and history."""
    con.execute(f"""
        CREATE OR REPLACE TEMP VIEW m AS
        SELECT mt.*, c.w_idx, c.person_idx, c.rules AS _rules, c.first_seen, c.last_changed, c.first_above
        FROM {matches_source(matches)} mt
        JOIN wanted_ids wi ON wi.uid = mt.wanted_id
        JOIN persons pe ON pe.uid = mt.person_id
        JOIN cand c ON c.w_idx = wi.w_idx AND c.person_idx = pe.person_idx
    """)


def _settled_no(has_decision: bool) -> str:
    """A pair the reviewers settled as not a match (and did not re-queue) is no lead."""
    return "NOT (decision = 'not_match' AND requeue_reason IS NULL)" if has_decision else "TRUE"


def new_leads_sql(night: str, has_decision: bool) -> str:
    """Candidates new tonight, first above the threshold tonight, or whose evidence changed."""
    d = f"DATE '{night}'"
    return f"""
        SELECT * EXCLUDE (w_idx, person_idx, _rules, first_above),
               CASE WHEN first_seen = {d} THEN 'new'
                    WHEN first_above = {d} THEN 'above_threshold'
                    ELSE 'evidence_changed' END AS reason
        FROM m
        WHERE (first_seen = {d} OR first_above = {d} OR last_changed = {d}) AND {_settled_no(has_decision)}
        ORDER BY wanted_id, rank
    """


def alerts_sql(n, has_decision: bool) -> str:
    """New leads above the threshold for a dangerous wanted person, and exact id matches whose card
    was issued tonight (issue date = the night, or the card first seen tonight)."""
    d = f"DATE '{n.night}'"
    names = [r.name for r in n.settings.blocking]
    bits = [names.index(r) for r in n.config.exact_id_rules if r in names]
    mask = sum(1 << b for b in bits)
    levels = ", ".join("'" + v.replace("'", "''") + "'" for v in n.config.danger_levels) or "NULL"
    issued = ("coalesce(try_strptime(issue_date, '%Y-%m-%d'), try_strptime(issue_date, '%d/%m/%Y'),"
              " try_strptime(issue_date, '%d-%m-%Y'))::DATE")
    return f"""
        WITH dl AS (SELECT wanted_id, lower(trim(nfc_normalize(danger_level))) AS danger_level FROM raw_wanted),
        card AS (SELECT card_number AS person_id FROM raw_id_cards WHERE added_on = {d} OR {issued} = {d}),
        base AS (
            SELECT m.*, dl.danger_level,
                   m.match_probability >= {float(n.settings.threshold)}
                     AND (m.first_seen = {d} OR m.first_above = {d} OR m.last_changed = {d})
                     AND dl.danger_level IN ({levels}) AS dangerous,
                   (m._rules & {mask}) <> 0 AND m.person_id IN (SELECT person_id FROM card) AS card_tonight
            FROM m LEFT JOIN dl USING (wanted_id)
            WHERE {_settled_no(has_decision)}
        )
        SELECT * EXCLUDE (w_idx, person_idx, _rules, dangerous, card_tonight, first_above),
               CASE WHEN card_tonight AND dangerous THEN 'exact id match on a card issued tonight; danger level: ' || danger_level
                    WHEN card_tonight THEN 'exact id match on a card issued tonight'
                    ELSE 'new lead above the threshold; danger level: ' || danger_level END AS alert
        FROM base WHERE dangerous OR card_tonight
        ORDER BY card_tonight DESC, match_probability DESC, wanted_id, rank
    """


def retired_sql(night: str) -> str:
    return f"""SELECT wanted_id, person_id, reason, first_seen, night AS retired_on FROM retired
               WHERE night = DATE '{night}' ORDER BY wanted_id, person_id"""


def _quarantine(stage: Path, deltas: dict) -> None:
    for s, d in deltas.items():
        if d.quarantine:
            write_parquet(pa.concat_tables(d.quarantine), stage / "quarantine" / f"{s}.parquet")


def update_latest(out_dir: Path, night: str) -> None:
    """`latest` -> the night's folder: a new symlink renamed over the old one (atomic)."""
    tmp = out_dir / f".{LATEST}.tmp-{os.getpid()}"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(night, tmp)
    os.replace(tmp, out_dir / LATEST)


def write_night(n, out_dir: Path, inputs: dict, model: Model, model_file: Path, how: str, run_id: str,
                decisions, lang: str, drift_info: dict[str, Any], t_start: float):
    """Stage every file of the night, swap them into `<out>/<night>/`, point `latest` at it."""
    from linkage.pipeline import add_decisions
    from linkage.workspace.nightly import NightResult, checkpoint

    con, settings = n.con, n.settings
    night_dir = out_dir / n.night
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        from linkage.errors import UsageError

        raise UsageError(f"--out {out_dir}: cannot create the folder: {exc.strerror or exc}") from None
    with staging(night_dir) as stage:
        t0 = time.perf_counter()
        with n.reporter.stage("write"):
            matches = write_matches(con, settings, stage / "matches.parquet", run_id, lang=lang)
            has_decision = decisions is not None
            if has_decision:
                n.counts["decisions"] = add_decisions(matches, decisions, n.rules)
            _matches_rel(con, matches)
            atomic_copy_parquet(con, new_leads_sql(n.night, has_decision), stage / "new_leads.parquet")
            atomic_copy_parquet(con, retired_sql(n.night), stage / "retired.parquet")
            atomic_copy_parquet(con, alerts_sql(n, has_decision), stage / "alerts.parquet")
            _quarantine(stage, n.deltas)
            counted = con.execute(f"""SELECT (SELECT count(*) FROM {matches_source(matches)}),
                (SELECT count(*) FROM read_parquet({_q(stage / 'new_leads.parquet')})),
                (SELECT count(*) FROM read_parquet({_q(stage / 'retired.parquet')}))""").fetchall()[0]
            alerts = con.execute(f"""SELECT wanted_id, person_id, match_probability, alert
                                     FROM read_parquet({_q(stage / 'alerts.parquet')})""").fetchall()
        n.timings["write"] = round(time.perf_counter() - t0, 3)
        n.counts.update({"matches": int(counted[0]), "new_leads": int(counted[1]), "retired": int(counted[2]),
                         "alerts": len(alerts)})
        n.timings["total"] = round(time.perf_counter() - t_start, 3)
        files = {s: p for s, i in inputs.items() for p in (i.snapshot, i.delta, i.removed) if p is not None}
        manifest = {
            "run_id": run_id,
            "night": n.night,
            "kind": "nightly",
            "version": __version__,
            "workspace": str(n.workspace),
            "inputs": {f"{s}:{k}": fingerprint(Path(p)) for s, i in inputs.items()
                       for k, p in (("snapshot", i.snapshot), ("delta", i.delta), ("removed", i.removed)) if p},
            "rules_dir": str(rules_dir(n.rules)),
            "rules_hash": store_rules_hash(n),
            "config": n.config.path,
            "model": {"path": str(model_file), "how": how, "created": model.created, "rules_hash": model.rules_hash,
                      "warnings": model.warnings},
            "outputs": {k: str(night_dir / f) for k, f in (("matches", "matches.parquet"), ("new_leads", "new_leads.parquet"),
                        ("retired", "retired.parquet"), ("alerts", "alerts.parquet"), ("report", "report.html"),
                        ("quarantine", "quarantine"))} | {"matches_form": matches_form(matches)},
            "counts": n.counts,
            "drift": drift_info,
            "warnings": n.warnings,
            "timings_s": n.timings,
            "memory_mb": n.memory,
        }
        del files
        write_manifest(stage / "manifest.json", manifest)
        _report(n, stage, lang)
        checkpoint("write")
        swap_in(stage, night_dir, NIGHT_FILES)
    checkpoint("swap")
    update_latest(out_dir, n.night)
    alert_rows = [{"wanted_id": a, "person_id": b, "match_probability": p, "alert": r} for a, b, p, r in alerts]
    return NightResult(n.night, night_dir, night_dir / "matches.parquet", night_dir / "manifest.json",
                       night_dir / "report.html", model_file, n.counts, n.timings, alert_rows, n.warnings, run_id)


def store_rules_hash(n) -> str:
    from linkage.workspace.store import get_meta

    return get_meta(n.con, "rules_hash") or ""


def _report(n, stage: Path, lang: str) -> None:
    """report.html from the staged files (the run report reads what it needs from the folder)."""
    from linkage.reports.run_report import build_run_report

    t0 = time.perf_counter()
    with n.reporter.stage("report"):
        build_run_report(stage, lang=lang, rules=n.rules)
    n.timings["report"] = round(time.perf_counter() - t0, 3)
