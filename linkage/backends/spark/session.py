"""The Spark session the engine runs in: local mode by default, a cluster with --spark-master.

Settings come from `engine.spark` in rules/matching.yaml when present (master, shuffle_partitions,
batch_rows, config: {spark.* keys}); a session already running in this process (a test's, a
notebook's, spark-submit's) is used as it is.
"""

from __future__ import annotations

import os
import shutil
import sys
from typing import Any

from linkage.errors import UsageError
from linkage.settings import Settings

DEFAULTS: dict[str, Any] = {"master": "local[*]", "shuffle_partitions": 8, "batch_rows": 100_000,
                            "broadcast_pairs": 2_000_000}


def spark_settings(settings: Settings) -> dict[str, Any]:
    """engine.spark from the rules over the defaults."""
    own = settings.engine.get("spark") or {}
    if not isinstance(own, dict):
        raise UsageError(f"{settings.path}: engine.spark: expected a mapping (master, shuffle_partitions, batch_rows, config)")
    return {**DEFAULTS, **own}


def missing_requirement() -> str | None:
    """Why the Spark engine cannot start here (no pyspark, no Java), or None."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (pip install 'vn-linkage[spark]')"
    java_home = os.environ.get("JAVA_HOME")
    if not shutil.which("java") and not (java_home and os.path.exists(os.path.join(java_home, "bin", "java"))):
        return "Java is not installed (Spark needs Java 17: Debian's openjdk-17-jre-headless)"
    return None


def get_session(settings: Settings, master: str | None = None):
    """The running session, else a new one for `master` (default engine.spark.master, local[*])."""
    why = missing_requirement()
    if why:
        raise UsageError(f"--engine spark: {why}")
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    conf = spark_settings(settings)
    builder = SparkSession.builder.appName("vn-linkage")
    # Under spark-submit the JVM is already up with its --master and --conf: keep them unless
    # --spark-master says otherwise. Started from here: the executors' Python is this one.
    submitted = bool(os.environ.get("PYSPARK_GATEWAY_PORT"))
    if master or not submitted:
        builder = builder.master(master or str(conf["master"]))
    if not submitted:  # spark-submit's --conf settings stand; here, the engine's defaults
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        builder = (
            builder
            .config("spark.sql.shuffle.partitions", str(conf["shuffle_partitions"]))
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
        )
    builder = builder.config("spark.sql.session.timeZone", "UTC")
    for key, value in (conf.get("config") or {}).items():
        builder = builder.config(str(key), str(value))
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session
