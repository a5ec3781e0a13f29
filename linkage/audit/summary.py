"""summary.parquet: counts per rule, per rule and field, and per field (completeness, validity),
in one long table a notebook or a dashboard can filter by `section`."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkage.audit.context import AuditContext
from linkage.ingest.contract import COLUMNS

SCHEMA = pa.schema([
    ("section", pa.string()),  # rule | rule_field | field
    ("rule", pa.string()),
    ("dimension", pa.string()),
    ("severity", pa.string()),
    ("field", pa.string()),
    ("description", pa.string()),
    ("checked", pa.bool_()),  # false: the rule could not run (e.g. no --residents given)
    ("issues", pa.int64()),
    ("records", pa.int64()),  # distinct records (rows) with at least one such issue
    ("total", pa.int64()),  # field rows: accepted records
    ("filled", pa.int64()),  # field rows: records with a real value (not empty, not a placeholder)
    ("completeness", pa.float64()),  # filled / total
    ("invalid", pa.int64()),  # field rows: filled records with an issue of dimension đúng on the field
    ("validity", pa.float64()),  # 1 - invalid / filled
])


def _counts(issues: pa.Table, keys: list[str]) -> dict[tuple, tuple[int, int]]:
    if issues.num_rows == 0:
        return {}
    # every issue counts, also a file-level one with no row (an absent column)
    g = issues.group_by(keys).aggregate([("row", "count", pc.CountOptions(mode="all")), ("row", "count_distinct")])
    cols = [g.column(k).to_pylist() for k in keys]
    n, d = g.column("row_count").to_pylist(), g.column("row_count_distinct").to_pylist()
    return {tuple(k): (a, b) for k, a, b in zip(zip(*cols), n, d)}


def unchecked_rules(ctx: AuditContext) -> set[str]:
    """Rules that could not run on this audit (said so in the summary and the report)."""
    return {r.id for r in ctx.qrules.for_source(ctx.source) if r.check == "deceased_link" and ctx.residents is None}


def build_summary(ctx: AuditContext, issues: pa.Table) -> pa.Table:
    rows: dict[str, list] = {name: [] for name in SCHEMA.names}

    def add(**kw) -> None:
        for name in SCHEMA.names:
            rows[name].append(kw.get(name))

    per_rule = _counts(issues, ["rule"])
    per_rule_field = _counts(issues, ["rule", "field"])
    unchecked = unchecked_rules(ctx)
    for r in ctx.qrules.for_source(ctx.source):
        n, d = per_rule.get((r.id,), (0, 0))
        add(section="rule", rule=r.id, dimension=r.dimension, severity=r.severity, description=r.description,
            checked=r.id not in unchecked, issues=n, records=d)
    for (rule, field), (n, d) in sorted(per_rule_field.items()):
        r = ctx.qrules.by_id(rule)
        add(section="rule_field", rule=rule, dimension=r.dimension, severity=r.severity, field=field,
            description=r.description, checked=True, issues=n, records=d)

    per_field = _counts(issues, ["field"])
    correct = issues.filter(pc.equal(issues.column("dimension"), "dung")) if issues.num_rows else issues
    for field in COLUMNS[ctx.source]:
        filled_mask = ctx.filled(field)
        filled = int(filled_mask.sum())
        invalid = 0
        if correct.num_rows:
            sub = correct.filter(pc.equal(correct.column("field"), field))
            if sub.num_rows:
                rows_of_filled = ctx.table.column("_row").to_numpy()[filled_mask]
                invalid = int(np.isin(rows_of_filled, sub.column("row").to_numpy()).sum())
        n, _d = per_field.get((field,), (0, 0))
        add(section="field", field=field, checked=True, issues=n, total=ctx.n, filled=filled,
            completeness=filled / ctx.n if ctx.n else None, invalid=invalid,
            validity=1 - invalid / filled if filled else None)
    return pa.table({k: pa.array(v, SCHEMA.field(k).type) for k, v in rows.items()}, schema=SCHEMA)
