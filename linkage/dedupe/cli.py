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
    c, lang = result.counts, sup.lang_code(lang)
    sup.emit({"out": str(result.out_dir), "counts": c, "timings_s": result.timings, "model": result.model},
             summary_text(c, result.out_dir, lang), quiet, as_json)


def summary_text(c: dict, out_dir: Path, lang: str) -> str:
    """What the command prints, in the officer's language (rules/strings/dedupe.<lang>.yaml)."""
    from linkage.reports.html import fmt_int
    from linkage.reports.strings import t

    n = {k: fmt_int(v, lang) for k, v in c.items() if isinstance(v, int)}
    return "\n".join([
        t("dedupe.summary.records", lang, accepted=n["rows_accepted"], read=n["rows_read"], quarantined=n["rows_quarantined"]),
        t("dedupe.summary.pairs", lang, blocked=n["blocked_pairs"], written=n["pairs_written"], links=n["links"],
          apart=n["cannot_link_pairs"]),
        t("dedupe.summary.clusters", lang, clusters=n["clusters"], records=n["records_in_clusters"]),
        t("dedupe.summary.conflicts", lang, conflicts=n["decision_conflicts"]),
        t("dedupe.summary.outputs", lang, path=out_dir),
    ])
