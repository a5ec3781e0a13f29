"""The `linkage` command: parses arguments and calls the stage functions in `linkage/`.

Errors that carry a user-facing message (`LinkageError`) are printed on one line without a
traceback and mapped to an exit code a scheduler can act on (see README, "Exit codes"). Output is
never wrapped to the terminal's width, so a log keeps every path and sentence on one line; on a
terminal the stages show progress bars, in a log one line each.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from pathlib import Path
from typing import Any, Optional

import typer
import typer.main
from typer.core import TyperGroup

from linkage import __version__
from linkage import cli_support as sup
from linkage.errors import UsageError
from linkage.cli_support import SOURCES, Command, JsonOpt, LangOpt, QuietOpt, RulesOpt
# --engine / --spark-master of run, train, blocking and nightly (linkage/backends; docs/spark.md)
from linkage.backends.options import EngineOpt, SparkMasterOpt, engine_name as _engine


ABOUT = """Record linkage for Vietnamese person records: links a list of wanted persons against
the residents register and the ID-card register, and writes ranked, scored and explained leads
(a lead is for a reviewer to check, never an identification)."""

# The commands, by who uses them (the top-level help lists them this way).
USERS: dict[str, tuple[str, ...]] = {
    "Analysts (the nightly match job)": ("nightly", "run", "report", "relatives", "evaluate", "sample-for-review",
                                         "blocking", "train", "ingest", "normalize"),
    "Officers at the desk (ID-card issuance, lodging checks)": ("screen",),
    "Reviewers (deciding on leads)": ("review",),
    "Data stewards (data quality)": ("audit", "clean", "dedupe", "cases", "enrich"),
    "Trying it out": ("demo", "synth"),
}


class ByUser(TyperGroup):
    """Top-level help lists the commands by user, not by how the code is organised. The commands in
    LAZY are mounted when first named, listed or mistyped: their modules cost about 1 s of imports
    (the review store's SQLAlchemy, audit) that `linkage run` does not need."""

    def _mount(self, names: Any) -> None:
        missing = [n for n in LAZY if n in names and n not in self.commands]
        if missing:
            extra = typer.Typer(add_completion=False, rich_markup_mode=None)
            for name in missing:
                LAZY[name](extra)
            self.commands.update(typer.main.get_group(extra).commands)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        self._mount((cmd_name,))
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: Any) -> list[str]:
        self._mount(LAZY)
        return super().list_commands(ctx)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if args and args[0] not in self.commands:  # a lazy name, or a typo to suggest among all
            self._mount(LAZY if args[0] not in LAZY else (args[0],))
        return super().resolve_command(ctx, args)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        self._mount(LAZY)
        for title, names in USERS.items():
            rows = [(n, self.commands[n].get_short_help_str(limit=120)) for n in names if n in self.commands]
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


app = typer.Typer(
    cls=ByUser,
    add_completion=False,
    no_args_is_help=True,
    help=ABOUT,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)


def command(**kwargs: Any):
    return app.command(cls=Command, **kwargs)


def _version(value: bool) -> None:
    if value:
        sup.out.print(f"linkage {__version__}", markup=False)
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """Record linkage for Vietnamese person records (see ABOUT)."""


main.__doc__ = ABOUT


