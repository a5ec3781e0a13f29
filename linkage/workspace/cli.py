"""`linkage nightly`: the command function (registered in cli.py); it parses, calls
linkage.workspace.nightly.nightly, and prints the alerts first, then the summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from linkage.backends.options import EngineOpt, SparkMasterOpt, engine_name
from linkage.cli_support import JsonOpt, LangOpt, QuietOpt, RulesOpt, emit as _emit, err, guard
from linkage.cli_support import lang_code as _lang, out_dir as _out_dir, reporter as _reporter

FileOpt = dict(metavar="FILE")


def _summary(result) -> tuple[dict[str, Any], str]:
    c = result.counts
    lines = [f"ALERT: {a['wanted_id']} ~ {a['person_id']} p={a['match_probability']:.3f}: {a['alert']}"
             for a in result.alerts]
    delta = c.get("delta") or {}
    lines += [
        f"night {result.night}: " + "; ".join(f"{s} +{d['added']:,} ~{d['changed']:,} -{d['removed']:,}"
                                               for s, d in delta.items()),
        f"screened {c.get('screened_pairs', 0):,} pairs; {c.get('new_pairs', 0):,} new, {c.get('retired_pairs', 0):,} "
        f"retired; {c.get('candidate_pairs', 0):,} current candidate pairs",
        f"candidates: {c.get('matches', 0):,} for {c.get('wanted_with_candidates', 0):,} of "
        f"{(c.get('tables') or {}).get('wanted', 0):,} wanted records; {c.get('new_leads', 0):,} new leads, "
        f"{len(result.alerts):,} alerts, in {result.timings.get('total', 0):.1f} s",
        f"night:    {result.night_dir}",
        f"manifest: {result.manifest}",
        f"model:    {result.model_path}",
    ] + [f"warning: {w}" for w in result.warnings]
    summary = {
        "run_id": result.run_id, "night": result.night, "night_dir": str(result.night_dir),
        "matches": str(result.matches), "manifest": str(result.manifest), "report": str(result.report),
        "model": str(result.model_path), "alerts": result.alerts, "counts": {
            k: c.get(k) for k in ("delta", "screened_pairs", "new_pairs", "retired_pairs", "candidate_pairs", "matches",
                                  "new_leads", "retired", "alerts", "wanted_with_candidates", "tables")},
        "warnings": result.warnings, "timings_s": result.timings,
    }
    return summary, "\n".join(lines)


def nightly(
    workspace: Path = typer.Option(..., "--workspace", help="Workspace folder (created on the first night).", metavar="DIR"),
    out_dir: Path = typer.Option(..., "--out", help="Output folder: one sub-folder per night and a `latest` link.", metavar="DIR"),
    wanted: Optional[Path] = typer.Option(None, "--wanted", help="Wanted list snapshot (the whole list).", **FileOpt),
    residents: Optional[Path] = typer.Option(None, "--residents", help="Residents register snapshot.", **FileOpt),
    id_cards: Optional[Path] = typer.Option(None, "--id-cards", help="ID-card register snapshot.", **FileOpt),
    wanted_delta: Optional[Path] = typer.Option(None, "--wanted-delta", help="Added or changed wanted records.", **FileOpt),
    residents_delta: Optional[Path] = typer.Option(None, "--residents-delta", help="Added or changed residents.", **FileOpt),
    id_cards_delta: Optional[Path] = typer.Option(None, "--id-cards-delta", help="Added or changed ID cards.", **FileOpt),
    removed_wanted: Optional[Path] = typer.Option(None, "--removed-wanted", help="Ids of withdrawn wanted records.", **FileOpt),
    removed_residents: Optional[Path] = typer.Option(None, "--removed-residents", help="Ids of removed residents.", **FileOpt),
    removed_id_cards: Optional[Path] = typer.Option(None, "--removed-id-cards", help="Numbers of removed ID cards.", **FileOpt),
    night: Optional[str] = typer.Option(None, "--date", help="The night, YYYY-MM-DD (default: today).", metavar="YYYY-MM-DD"),
    model: Optional[Path] = typer.Option(None, "--model", help="Use this model file (kept in the workspace as a new version).", **FileOpt),
    retrain: bool = typer.Option(False, "--retrain", help="Train a new model version on the current candidate pairs."),
    decisions: Optional[str] = typer.Option(
        None, "--decisions", metavar="STORE",
        help="Judgement store (SQLite file or postgresql:// URL): each candidate gets the reviewers' live decision."),
    config: Optional[Path] = typer.Option(None, "--config", help="Nightly config (default: rules/nightly.yaml).", **FileOpt),
    lang: str = LangOpt,
    rules: Optional[Path] = RulesOpt,
    engine: str = EngineOpt,
    spark_master: Optional[str] = SparkMasterOpt,
    quiet: bool = QuietOpt,
    as_json: bool = JsonOpt,
) -> None:
    """One night on a persistent workspace: screen what changed, rescore every candidate, report new leads and alerts."""
    from linkage.workspace.delta import SourceInput
    from linkage.workspace.nightly import nightly as run_night

    with guard():
        inputs = {
            "wanted": SourceInput(wanted, wanted_delta, removed_wanted),
            "residents": SourceInput(residents, residents_delta, removed_residents),
            "id_cards": SourceInput(id_cards, id_cards_delta, removed_id_cards),
        }
        result = run_night(
            workspace, _out_dir(out_dir), inputs, night=night, model_path=model, retrain=retrain,
            decisions=decisions, rules=rules, config=config, reporter=_reporter(quiet or as_json), lang=_lang(lang),
            engine=engine_name(engine), spark_master=spark_master,
        )
    summary, text = _summary(result)
    if quiet and not as_json:
        for a in result.alerts:
            err.print(f"ALERT: {a['wanted_id']} ~ {a['person_id']}: {a['alert']}", markup=False)
        for w in result.warnings:
            err.print(f"warning: {w}", markup=False)
    _emit(summary, text, quiet, as_json)
