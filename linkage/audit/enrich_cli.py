"""`linkage enrich`: completing wanted records from confirmed matches (proposals for a steward,
then `--apply` of the approved ones to a copy with a change log)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from linkage import cli_support as sup


def enrich(
    wanted: Path = typer.Option(..., "--wanted", help="The wanted list (never modified).", metavar="W"),
    out: Path = typer.Option(..., "--out", help="Output folder.", metavar="DIR"),
    decisions: Optional[str] = typer.Option(None, "--decisions", help="Judgement store (SQLite file or postgresql:// URL): its live 'match' decisions are the confirmed matches.", metavar="STORE"),
    labels: Optional[Path] = typer.Option(None, "--labels", help="Or a labels file (wanted_id, person_id, label 1 = confirmed match).", metavar="FILE"),
    residents: Optional[Path] = typer.Option(None, "--residents", help="Residents register.", metavar="R"),
    id_cards: Optional[Path] = typer.Option(None, "--id-cards", help="ID-card register.", metavar="I"),
    apply: Optional[Path] = typer.Option(None, "--apply", help="Approved changes (changes.csv with 'approved' filled, or only the approved rows): write the corrected copy DIR/wanted_enriched.<ext> and its change log.", metavar="APPROVED_CHANGES"),
    rules: Optional[Path] = sup.RulesOpt,
    quiet: bool = sup.QuietOpt,
    as_json: bool = sup.JsonOpt,
) -> None:
    """Propose completions of wanted records from their confirmed register person (empty, less
    precise, older values); conflicts are listed, never applied. With --apply, write a corrected copy."""
    from linkage.audit.enrich import apply_changes, enrich as run_enrich
    from linkage.errors import UsageError
    from linkage.ingest.atomic import atomic_path

    with sup.guard():
        folder = sup.out_dir(out)
        if apply is not None:
            if decisions or labels or residents or id_cards:
                raise UsageError("--apply takes only --wanted, the approved changes and --out")
            suffix = wanted.suffix.lower() if wanted.suffix.lower() in (".csv", ".tsv", ".parquet", ".jsonl") else ".csv"
            result = apply_changes(wanted, apply, folder / f"wanted_enriched{suffix}", rules=rules)
            skipped_file = folder / "skipped_changes.csv"
            with atomic_path(skipped_file) as tmp:
                result.skipped.to_csv(tmp, index=False, encoding="utf-8")
            summary = {"output": str(result.output), "changes": str(result.changes), "applied": result.applied,
                       "skipped": int(len(result.skipped)), "skipped_file": str(skipped_file)}
            text = (f"{result.applied:,} approved changes applied to a copy: {result.output} (log: {result.changes})"
                    + (f"\n{len(result.skipped):,} not applied, with the reason: {skipped_file}" if len(result.skipped) else ""))
        else:
            got = run_enrich(wanted, folder, residents, id_cards, decisions=decisions, labels=labels, rules=rules)
            c = got.counts
            summary = {"out": str(got.out_dir), "counts": c, "by_rule": got.by_rule, "outputs": got.outputs}
            text = (f"confirmed matches: {c['confirmed_matches']:,} ({c['wanted_with_match']:,} wanted records)\n"
                    f"proposed changes: {c['changes']:,} ("
                    + ", ".join(f"{k} {v:,}" for k, v in got.by_rule.items()) + ")\n"
                    f"conflicts (listed, never applied): {c['conflicts']:,}\n"
                    f"for the steward: {got.outputs['changes_csv']} (fill 'approved'), then --apply it")
    sup.emit(summary, text, quiet, as_json)
