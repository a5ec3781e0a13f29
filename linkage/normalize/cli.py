"""`linkage normalize`: one source file in, its normalised columns out (Parquet), through the
same reader and the same `normalize_table` the pipeline uses."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from linkage.ingest import read_source
from linkage.ingest.atomic import write_parquet
from linkage.normalize.table import normalize_table


def normalize_file(path: Path, source: str, out_file: Path, rules: Path | None = None) -> str:
    """Normalise the accepted rows of `path`; rejected rows are counted (see `linkage ingest`
    for their quarantine)."""
    accepted, quarantined, report = read_source(path, source, rules)
    frame = normalize_table(accepted.to_pandas(), source, rules=rules)
    write_parquet(pa.Table.from_pandas(frame, preserve_index=False), Path(out_file))
    return (
        f"{source}: {report.rows_read:,} rows read, {report.rows_accepted:,} normalised, "
        f"{report.rows_quarantined:,} rejected (see `linkage ingest` for the quarantine)\n"
        f"written: {out_file} ({len(frame.columns)} columns)"
    )
