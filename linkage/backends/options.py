"""`--engine` and `--spark-master`: one definition for every command that takes them (run, train,
blocking in cli.py; nightly in linkage/workspace/cli.py)."""

from __future__ import annotations

import typer

from linkage.errors import UsageError

ENGINES = ("duckdb", "spark")

EngineOpt = typer.Option("duckdb", "--engine", help="duckdb (one machine, the default) or spark (Spark local mode or a cluster).",
                         metavar="duckdb|spark")
SparkMasterOpt = typer.Option(None, "--spark-master", metavar="URL",
                              help="Spark master for --engine spark (default: engine.spark.master in the rules, else local[*]).")


def engine_name(name: str) -> str:
    """The engine named on the command line, checked."""
    if name not in ENGINES:
        raise UsageError(f"--engine: expected duckdb or spark, got {name!r}")
    return name
