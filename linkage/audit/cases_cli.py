"""`linkage cases`: close-case candidates (deceased or over-age best candidates) from a run's matches."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from linkage import cli_support as sup


def cases(
    matches: Path = typer.Option(..., "--matches", help="matches.parquet written by `linkage run`.", metavar="M"),
    out: Path = typer.Option(..., "--out", help="Output folder: cases.parquet, summary.json.", metavar="DIR"),
    threshold: Optional[float] = typer.Option(None, "--threshold", help="Match probability (default: the rules' threshold).", metavar="P"),
    rules: Optional[Path] = sup.RulesOpt,
    lang: str = sup.LangOpt,
    quiet: bool = sup.QuietOpt,
    as_json: bool = sup.JsonOpt,
) -> None:
    """Wanted persons whose best candidate at or above the threshold is deceased or over the rules'
    age (80), with the evidence: leads for closing a case, never a decision."""
    from linkage.audit.cases import cases as find
    from linkage.reports.strings import t

    with sup.guard():
        code = sup.lang_code(lang)
        result = find(matches, sup.out_dir(out), sup.threshold_value(threshold, rules), rules)
    c = result.counts
    text = (t("cases.summary", code, rules, cases=c["cases"], deceased=c["deceased"], over_age=c["over_age"],
              age=result.over_age, threshold=result.threshold)
            + "\n" + t("cases.outputs", code, rules, path=result.out_dir))
    sup.emit({"out": str(result.out_dir), "counts": c, "threshold": result.threshold, "over_age": result.over_age},
             text, quiet, as_json)
