"""Ingestion: sources (CSV, Parquet, JSON Lines) -> DuckDB workspace + quarantine + summary."""

from linkage.ingest.pipeline import ingest, read_source
from linkage.ingest.report import IngestReport, SourceReport

__all__ = ["ingest", "read_source", "IngestReport", "SourceReport"]
