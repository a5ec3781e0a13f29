"""Shared fixtures. `store_url`: a fresh judgement store on SQLite and on PostgreSQL (a real
server: $LINKAGE_TEST_PG_URL, or a throwaway one started once per test session)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from pg_server import PgServer, find_bindir, pg_schema


def _missing(reason: str) -> None:
    # CI must test PostgreSQL for real: there a missing server is a failure, not a skip.
    if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
        pytest.fail(f"PostgreSQL needed in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pg_base_url() -> Iterator[str]:
    """A SQLAlchemy URL of a PostgreSQL database the tests may create schemas in."""
    if os.environ.get("LINKAGE_TEST_PG_URL"):
        yield os.environ["LINKAGE_TEST_PG_URL"]
        return
    bindir = find_bindir()
    if bindir is None:
        _missing("PostgreSQL server binaries (initdb, pg_ctl) not found; install Debian's postgresql "
                 "or set LINKAGE_TEST_PG_URL")
    server = PgServer(bindir)  # type: ignore[arg-type]
    try:
        url = server.start()
    except Exception:
        server.stop()
        raise
    yield url
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A store location nobody else uses: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield str(tmp_path / "decisions.sqlite")
        return
    with pg_schema(request.getfixturevalue("pg_base_url"), "t") as url:
        yield url
