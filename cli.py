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

from linkage.errors import LinkageError

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__.splitlines()[0])
err = Console(stderr=True)
out = Console()

RulesOpt = typer.Option(None, "--rules", help="Rules directory (default: the project's rules/).")


def _fail(exc: LinkageError) -> None:
    err.print(f"[bold red]error:[/] {exc}")
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


def main() -> None:  # pragma: no cover - console entry for `python cli.py`
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
