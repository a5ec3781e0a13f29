"""`report.html` of a run, built only from the run's outputs (manifest, matches, model, quarantine,
workspace), so `linkage report --run DIR` can rebuild it at any time, in either language."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from linkage.outputs import atomic_write_text
from linkage.reports import run_data as rd
from linkage.reports import run_sections as rs
from linkage.reports.relatives_section import relatives
from linkage.reports.html import Markup, code, esc, fmt_datetime, page, para, toc
from linkage.reports.strings import DEFAULT_LANG, check_lang, t

REPORT = "report.html"


def _threshold(files: rd.RunFiles, threshold: float | None, rules: Path | None) -> float:
    """The given threshold, else the rules' (the given rules, else the run's rules directory if it
    still exists, else the project's)."""
    if threshold is not None:
        return float(threshold)
    from linkage.settings import load_settings

    if rules is None:
        named = files.manifest.get("rules_dir")
        rules = Path(named) if named and Path(named).is_dir() else None
    return float(load_settings(rules).threshold)


def render_run_report(run_dir: Path, lang: str = DEFAULT_LANG, truth: Path | None = None,
                      threshold: float | None = None, rules: Path | None = None) -> str:
    """The report's HTML text (nothing written)."""
    check_lang(lang)
    files = rd.locate(Path(run_dir))
    ctx = rs.Ctx(files, lang, _threshold(files, threshold, rules), rd.load_model(files),
                 Path(truth) if truth is not None else None)
    m = files.manifest
    made = datetime.fromtimestamp((files.run_dir / "manifest.json").stat().st_mtime, tz=timezone.utc)
    head = [para(t("run.header.lead_only", lang)),
            Markup("<p>" + esc(t("run.header.run", lang)) + " " + code(m.get("run_id", "?")) + " · "
                   + esc(t("run.header.written", lang, when=fmt_datetime(made, lang))) + " · "
                   + esc(t("run.header.version", lang, version=m.get("version", "?"))) + " · "
                   + esc(t("run.header.rules", lang)) + " " + code(str(m.get("rules_hash", ""))[:12]) + "</p>")]
    names = list(rs.SECTIONS)
    sections = [getattr(rs, s)(ctx) for s in names]
    kin = relatives(ctx)  # only when the run wrote relatives.parquet (`linkage run --relatives`)
    if kin:
        at = names.index("accuracy")
        names.insert(at, "relatives")
        sections.insert(at, kin)
    head.append(toc((s, t(f"run.{s}.title", lang)) for s in names))
    return page(t("run.title", lang), [*head, *sections], lang)


def build_run_report(run_dir: Path, lang: str = DEFAULT_LANG, truth: Path | None = None,
                     threshold: float | None = None, rules: Path | None = None) -> Path:
    """Write run_dir/report.html atomically (temporary file in the same directory, then rename)
    and return its path."""
    text = render_run_report(run_dir, lang, truth, threshold, rules)
    return atomic_write_text(Path(run_dir) / REPORT, text)
