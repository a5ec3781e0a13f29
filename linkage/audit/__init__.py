"""Data-quality audit for data stewards ("đúng, đủ, sạch, sống") and the safe clean-up of a copy.

- `audit(path, source, out_dir, rules=None, residents=None) -> AuditResult`: every record against
  rules/quality.yaml; writes issues.parquet, summary.parquet, report.html, audit.json.
- `clean(path, source, out_file, rules=None) -> CleanResult`: only the safe fixes, on a copy, with a
  change log next to it.
"""

from linkage.audit.clean import CleanResult, clean
from linkage.audit.run import AuditResult, audit

__all__ = ["audit", "AuditResult", "clean", "CleanResult"]
