"""`linkage audit`: read one source, run every quality rule, write issues.parquet,
summary.parquet, report.html and audit.json (each written to a temporary name, then renamed)."""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Callable

import pandas as pd
import pyarrow.compute as pc

from linkage.audit.checks import CHECKS, run_checks
from linkage.audit.context import AuditContext, reference_date
from linkage.audit.overview import wanted_overview
from linkage.audit.report_html import render
from linkage.audit.rules import SEVERITIES, load_quality_rules
from linkage.audit.summary import build_summary, unchecked_rules
from linkage.errors import InputError
from linkage.ingest.pipeline import read_source_checked
from linkage.ingest.atomic import atomic_path, write_json, write_parquet
from linkage.ingest.contract import KEY, SOURCES

ISSUES, SUMMARY, REPORT, META = "issues.parquet", "summary.parquet", "report.html", "audit.json"


@dataclass
class AuditResult:
    source: str
    out_dir: Path
    issues: Path
    summary: Path
    report: Path
    meta: Path
    rows_read: int
    rows_accepted: int
    rows_quarantined: int
    issue_count: int
    by_rule: dict[str, int] = field(default_factory=dict)
    by_severity: dict[str, int] = field(default_factory=dict)
    overview: dict | None = None
    timings: dict[str, float] = field(default_factory=dict)

    def render(self) -> str:
        sev = ", ".join(f"{k} {v:,}" for k, v in self.by_severity.items())
        lines = [
            f"{self.source}: {self.rows_read:,} rows read = {self.rows_accepted:,} audited + "
            f"{self.rows_quarantined:,} rejected at ingestion",
            f"issues: {self.issue_count:,} ({sev})" if self.issue_count else "issues: none",
        ]
        # every rule with issues, so the list sums to the total above
        lines += [f"  {rule:<32} {n:>10,}" for rule, n in sorted(self.by_rule.items(), key=lambda kv: (-kv[1], kv[0]))
                  if n]
        lines.append(f"written: {self.issues}, {self.summary}, {self.report} ({self.timings.get('total', 0):.1f} s)")
        return "\n".join(lines)


