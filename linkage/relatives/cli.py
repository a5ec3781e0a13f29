"""`linkage relatives`: a wanted person's father, mother, siblings and children in the register,
for the surrender letter and the visits (mounted by cli.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from linkage import cli_support as sup
from linkage.errors import UsageError


def relatives(
    wanted: Optional[Path] = typer.Option(None, "--wanted", help="The wanted list (CSV, Parquet, ...; never modified).", metavar="W"),
    residents: Optional[Path] = typer.Option(None, "--residents", help="The residents register.", metavar="R"),
    workspace: Optional[Path] = typer.Option(None, "--workspace", help="A nightly workspace: its normalised wanted list and register, and its scored candidates as the identities (instead of --wanted/--residents/--id-cards).", metavar="WS"),
    id_cards: Optional[Path] = typer.Option(None, "--id-cards", help="The ID-card register (later cards update the current address; card-only holders can be parents).", metavar="I"),
    out: Path = typer.Option(..., "--out", help="Output folder: relatives.parquet, identity_excluded.parquet, relatives_summary.json.", metavar="DIR"),
    matches: Optional[Path] = typer.Option(None, "--matches", help="matches.parquet of a run: each wanted record's best candidate at or above the identity threshold is the person, not a relative.", metavar="M"),
    threshold: Optional[float] = typer.Option(None, "--threshold", help="Probability for a relative to be marked probable (default: rules/relatives.yaml).", metavar="P"),
    rules: Optional[Path] = sup.RulesOpt,
    lang: str = sup.LangOpt,
    quiet: bool = sup.QuietOpt,
    as_json: bool = sup.JsonOpt,
) -> None:
    """Find each wanted person's probable father, mother, siblings and children in the register
    (names of parents, birth years, hometown, address), ranked, with where they live now."""
    from linkage.relatives.run import find_relatives

    with sup.guard():
        if workspace is not None and (wanted or residents or id_cards):
            raise UsageError("--workspace replaces --wanted, --residents and --id-cards: give one or the other")
        if workspace is None and (wanted is None or residents is None):
            raise UsageError("give --wanted and --residents, or --workspace")
        result = find_relatives(wanted, residents, sup.out_dir(out), id_cards=id_cards, matches=matches,
                                rules=rules, threshold=sup.checked_threshold(threshold), lang=lang,
                                workspace=workspace)
    c = result.counts
    probable = ", ".join(f"{k} {v:,}" for k, v in c["probable"].items())
    text = (f"wanted records: {c['wanted']['rows_accepted']:,}; register persons: {c['register_persons']:,}\n"
            f"probable relatives: {probable} ({c['wanted_with_probable_relative']:,} wanted persons with one)\n"
            f"identity candidates left out: {c['identity_excluded']:,} ({result.identity_source})\n"
            f"outputs: {result.out_dir}")
    sup.emit({"out": str(result.out_dir), "counts": c, "timings_s": result.timings,
              "identity_excluded_by": result.identity_source}, text, quiet, as_json)