@command()
def synth(
    residents: int = typer.Option(20000, help="Number of residents to generate."),
    wanted: int = typer.Option(500, help="Number of wanted records to generate."),
    seed: int = typer.Option(20251126, help="Random seed; the same seed gives the same files."),
    out_dir: Path = typer.Option(..., "--out", help="Output directory.", metavar="DIR"),
    nights: int = typer.Option(0, "--nights", help="Also write this many nights after it (snapshots and deltas) under OUT/nights/."),
    start: str = typer.Option("2026-01-01", "--start", help="The first night's date (with --nights).", metavar="YYYY-MM-DD"),
    families: bool = typer.Option(False, "--families", help="Also put parents and children of register persons in the register (truth_relatives.csv, for `linkage relatives`)."),
    wanted_duplicates: float = typer.Option(0.0, "--wanted-duplicates", help="Give this share of wanted persons a second record from another unit (duplicates.csv, for `linkage dedupe`).", metavar="SHARE"),
    quiet: bool = QuietOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Generate a synthetic population: residents, id_cards, wanted and truth (CSV); with --nights,
    a sequence of nights after it (new cards, changed residents, new and withdrawn wanted records)."""
    from linkage.synth import generate

    with sup.guard():
        if not 0.0 <= wanted_duplicates <= 0.5:
            raise UsageError(f"--wanted-duplicates must be a share between 0 and 0.5 (got {wanted_duplicates})")
        paths = generate(n_residents=residents, n_wanted=wanted, seed=seed, out_dir=sup.out_dir(out_dir), families=families)
        if families:
            paths["truth_relatives"] = out_dir / "truth_relatives.csv"
        if wanted_duplicates:
            from linkage.synth.duplicates import DUPLICATES, add_duplicates

            add_duplicates(out_dir, share=wanted_duplicates, seed=seed)
            paths["duplicates"] = out_dir / DUPLICATES
        if nights:
            from linkage.synth.nights import generate_nights

            for folder in generate_nights(out_dir, nights, seed, out_dir / "nights", start=start):
                paths[f"night {folder.name}"] = folder
    sup.emit({k: str(v) for k, v in paths.items()}, "\n".join(f"{k}: {v}" for k, v in paths.items()), quiet, as_json)


@command()
def ingest(
    wanted: Optional[Path] = typer.Option(None, help="Wanted-persons file (CSV, Parquet or JSON Lines).", metavar="FILE"),
    residents: Optional[Path] = typer.Option(None, help="Residents-register file.", metavar="FILE"),
    id_cards: Optional[Path] = typer.Option(None, "--id-cards", help="ID-card register file.", metavar="FILE"),
    out_dir: Path = typer.Option(..., "--out", help="Output directory (workspace + quarantine).", metavar="DIR"),
    rules: Optional[Path] = RulesOpt,
    quiet: bool = QuietOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Read, map and validate the sources into a DuckDB workspace; quarantine bad rows."""
    from linkage.ingest import ingest as run_ingest

    sources = {"wanted": wanted, "residents": residents, "id_cards": id_cards}
    if not any(sources.values()):
        sup.fail("give at least one of --wanted, --residents, --id-cards", 2)
    with sup.guard():
        report = run_ingest(sources, sup.out_dir(out_dir), rules=rules)
    summary = {"workspace": str(report.workspace), "sources": {s: r.to_dict() for s, r in report.sources.items()}}
    sup.emit(summary, str(report.render()), quiet, as_json)


@command()
def normalize(
    source: str = typer.Option(..., "--source", help="wanted, residents or id_cards (id-cards also accepted).", metavar="SOURCE"),
    path: Path = typer.Argument(..., help="The source file (CSV, Parquet or JSON Lines).", metavar="PATH"),
    out_file: Path = typer.Option(..., "--out", help="Output Parquet file.", metavar="FILE"),
    rules: Optional[Path] = RulesOpt,
    quiet: bool = QuietOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Normalise one source file: names, dates, places, ids (input columns plus normalised ones)."""
    from linkage.normalize.cli import normalize_file

    with sup.guard():
        result = normalize_file(path, sup.source_name(source), sup.out_file(out_file), rules=rules)
    sup.emit({"source": sup.source_name(source), "input": str(path), "output": str(out_file), "summary": result}, result, quiet, as_json)


@command()
def blocking(
    wanted: Path = typer.Option(..., help="Wanted-persons file.", metavar="FILE"),
    residents: Optional[Path] = typer.Option(None, help="Residents-register file.", metavar="FILE"),
    id_cards: Optional[Path] = typer.Option(None, "--id-cards", help="ID-card register file.", metavar="FILE"),
    out_dir: Path = typer.Option(..., "--out", help="Work directory.", metavar="DIR"),
    rules: Optional[Path] = RulesOpt,
    engine: str = EngineOpt,
    spark_master: Optional[str] = SparkMasterOpt,
    quiet: bool = QuietOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Report the pairs each blocking rule adds, cumulatively, and the hottest keys; score nothing."""
    from linkage.block import render_counts
    from linkage.pipeline import prepare_workspace

    with sup.guard():
        ctx = prepare_workspace(wanted, residents, id_cards, sup.out_dir(out_dir), rules, sup.reporter(quiet or as_json),
                                engine=_engine(engine), spark_master=spark_master)
    ctx.con.close()
    summary = {"wanted": ctx.counts["tables"]["wanted"], "rules": ctx.counts["blocking"],
               "candidate_pairs": ctx.counts["candidate_pairs"]}
    sup.emit(summary, render_counts(ctx.rule_counts, ctx.counts["tables"]["wanted"]), quiet, as_json)


@command()
def train(
    wanted: Path = typer.Option(..., help="Wanted-persons file.", metavar="FILE"),
    residents: Optional[Path] = typer.Option(None, help="Residents-register file.", metavar="FILE"),
    id_cards: Optional[Path] = typer.Option(None, "--id-cards", help="ID-card register file.", metavar="FILE"),
    out_dir: Path = typer.Option(..., "--out", help="Work directory.", metavar="DIR"),
    model: Optional[Path] = typer.Option(None, "--model", help="Where to write the model (default: rules/model.json).", metavar="FILE"),
    labels: Optional[Path] = typer.Option(
        None, "--labels", metavar="FILE",
        help="Reviewers' labels (`linkage review export`, Splink's labels, or wanted_id, person_id, label 1/0/0.5): "
             "m from labelled pairs where a level has enough, EM elsewhere, plus a calibration map; unsure labels dropped.",
    ),
    rules: Optional[Path] = RulesOpt,
    engine: str = EngineOpt,
    spark_master: Optional[str] = SparkMasterOpt,
    quiet: bool = QuietOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Fit the model (u from random pairs, m by EM or from labels) and write a versioned model file."""
    from linkage.model import save_model
    from linkage.pipeline import compare_pairs, fit_model, prepare_workspace, saved_model_path

    with sup.guard():
        target = sup.out_file(model or saved_model_path(rules))
        labelled = None
        if labels is not None:
            from linkage.labels import load_labels

            labelled = load_labels(labels)
        ctx = prepare_workspace(wanted, residents, id_cards, sup.out_dir(out_dir), rules, sup.reporter(quiet or as_json),
                                engine=_engine(engine), spark_master=spark_master)
        fitted = fit_model(ctx, compare_pairs(ctx), labels=labelled)
        path = save_model(fitted, target)
    ctx.con.close()
    summary = {"model": str(path), "warnings": fitted.warnings, "timings_s": ctx.timings,
               "labels": fitted.training.get("labels"), "calibration": (fitted.calibration or {}).get("method")}
    sup.emit(summary, f"model: {path}", quiet, as_json)


def _run_summary(result) -> tuple[dict[str, Any], str]:
    c = result.counts
    text = "\n".join([
        f"candidates: {c['matches']:,} for {c['wanted_with_candidates']:,} of {c['tables']['wanted']:,} wanted records "
        f"(from {c['candidate_pairs']:,} candidate pairs) in {result.timings['total']:.1f} s",
        f"matches:  {result.matches}",
        f"report:   {result.report}",
        f"manifest: {result.manifest}",
        f"model:    {result.model_path}" + (" (trained in this run)" if result.trained else ""),
    ] + [f"warning: {w}" for w in result.warnings])
    summary = {
        "run_id": result.run_id,
        "matches": str(result.matches),
        "report": str(result.report),
        "manifest": str(result.manifest),
        "model": str(result.model_path),
        "trained": result.trained,
        "candidates": c["matches"],
        "wanted_with_candidates": c["wanted_with_candidates"],
        "wanted": c["tables"]["wanted"],
        "candidate_pairs": c["candidate_pairs"],
        "warnings": result.warnings,
        "timings_s": result.timings,
    }
    return summary, text


@command()
def run(
    wanted: Path = typer.Option(..., help="Wanted-persons file.", metavar="FILE"),
    residents: Optional[Path] = typer.Option(None, help="Residents-register file.", metavar="FILE"),
    id_cards: Optional[Path] = typer.Option(None, "--id-cards", help="ID-card register file.", metavar="FILE"),
    out_dir: Path = typer.Option(..., "--out", help="Output directory.", metavar="DIR"),
    model: Optional[Path] = typer.Option(None, "--model", help="Model file (default: rules/model.json; trains if none).", metavar="FILE"),
    retrain: bool = typer.Option(False, "--train", help="Train a new model on this run's pairs even if one exists."),
    decisions: Optional[str] = typer.Option(
        None, "--decisions", metavar="STORE",
        help="Judgement store (SQLite file or postgresql:// URL): each candidate gets the reviewers' live decision.",
    ),
    lang: str = LangOpt,
    rules: Optional[Path] = RulesOpt,
    engine: str = EngineOpt,
    spark_master: Optional[str] = SparkMasterOpt,
    relatives: bool = typer.Option(False, "--relatives", help="Also write relatives.parquet (the wanted persons' parents, siblings, children in the register; docs/relatives.md)."),
    quiet: bool = QuietOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Link the wanted list against the registers: ranked, scored, explained candidates in Parquet."""
    from linkage.pipeline import run as run_job

    with sup.guard():
        result = run_job(
            wanted, residents, id_cards, sup.out_dir(out_dir), rules=rules, model_path=model,
            reporter=sup.reporter(quiet or as_json), retrain=retrain, lang=sup.lang_code(lang), decisions=decisions,
            engine=_engine(engine), spark_master=spark_master, relatives=relatives,
        )
    summary, text = _run_summary(result)
    if quiet and not as_json:
        for w in result.warnings:
            sup.err.print(f"warning: {w}", markup=False)
    sup.emit(summary, text, quiet, as_json)


@command()
def report(
    run_dir: Path = typer.Option(..., "--run", help="A run's output directory (as given to `linkage run --out`).", metavar="DIR"),
    truth: Optional[Path] = typer.Option(None, help="Truth CSV: adds the accuracy tables and curves.", metavar="FILE"),
    threshold: Optional[float] = typer.Option(None, help="match_probability threshold (default: the rules')."),
    lang: str = LangOpt,
    rules: Optional[Path] = RulesOpt,
    quiet: bool = QuietOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Rebuild a run's HTML report (report.html) from its outputs, optionally with accuracy."""
    from linkage.reports.run_report import build_run_report

    with sup.guard():
        t = sup.threshold_value(threshold, rules) if threshold is not None else None
        path = build_run_report(run_dir, lang=sup.lang_code(lang), truth=truth, threshold=t, rules=rules)
    sup.emit({"report": str(path)}, f"report: {path}", quiet, as_json)


@command()
def evaluate(
    matches: Path = typer.Option(..., help="matches.parquet from `linkage run`.", metavar="FILE"),
    truth: Optional[Path] = typer.Option(None, help="Truth CSV (wanted_id, person_id, scenarios).", metavar="FILE"),
    labels: Optional[Path] = typer.Option(
        None, "--labels", metavar="FILE",
        help="Reviewers' labels instead of a truth file: precision and recall estimated from them (a review queue is not a random sample).",
    ),
    threshold: Optional[float] = typer.Option(None, help="match_probability threshold, 0..1 (default: the rules')."),
    calibration: bool = typer.Option(False, "--calibration", help="Reliability table (predicted vs observed per probability band) and expected calibration error."),
    thresholds: bool = typer.Option(False, "--thresholds", help="Precision, recall, F1 and false alarms by threshold, to choose scoring.threshold."),
    plot: Optional[Path] = typer.Option(
        None, "--plot", help="Also write PNG pictures here: precision-recall curve, score histogram, recall by scenario, reliability diagram.",
        metavar="DIR",
    ),
    rules: Optional[Path] = RulesOpt,
    quiet: bool = QuietOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Precision, recall, F1, recall@1/@5, candidates per wanted, false alarms, recall per scenario;
    calibration and a threshold table; or estimates from reviewers' labels."""
    from linkage import evaluate as ev

    with sup.guard():
        if (truth is None) == (labels is None):
            raise UsageError("give --truth FILE (a generated truth) or --labels FILE (reviewers' labels), one of them")
        t = sup.threshold_value(threshold, rules)
        if labels is not None:
            from linkage.labels import evaluate_labels

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # render() states the warning in its own words
                estimate = evaluate_labels(labels, matches, t)
            sup.emit(estimate.summary(), estimate.render(), quiet, as_json)
            return
        result = ev.evaluate(truth, matches, t)
        summary, texts = _evaluation_summary(result, t), [result.render()]
        if calibration:
            cal = ev.calibration(truth, matches)
            summary["calibration"] = {"ece": cal.ece, "bands": cal.table.to_dict("records")}
            texts.append(cal.render())
        if thresholds:
            table = ev.sweep(truth, matches)
            summary["thresholds"] = table.table.to_dict("records")
            texts.append(table.render())
        plot_dir = sup.out_dir(plot) if plot is not None else None  # checked before anything is printed
    sup.emit(summary, "\n\n".join(texts), quiet, as_json)
    if plot_dir is not None:
        from linkage.plots import write_plots

        with sup.guard():
            pictures = write_plots(truth, matches, plot_dir, t)
        if not (quiet or as_json):
            for path in pictures.values():
                sup.out.print(f"plot: {path}", markup=False)


@command(name="sample-for-review")
def sample_for_review(
    matches: Path = typer.Option(..., help="matches.parquet from `linkage run`.", metavar="FILE"),
    n: int = typer.Option(..., "--n", help="How many candidates to draw.", min=1),
    out_file: Path = typer.Option(..., "--out", help="The sample (Parquet), with a 'label' column to fill.", metavar="FILE"),
    seed: int = typer.Option(0, help="Random seed; the same seed draws the same sample."),
    quiet: bool = QuietOpt,
    as_json: bool = JsonOpt,
) -> None:
    """A score-stratified random sample of candidates to label, for unbiased precision and recall."""
    from linkage.labels import draw_review_sample

    with sup.guard():
        drawn = draw_review_sample(matches, n, sup.out_file(out_file), seed=seed)
    sup.emit({"path": str(drawn.path), "drawn": len(drawn.sample)}, drawn.render(), quiet, as_json)


def _evaluation_summary(result, threshold: float) -> dict[str, Any]:
    """The scalar metrics of an evaluation (tables stay in the text form)."""
    data = {"threshold": threshold}
    for key, value in vars(result).items():
        if isinstance(value, (int, float, str, bool)) or value is None:
            data[key] = value
    return data


@command()
def demo(
    sample: Path = typer.Option(Path("data_samples/sample"), help="Directory with wanted.csv, residents.csv, id_cards.csv.", metavar="DIR"),
    out_dir: Path = typer.Option(Path("out/demo"), "--out", help="Output directory.", metavar="DIR"),
    lang: str = LangOpt,
    rules: Optional[Path] = RulesOpt,
    quiet: bool = QuietOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Run the main job on the committed synthetic sample and print where the outputs are."""
    from linkage.evaluate import evaluate as run_eval
    from linkage.pipeline import run as run_job

    files = {name: sample / f"{name}.csv" for name in SOURCES}
    missing = [str(p) for p in files.values() if not p.is_file()]
    if missing:
        sup.fail(f"sample files not found: {', '.join(missing)} (regenerate with `make sample`)", 2)
    with sup.guard():
        result = run_job(files["wanted"], files["residents"], files["id_cards"], sup.out_dir(out_dir), rules=rules,
                         reporter=sup.reporter(quiet or as_json), lang=sup.lang_code(lang))
        truth = sample / "truth.csv"
        evaluation = run_eval(truth, result.matches, sup.threshold_value(None, rules)) if truth.is_file() else None
    summary, text = _run_summary(result)
    if evaluation is not None:
        summary["evaluation"] = _evaluation_summary(evaluation, sup.threshold_value(None, rules))
        text = evaluation.render() + "\n" + text
    summary.update({"quarantine": str(out_dir / "quarantine"), "workspace": str(out_dir / "workspace.duckdb")})
    text += f"\nquarantine: {out_dir / 'quarantine'}\nworkspace: {out_dir / 'workspace.duckdb'}"
    sup.emit(summary, text, quiet, as_json)


@command()
def audit(
    source: str = typer.Option(..., "--source", help="wanted, residents or id_cards (id-cards also accepted).", metavar="SOURCE"),
    path: Path = typer.Argument(..., help="The source file (CSV, Parquet or JSON Lines).", metavar="PATH"),
    out_dir: Path = typer.Option(..., "--out", help="Output directory (issues, summary, report.html).", metavar="DIR"),
    residents: Optional[Path] = typer.Option(None, help="Residents file: flag wanted persons linked to a deceased resident.", metavar="FILE"),
    matches: Optional[Path] = typer.Option(None, help="A run's matches.parquet: the deceased link uses its candidates instead of exact keys.", metavar="FILE"),
    dedupe: bool = typer.Option(False, "--dedupe", help="Wanted list: the duplicate check lists `linkage dedupe`'s clusters (written to OUT/dedupe/) instead of exact-key groups."),
    lang: str = LangOpt,
    rules: Optional[Path] = RulesOpt,
    quiet: bool = QuietOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Check every record against rules/quality.yaml (đúng, đủ, sạch, sống) and write a report."""
    from linkage.audit import audit as run_audit

    with sup.guard():
        result = run_audit(path, sup.source_name(source), sup.out_dir(out_dir), rules=rules, residents=residents,
                           matches=matches, say=sup.reporter(quiet or as_json).say, lang=sup.lang_code(lang),
                           dedupe=dedupe)
    summary = {"source": result.source, "issues": str(result.issues), "summary": str(result.summary),
               "report": str(result.report), "meta": str(result.meta), "rows_read": result.rows_read,
               "rows_accepted": result.rows_accepted, "rows_quarantined": result.rows_quarantined}
    sup.emit(summary, result.render(), quiet, as_json)


@command()
def clean(
    source: str = typer.Option(..., "--source", help="wanted, residents or id_cards (id-cards also accepted).", metavar="SOURCE"),
    path: Path = typer.Argument(..., help="The source file (never modified).", metavar="PATH"),
    out_file: Path = typer.Option(..., "--out", help="The cleaned copy (.csv, .tsv, .parquet or .jsonl).", metavar="FILE"),
    rules: Optional[Path] = RulesOpt,
    quiet: bool = QuietOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Apply only the safe fixes to a copy of a source file; write a change log next to it."""
    from linkage.audit import clean as run_clean

    with sup.guard():
        result = run_clean(path, sup.source_name(source), sup.out_file(out_file), rules=rules)
    summary = {"source": result.source, "input": str(result.input), "output": str(result.output),
               "changes": str(result.changes), "rows_written": result.rows_written,
               "cells_changed": result.cells_changed, "by_rule": result.by_rule}
    sup.emit(summary, result.render(), quiet, as_json)


def _mount_review(into: typer.Typer) -> None:
    from linkage.review.cli import review_app

    into.add_typer(review_app, name="review", help="Reviewer workbench: the web app (serve), accounts (users add), export of decisions.")


def _mount_nightly(into: typer.Typer) -> None:
    from linkage.workspace.cli import nightly

    into.command(cls=Command, name="nightly")(nightly)


def _mount_screen(into: typer.Typer) -> None:
    """Screening at the desk; it and the commands below live with their code (linkage/screen,
    linkage/relatives, linkage/dedupe, linkage/audit)."""
    from linkage.screen.cli import screen_app

    into.add_typer(screen_app, name="screen")


def _mount_function(module: str, name: str) -> Any:
    def mount(into: typer.Typer) -> None:
        into.command(cls=Command, name=name)(getattr(importlib.import_module(module), name))

    return mount


# Mounted by ByUser when first needed, in this order (the order `--help` and completion list them).
LAZY: dict[str, Any] = {
    "review": _mount_review,
    "nightly": _mount_nightly,
    "screen": _mount_screen,
    "relatives": _mount_function("linkage.relatives.cli", "relatives"),
    "dedupe": _mount_function("linkage.dedupe.cli", "dedupe"),
    "cases": _mount_function("linkage.audit.cases_cli", "cases"),
    "enrich": _mount_function("linkage.audit.enrich_cli", "enrich"),
}


if __name__ == "__main__":  # pragma: no cover - `python cli.py`
    sys.exit(app(prog_name="linkage"))
