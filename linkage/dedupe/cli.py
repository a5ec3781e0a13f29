"""`linkage dedupe`: several wanted records of one person (the wanted list linked to itself)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from linkage import cli_support as sup


def dedupe(
    wanted: Path = typer.Option(..., "--wanted", help="The wanted list (CSV, Parquet, ...; never modified).", metavar="W"),
    out: Path = typer.Option(..., "--out", help="Output folder: pairs.parquet, clusters.parquet, decision_conflicts.parquet.", metavar="DIR"),
    model: Optional[Path] = typer.Option(None, "--model", help="Model file (default: the project's saved model, else the rules' m and u).", metavar="FILE"),
    threshold: Optional[float] = typer.Option(None, "--threshold", help="Link probability (default: rules/dedupe.yaml threshold).", metavar="P"),
    rules: Optional[Path] = sup.RulesOpt,
    lang: str = sup.LangOpt,
    quiet: bool = sup.QuietOpt,
    as_json: bool = sup.JsonOpt,
) -> None:
    """Find wanted persons with several wanted records (other units, spellings, dates, ids); the
    same decision number of one unit on two records is listed as a data error."""
    from linkage.dedupe.run import dedupe as run_dedupe

    with sup.guard():
        result = run_dedupe(wanted, sup.out_dir(out), rules=rules, model_path=model,
                            threshold=sup.checked_threshold(threshold), lang=sup.lang_code(lang))
    c = result.counts
    text = (f"wanted records: {c['rows_accepted']:,} of {c['rows_read']:,} read ({c['rows_quarantined']:,} quarantined)\n"
            f"pairs blocked: {c['blocked_pairs']:,}; written: {c['pairs_written']:,}; links: {c['links']:,}; "
            f"kept apart (two people): {c['cannot_link_pairs']:,}\n"
            f"clusters: {c['clusters']:,} holding {c['records_in_clusters']:,} records\n"
            f"same decision number of one unit on two records (data errors): {c['decision_conflicts']:,}\n"
            f"outputs: {result.out_dir}")
    sup.emit({"out": str(result.out_dir), "counts": c, "timings_s": result.timings, "model": result.model},
             text, quiet, as_json)
