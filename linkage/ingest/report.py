"""What ingestion did, per source, in a form people and later stages can check: the counts
always reconcile (rows read = accepted + quarantined)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from linkage.ingest.sniff import describe_delimiter


class PlainText(str):
    """A str that rich prints verbatim: headers, paths and notes come from the input files, and
    a header such as "[/x]" must not be read as console markup."""

    def __rich__(self):
        from rich.text import Text

        return Text(str(self))


@dataclass
class SourceReport:
    source: str
    path: str
    format: str
    encoding: str | None
    delimiter: str | None
    rows_read: int
    rows_accepted: int
    rows_quarantined: int
    reasons: dict[str, int] = field(default_factory=dict)  # reason code -> problems found
    mapped_columns: dict[str, str] = field(default_factory=dict)  # canonical -> header in the file
    ignored_columns: list[str] = field(default_factory=list)  # headers not loaded
    missing_columns: list[str] = field(default_factory=list)  # optional contract columns absent (NULL)
    notes: list[str] = field(default_factory=list)
    # ids a spreadsheet damaged (docs/ingest.md): column -> values repaired with certainty, and
    # optional ids emptied because beyond repair (each listed in <out>/repairs/<source>.parquet)
    ids_repaired: dict[str, int] = field(default_factory=dict)
    ids_emptied: dict[str, int] = field(default_factory=dict)

    @property
    def reconciled(self) -> bool:
        return self.rows_read == self.rows_accepted + self.rows_quarantined

    def to_dict(self) -> dict:
        return asdict(self) | {"reconciled": self.reconciled}

    def render(self) -> str:
        return PlainText(self._render())

    def _render(self) -> str:
        how = [self.format]
        if self.encoding:
            how.append(self.encoding)
        if self.delimiter:
            how.append(f"{describe_delimiter(self.delimiter)}-delimited")
        line = (f"{self.source}: {self.path} ({', '.join(how)})\n"
                f"  rows read {self.rows_read:,} = accepted {self.rows_accepted:,} + quarantined "
                f"{self.rows_quarantined:,}" + ("" if self.reconciled else "  [DOES NOT RECONCILE]"))
        if self.reasons:
            line += "\n  problems: " + ", ".join(f"{k} {v:,}" for k, v in sorted(self.reasons.items()))
        if self.mapped_columns:
            line += "\n  mapped: " + ", ".join(f"{h!r} -> {c}" for c, h in self.mapped_columns.items())
        if self.ignored_columns:
            line += "\n  not loaded (unknown columns): " + ", ".join(repr(h) for h in self.ignored_columns)
        if self.missing_columns:
            line += "\n  absent (loaded as empty): " + ", ".join(self.missing_columns)
        if self.ids_repaired:
            line += ("\n  ids repaired (spreadsheet damage: trailing .0, lost leading zeros): "
                     + ", ".join(f"{c} {n:,}" for c, n in self.ids_repaired.items()))
        if self.ids_emptied:
            line += ("\n  ids emptied (spreadsheet damage beyond repair; row kept): "
                     + ", ".join(f"{c} {n:,}" for c, n in self.ids_emptied.items()))
        for note in self.notes:
            line += f"\n  note: {note}"
        return line


@dataclass
class IngestReport:
    out_dir: Path
    workspace: Path
    summary: Path
    sources: dict[str, SourceReport] = field(default_factory=dict)
    quarantine: dict[str, Path] = field(default_factory=dict)
    repairs: dict[str, Path] = field(default_factory=dict)  # values changed in kept rows, per source

    @property
    def reconciled(self) -> bool:
        return all(r.reconciled for r in self.sources.values())

    def to_dict(self) -> dict:
        return {
            "workspace": str(self.workspace),
            "quarantine": {k: str(v) for k, v in self.quarantine.items()},
            "repairs": {k: str(v) for k, v in self.repairs.items()},
            "reconciled": self.reconciled,
            "sources": {k: r.to_dict() for k, r in self.sources.items()},
        }

    def render(self) -> str:
        parts = [r.render() for r in self.sources.values()]
        parts.append(f"workspace: {self.workspace}")
        parts.append(f"quarantine: {self.out_dir / 'quarantine'}  summary: {self.summary}")
        return PlainText("\n".join(parts))
