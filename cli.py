"""The `linkage` command: parses arguments and calls the stage functions in `linkage/`.

Errors that carry a user-facing message (`LinkageError`) are printed without a traceback and
mapped to an exit code a scheduler can act on (see README, "Exit codes").
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape

from linkage.errors import LinkageError

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__.splitlines()[0])
err = Console(stderr=True)
out = Console()

RulesOpt = typer.Option(None, "--rules", help="Rules directory (default: the project's rules/).")


def _fail(exc: LinkageError) -> None:
    err.print(f"[bold red]error:[/] {escape(str(exc))}")
    raise typer.Exit(exc.exit_code)


@app.command()
def synth(
    residents: int = typer.Option(20000, help="Number of residents to generate."),
    wanted: int = typer.Option(500, help="Number of wanted records to generate."),
    seed: int = typer.Option(20251126, help="Random seed; the same seed gives the same files."),
    out_dir: Path = typer.Option(..., "--out", help="Output directory."),
) -> None:
    """Generate a synthetic population: residents, id_cards, wanted and truth (CSV)."""
    from linkage.synth import generate

    try:
        paths = generate(n_residents=residents, n_wanted=wanted, seed=seed, out_dir=out_dir)
    except LinkageError as exc:
        _fail(exc)
    for name, path in paths.items():
        out.print(f"{name}: {path}")


@app.command()
def ingest(
    wanted: Optional[Path] = typer.Option(None, help="Wanted-persons file (CSV, Parquet or JSON Lines)."),
    residents: Optional[Path] = typer.Option(None, help="Residents-register file."),
    id_cards: Optional[Path] = typer.Option(None, "--id-cards", help="ID-card register file."),
    out_dir: Path = typer.Option(..., "--out", help="Output directory (workspace + quarantine)."),
    rules: Optional[Path] = RulesOpt,
) -> None:
    """Read, map and validate the sources into a DuckDB workspace; quarantine bad rows."""
    from linkage.ingest import ingest as run_ingest

    sources = {"wanted": wanted, "residents": residents, "id_cards": id_cards}
    if not any(sources.values()):
        err.print("[bold red]error:[/] give at least one of --wanted, --residents, --id-cards")
        raise typer.Exit(2)
    try:
        report = run_ingest(sources, out_dir, rules=rules)
    except LinkageError as exc:
        _fail(exc)
    out.print(report.render())


def _reporter():
    from linkage.progress import ConsoleReporter

    return ConsoleReporter(err)


@app.command()
def normalize(
    source: str = typer.Option(..., "--source", help="wanted, residents or id_cards."),
    path: Path = typer.Argument(..., help="The source file (CSV, Parquet or JSON Lines)."),
    out_file: Path = typer.Option(..., "--out", help="Output Parquet file."),
    rules: Optional[Path] = RulesOpt,
) -> None:
    """Normalise one source file: names, dates, places, ids (input columns plus normalised ones)."""
    from linkage.normalize.cli import normalize_file

    try:
        result = normalize_file(path, source, out_file, rules=rules)
    except LinkageError as exc:
        _fail(exc)
    out.print(result)


@app.command()
def blocking(
    wanted: Path = typer.Option(..., help="Wanted-persons file."),
    residents: Optional[Path] = typer.Option(None, help="Residents-register file."),
    id_cards: Optional[Path] = typer.Option(None, "--id-cards", help="ID-card register file."),
    out_dir: Path = typer.Option(..., "--out", help="Work directory."),
    rules: Optional[Path] = RulesOpt,
) -> None:
    """Report the pairs each blocking rule adds, cumulatively, and the hottest keys; score nothing."""
    from linkage.block import render_counts
    from linkage.pipeline import prepare_workspace

    try:
        ctx = prepare_workspace(wanted, residents, id_cards, out_dir, rules, _reporter())
    except LinkageError as exc:
        _fail(exc)
    out.print(render_counts(ctx.rule_counts, ctx.counts["tables"]["wanted"]), highlight=False)
    ctx.con.close()


@app.command()
def train(
    wanted: Path = typer.Option(..., help="Wanted-persons file."),
    residents: Optional[Path] = typer.Option(None, help="Residents-register file."),
    id_cards: Optional[Path] = typer.Option(None, "--id-cards", help="ID-card register file."),
    out_dir: Path = typer.Option(..., "--out", help="Work directory."),
    model: Optional[Path] = typer.Option(None, "--model", help="Where to write the model (default: rules/model.json)."),
    rules: Optional[Path] = RulesOpt,
) -> None:
    """Fit the model (u from random pairs, m by EM) and write a versioned model file."""
    from linkage.model import save_model
    from linkage.pipeline import compare_pairs, fit_model, prepare_workspace, saved_model_path

    try:
        ctx = prepare_workspace(wanted, residents, id_cards, out_dir, rules, _reporter())
        fitted = fit_model(ctx, compare_pairs(ctx))
        path = save_model(fitted, model or saved_model_path(rules))
    except LinkageError as exc:
        _fail(exc)
    ctx.con.close()
    out.print(f"model: {path}")


@app.command()
def run(
    wanted: Path = typer.Option(..., help="Wanted-persons file."),
    residents: Optional[Path] = typer.Option(None, help="Residents-register file."),
    id_cards: Optional[Path] = typer.Option(None, "--id-cards", help="ID-card register file."),
    out_dir: Path = typer.Option(..., "--out", help="Output directory."),
    model: Optional[Path] = typer.Option(None, "--model", help="Model file (default: rules/model.json; trains if none)."),
    retrain: bool = typer.Option(False, "--train", help="Train a new model on this run's pairs even if one exists."),
    rules: Optional[Path] = RulesOpt,
) -> None:
    """Link the wanted list against the registers: ranked, scored, explained candidates in Parquet."""
    from linkage.pipeline import run as run_job

    try:
        result = run_job(
            wanted, residents, id_cards, out_dir, rules=rules, model_path=model, reporter=_reporter(), retrain=retrain
        )
    except LinkageError as exc:
        _fail(exc)
    _print_run(result)


def _print_run(result) -> None:
    c = result.counts
    out.print(
        f"candidates: {c['matches']:,} for {c['wanted_with_candidates']:,} of {c['tables']['wanted']:,} wanted records "
        f"(from {c['candidate_pairs']:,} candidate pairs) in {result.timings['total']:.1f} s"
    )
    out.print(f"matches:  {result.matches}")
    out.print(f"manifest: {result.manifest}")
    out.print(f"model:    {result.model_path}" + (" (trained in this run)" if result.trained else ""))


@app.command()
def evaluate(
    truth: Path = typer.Option(..., help="Truth CSV (wanted_id, person_id, scenarios)."),
    matches: Path = typer.Option(..., help="matches.parquet from `linkage run`."),
    threshold: Optional[float] = typer.Option(None, help="match_probability threshold (default: the rules')."),
    plot: Optional[Path] = typer.Option(
        None, "--plot", help="Also write PNG pictures here: precision-recall curve, score histogram, recall by scenario."
    ),
    rules: Optional[Path] = RulesOpt,
) -> None:
    """Precision, recall, F1, recall@1/@5, candidates per wanted, false alarms, recall per scenario."""
    from linkage.evaluate import evaluate as run_eval
    from linkage.settings import load_settings

    try:
        t = threshold if threshold is not None else load_settings(rules).threshold
        result = run_eval(truth, matches, t)
        pictures = {}
        if plot is not None:
            from linkage.plots import write_plots

            pictures = write_plots(truth, matches, plot, t)
    except LinkageError as exc:
        _fail(exc)
    out.print(result.render(), highlight=False)
    for path in pictures.values():
        out.print(f"plot: {path}", highlight=False)


@app.command()
def demo(
    sample: Path = typer.Option(Path("data_samples/sample"), help="Directory with wanted.csv, residents.csv, id_cards.csv."),
    out_dir: Path = typer.Option(Path("out/demo"), "--out", help="Output directory."),
    rules: Optional[Path] = RulesOpt,
) -> None:
    """Run the main job on the committed synthetic sample and print where the outputs are."""
    from linkage.evaluate import evaluate as run_eval
    from linkage.pipeline import run as run_job
    from linkage.settings import load_settings

    files = {name: sample / f"{name}.csv" for name in ("wanted", "residents", "id_cards")}
    missing = [str(p) for p in files.values() if not p.is_file()]
    if missing:
        err.print(f"[bold red]error:[/] sample files not found: {', '.join(missing)} (regenerate with `make sample`)")
        raise typer.Exit(2)
    try:
        result = run_job(files["wanted"], files["residents"], files["id_cards"], out_dir, rules=rules, reporter=_reporter())
        truth = sample / "truth.csv"
        if truth.is_file():
            out.print(run_eval(truth, result.matches, load_settings(rules).threshold).render(), highlight=False)
    except LinkageError as exc:
        _fail(exc)
    _print_run(result)
    out.print(f"quarantine: {out_dir / 'quarantine'}")
    out.print(f"workspace: {out_dir / 'workspace.duckdb'}")


@app.command()
def audit(
    source: str = typer.Option(..., "--source", help="wanted, residents or id_cards."),
    path: Path = typer.Argument(..., help="The source file (CSV, Parquet or JSON Lines)."),
    out_dir: Path = typer.Option(..., "--out", help="Output directory (issues, summary, report.html)."),
    residents: Optional[Path] = typer.Option(None, help="Residents file: flag wanted persons linked to a deceased resident."),
    rules: Optional[Path] = RulesOpt,
) -> None:
    """Check every record against rules/quality.yaml (đúng, đủ, sạch, sống) and write a report."""
    from linkage.audit import audit as run_audit

    try:
        result = run_audit(path, source, out_dir, rules=rules, residents=residents, say=_reporter().say)
    except LinkageError as exc:
        _fail(exc)
    out.print(result.render(), highlight=False)


@app.command()
def clean(
    source: str = typer.Option(..., "--source", help="wanted, residents or id_cards."),
    path: Path = typer.Argument(..., help="The source file (never modified)."),
    out_file: Path = typer.Option(..., "--out", help="The cleaned copy (.csv, .tsv, .parquet or .jsonl)."),
    rules: Optional[Path] = RulesOpt,
) -> None:
    """Apply only the safe fixes to a copy of a source file; write a change log next to it."""
    from linkage.audit import clean as run_clean

    try:
        result = run_clean(path, source, out_file, rules=rules)
    except LinkageError as exc:
        _fail(exc)
    out.print(result.render(), highlight=False)


def main() -> None:  # pragma: no cover - console entry for `python cli.py`
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
