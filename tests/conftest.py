"""Shared fixtures. `store_url`: a fresh judgement store on SQLite and on PostgreSQL (a real
server: $LINKAGE_TEST_PG_URL, or a throwaway one started once per test session)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from pg_server import PgServer, find_bindir


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
    import psycopg
    from sqlalchemy.engine import make_url

    base = make_url(request.getfixturevalue("pg_base_url")).set(drivername="postgresql")
    schema = f"t_{uuid.uuid4().hex[:16]}"
    conninfo = base.render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    yield base.set(drivername="postgresql+psycopg").update_query_dict(
        {"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")
