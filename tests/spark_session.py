"""One Spark session for the Spark tests: local[2], four shuffle partitions, no UI, so the Spark
tests stay fast. Without pyspark or Java the tests are skipped with the reason, except in CI
(CI=true), where the project's rule is that a missing requirement fails instead."""

from __future__ import annotations

import os
import sys

import pytest

from linkage.backends.spark.session import missing_requirement


def require_spark() -> None:
    why = missing_requirement()
    if why is None:
        return
    if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
        pytest.fail(f"Spark needed in CI: {why}")
    pytest.skip(why)


@pytest.fixture(scope="session")
def spark():
    """The session every Spark test shares (the engine picks up the running session)."""
    require_spark()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]").appName("vn-linkage-tests")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.default.parallelism", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
