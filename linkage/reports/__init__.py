"""Reports: the run report and the shared HTML/chart helpers and string catalogue that every
report (run, audit, review) uses."""

from linkage.reports.run_report import build_run_report, render_run_report
from linkage.reports.strings import DEFAULT_LANG, LANGS, t

__all__ = ["DEFAULT_LANG", "LANGS", "build_run_report", "render_run_report", "t"]
