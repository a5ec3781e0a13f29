"""The check families rules/quality.yaml may name, and the loop that runs every rule of a source
and gathers its findings into the issues table."""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa

from linkage.audit import checks_dates as D
from linkage.audit import checks_fields as F
from linkage.audit import checks_ids as I
from linkage.audit import checks_records as R
from linkage.audit import checks_text as T
from linkage.audit.context import AuditContext
from linkage.audit.found import Found
from linkage.audit.rules import Rule
from linkage.ingest.contract import ROW

Check = Callable[[AuditContext, Rule, str], "Found | None"]

CHECKS: dict[str, Check] = {
    # đúng
    "id_format": I.id_format,
    "id_structure": I.id_structure,
    "id_vs_record": I.id_vs_record,
    "cmnd_prefix": I.cmnd_prefix,
    "cmnd_places": I.cmnd_places,
    "date_error": D.date_error,
    "age_limit": D.age_limit,
    "age_at_decision": D.age_at_decision,
    "event_before_birth": D.event_before_birth,
    "place_unknown": F.place_unknown,
    "place_unit_not_found": F.place_unit_not_found,
    "place_uncertain": F.place_uncertain,
    "gender_value": F.gender_value,
    "ethnicity_value": F.ethnicity_value,
    "vocabulary": F.vocabulary,
    "name_chars": F.name_chars,
    # đủ
    "required": F.required,
    # sạch
    "legacy_encoding": T.legacy_encoding,
    "not_nfc": T.not_nfc,
    "spacing": T.spacing,
    "confusable": T.confusable,
    "tone_style": T.tone_style,
    "keystroke_residue": T.keystroke_residue,
    "name_case": T.name_case,
    "no_diacritics": T.no_diacritics,
    "placeholder": F.placeholder,
    "id_separators": I.id_separators,
    "spreadsheet_id": I.spreadsheet_id,
    "birth_jan1": D.birth_jan1,
    "duplicate_id": I.duplicate_id,
    "duplicate_person": R.duplicate_person,
    # sống
    "deceased": R.deceased,
    "stale": D.stale,
    "deceased_link": R.deceased_link,
    "over_age": D.over_age,
    "no_id": R.no_id,
    "partial_birth_date": D.partial_birth_date,
    # rows rejected at ingestion
    "quarantine": R.quarantine,
}

ISSUES_SCHEMA = pa.schema([
    ("record_id", pa.string()),
    ("row", pa.int64()),  # data row number in the source file
    ("field", pa.string()),
    ("rule", pa.string()),
    ("dimension", pa.string()),
    ("severity", pa.string()),
    ("value", pa.string()),
    ("suggestion", pa.string()),
])


def run_checks(ctx: AuditContext, say: Callable[[str], None] | None = None) -> pa.Table:
    """Every enabled rule of the source on every one of its fields, as one issues table sorted by
    row, field and rule."""
    parts: list[pa.Table] = []
    for rule in ctx.qrules.for_source(ctx.source):
        check = CHECKS[rule.check]
        if say:
            say(rule.id)
        if rule.check == "quarantine":
            hit = check(ctx, rule, "")
            if hit is not None:
                parts.append(_table(ctx, rule, hit))
            continue
        for field in rule.fields_for(ctx.source):
            hit = check(ctx, rule, field)
            if hit is not None and (len(hit.positions) or hit.row is not None):
                parts.append(_table(ctx, rule, hit))
    if not parts:
        return ISSUES_SCHEMA.empty_table()
    issues = pa.concat_tables(parts)
    return issues.sort_by([("row", "ascending"), ("field", "ascending"), ("rule", "ascending")])


def _strings(values: np.ndarray | None, n: int) -> pa.Array:
    """Any per-row values as an Arrow string array (None / NaN -> null)."""
    if values is None:
        return pa.nulls(n, pa.string())
    s = pd.Series(np.asarray(values, dtype=object), dtype=object)
    missing = s.isna().to_numpy()
    return pa.array(s.astype(str).to_numpy(dtype=object), pa.string(), mask=missing)


def _table(ctx: AuditContext, rule: Rule, hit: Found) -> pa.Table:
    if hit.row is not None:
        n = len(hit.row)
        record_id = _strings(hit.record_id, n)
        row = pa.array(hit.row, pa.int64())
        value = _strings(hit.value, n)
    else:
        n = len(hit.positions)
        idx = pa.array(hit.positions, pa.int64())
        record_id = ctx.table.column(ctx.key).take(idx).combine_chunks().cast(pa.string())
        row = ctx.table.column(ROW).take(idx).combine_chunks()
        value = (_strings(hit.value, n) if hit.value is not None
                 else ctx.table.column(hit.field).take(idx).combine_chunks().cast(pa.string()))
    field = _strings(hit.fields, n) if hit.fields is not None else pa.array([hit.field] * n, pa.string())
    return pa.table({
        "record_id": record_id,
        "row": row,
        "field": field,
        "rule": pa.array([rule.id] * n, pa.string()),
        "dimension": pa.array([rule.dimension] * n, pa.string()),
        "severity": pa.array([rule.severity] * n, pa.string()),
        "value": value,
        "suggestion": _strings(hit.suggestion, n),
    }, schema=ISSUES_SCHEMA)
