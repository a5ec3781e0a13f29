"""The wanted-list overview: how findable the list is and which cases are due for review."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from linkage.audit.context import AuditContext


def _rows_with(issues: pa.Table, rule: str) -> int:
    if issues.num_rows == 0:
        return 0
    sub = issues.filter(pc.equal(issues.column("rule"), rule))
    return len(set(sub.column("row").to_pylist()))


def _counts(values: pd.Series, order: list[str]) -> dict[str, int]:
    vc = values.fillna("(empty)").value_counts()
    out = {k: int(vc.get(k, 0)) for k in order}
    out.update({str(k): int(v) for k, v in vc.items() if k not in out})
    return out


def wanted_overview(ctx: AuditContext, issues: pa.Table, unchecked: set[str]) -> dict:
    """Counts by danger level, id presence and kind, birth-date precision, over the review age,
    linked to deceased residents, and probable duplicates."""
    danger = ctx.vocabulary("danger_level", "danger_level")
    raw_danger = ctx.series("danger_level")
    labels = {"dac_biet_nguy_hiem": "đặc biệt nguy hiểm", "nguy_hiem": "nguy hiểm", "thuong": "thường"}
    shown = danger.map(labels).where(danger.notna(), np.where(raw_danger.notna(), "(other value)", None))
    kind = ctx.ids("id_number")["id_kind"].astype(object)
    id_kind = kind.map({"personal_id": "12-digit personal id", "cmnd": "9-digit CMND", "invalid": "invalid number"})
    precision = ctx.dates("birth_date")["precision"].astype(object)
    dup_rows = _rows_with(issues, "sach.duplicate_person")
    dup_groups = 0
    if dup_rows:
        from linkage.audit.checks_records import duplicate_groups

        rule = ctx.qrules.by_id("sach.duplicate_person")
        groups, _ = duplicate_groups(ctx, rule)
        dup_groups = int(len(np.unique(groups[groups >= 0])))
    linked = None if "song.wanted_deceased_link" in unchecked else _rows_with(issues, "song.wanted_deceased_link")
    return {
        "records": ctx.n,
        "danger_level": _counts(pd.Series(shown, dtype=object), list(labels.values())),
        "id_number": {
            "with id": int(kind.notna().sum()),
            "without id": int(kind.isna().sum()),
            **{k: int(v) for k, v in id_kind.value_counts().items()},
        },
        "birth_date_precision": _counts(precision, ["day", "month", "year"]),
        "over_review_age": _rows_with(issues, "song.wanted_over_age"),
        "linked_to_deceased": linked,
        "duplicate_records": dup_rows,
        "duplicate_groups": dup_groups,
        "duplicates_by_dedupe": ctx.dedupe_clusters is not None,  # audit --dedupe: the groups are its clusters
    }