def audit(path: Path | str, source: str, out_dir: Path | str, rules: Path | str | None = None,
          residents: Path | str | None = None, say: Callable[[str], None] | None = None,
          matches: Path | str | None = None,
          today: date | None = None, lang: str = "vi", dedupe: bool = False) -> AuditResult:
    """Audit one source file against rules/quality.yaml. `residents` (a residents file) enables the
    wanted-list check for persons who link to a deceased resident; `today` overrides the reference
    date (reruns of old data, tests); `lang` is the report's language ("vi" or "en"); `dedupe`
    (wanted only): the duplicate check lists `linkage dedupe`'s clusters (its outputs written to
    `<out>/dedupe/`) instead of the exact-key groups."""
    if source not in SOURCES:
        raise InputError(f"unknown source {source!r}: use one of {', '.join(SOURCES)}")
    step = say or (lambda _m: None)
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    rules_path = Path(rules) if rules is not None else None
    qrules = load_quality_rules(rules_path, CHECKS)
    if residents is not None and not Path(residents).is_file():
        raise InputError(f"{residents}: residents file not found")
    if dedupe and source != "wanted":
        raise InputError(f"--dedupe checks a wanted list for several records of one person (got --source {source})")

    step(f"reading {path}")
    read = read_source_checked(path, source, rules_path)
    accepted, quarantined, report = read.accepted, read.quarantine, read.report
    timings["read"] = time.perf_counter() - t0
    ctx = AuditContext(
        source=source, table=accepted, quarantine=quarantined, qrules=qrules, rules=rules_path,
        today=today or reference_date(qrules, rules_path), residents=Path(residents) if residents else None,
        missing_columns=tuple(report.missing_columns), key_header=report.mapped_columns.get(KEY[source], KEY[source]),
        repairs=read.repairs, matches=Path(matches) if matches else None,
    )
    dedupe_meta = None
    if dedupe:
        ctx.dedupe_clusters, dedupe_meta = _dedupe(Path(path), Path(out_dir), rules_path, step)
        timings["dedupe"] = time.perf_counter() - t0 - timings["read"]
    t1 = time.perf_counter()
    issues = run_checks(ctx)
    timings["checks"] = time.perf_counter() - t1
    step(_checked_line(len(qrules.for_source(source)), timings["checks"], issues))

    t2 = time.perf_counter()
    summary = build_summary(ctx, issues)
    unchecked = unchecked_rules(ctx)
    overview = wanted_overview(ctx, issues, unchecked) if source == "wanted" else None
    by_rule = {r.id: 0 for r in qrules.for_source(source)}
    by_severity = {s: 0 for s in SEVERITIES}
    if issues.num_rows:
        for k, v in Counter(issues.column("rule").to_pylist()).items():
            by_rule[k] = v
        for k, v in Counter(issues.column("severity").to_pylist()).items():
            by_severity[k] = v
    records = pc.count_distinct(issues.column("row")).as_py() if issues.num_rows else 0  # file-level: no row
    meta = {
        "source": source,
        "path": str(path),
        "reference_date": ctx.today.isoformat(),
        "rules_file": str(qrules.path),
        "rules_sha256": hashlib.sha256(qrules.path.read_bytes()).hexdigest(),
        "rows_read": report.rows_read,
        "rows_accepted": report.rows_accepted,
        "rows_quarantined": report.rows_quarantined,
        "quarantine_reasons": report.reasons,
        "encoding": report.encoding,
        "notes": list(report.notes) + _absent_note(report.missing_columns),
        "issues": issues.num_rows,
        "records_with_issues": records,
        "by_rule": by_rule,
        "by_severity": by_severity,
        "unchecked_rules": sorted(unchecked),
        "wanted_overview": overview,
        "safe": {r.id: r.safe_fix for r in qrules.for_source(source)},
    }
    if source == "wanted":
        meta["duplicates"] = dedupe_meta or {"method": "exact keys (rules/quality.yaml sach.duplicate_person)"}
    close = None
    if matches is not None and source == "wanted":  # close-case candidates: the section of the report
        from linkage.audit.cases import cases
        from linkage.settings import load_settings

        close = cases(Path(matches), None, load_settings(rules_path).threshold, rules_path)
        meta["close_cases"] = {"threshold": close.threshold, "over_age": close.over_age, **close.counts}
    html_text = render(meta, summary, issues, overview, qrules.examples_per_rule, lang=lang,
                       headers=report.mapped_columns, close_cases=close)
    timings["summary"] = time.perf_counter() - t2

    out = Path(out_dir)
    step(f"writing {out}")
    write_parquet(issues, out / ISSUES)
    write_parquet(summary, out / SUMMARY)
    with atomic_path(out / REPORT) as tmp:
        tmp.write_text(html_text, encoding="utf-8")
    timings["total"] = time.perf_counter() - t0
    meta["timings"] = {k: round(v, 3) for k, v in timings.items()}
    write_json(meta, out / META)
    return AuditResult(source, out, out / ISSUES, out / SUMMARY, out / REPORT, out / META, report.rows_read,
                       report.rows_accepted, report.rows_quarantined, issues.num_rows, by_rule, by_severity,
                       overview, timings)


def _dedupe(path: Path, out_dir: Path, rules: Path | None, step: Callable[[str], None]) -> tuple[pd.DataFrame, dict]:
    """`linkage dedupe` on the audited wanted list (outputs in `<out>/dedupe/`): its clusters and
    what the report says about them."""
    from linkage.dedupe.run import CLUSTERS, dedupe

    step("linking the wanted list against itself (linkage dedupe)")
    folder = out_dir / "dedupe"
    result = dedupe(path, folder, rules=rules)
    clusters = pd.read_parquet(folder / CLUSTERS)
    meta = {"method": "linkage dedupe", "folder": str(folder), "clusters": result.counts.get("clusters", 0),
            "records_in_clusters": result.counts.get("records_in_clusters", 0), "model": result.model}
    return clusters, meta


def _checked_line(n_rules: int, seconds: float, issues) -> str:
    """One progress line for the whole rule pass (not one per rule)."""
    hit = len(pc.unique(issues.column("rule"))) if issues.num_rows else 0
    return f"{n_rules} rules checked in {seconds:.1f} s; {hit} rule{'' if hit == 1 else 's'} found issues"


def _absent_note(missing: list[str]) -> list[str]:
    return [f"columns absent from the file (audited as empty): {', '.join(missing)}"] if missing else []
