"""One way to open the workspace: a folder holding `workspace.duckdb` (every table), `models/`
(versioned model files) and `nightly.lock` while a night runs.

Every change a night makes to the tables is one DuckDB transaction, so a night killed at any
point leaves the workspace as the last finished night left it (DuckDB replays or drops its own
write-ahead log on the next open; the database file is never replaced, so no stale WAL can sit
beside a file it was not written for)."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from linkage.errors import LinkageError, UsageError
from linkage.settings import Settings

DB = "workspace.duckdb"
LOCK = "nightly.lock"
MODELS = "models"
FORMAT = "1"
EXIT_LOCKED = 5


class LockedError(LinkageError):
    """Another nightly holds the workspace: stop at once, touch nothing."""

    exit_code = EXIT_LOCKED


SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR);
CREATE TABLE IF NOT EXISTS wanted_ids (uid VARCHAR PRIMARY KEY, w_idx BIGINT);
CREATE TABLE IF NOT EXISTS persons (uid VARCHAR PRIMARY KEY, person_idx BIGINT);
CREATE TABLE IF NOT EXISTS models (version INTEGER, path VARCHAR, night DATE, how VARCHAR, source VARCHAR);
CREATE TABLE IF NOT EXISTS retired (night DATE, w_idx BIGINT, person_idx BIGINT, wanted_id VARCHAR,
    person_id VARCHAR, reason VARCHAR, first_seen DATE);
CREATE TABLE IF NOT EXISTS nights (night DATE PRIMARY KEY, wanted BIGINT, persons BIGINT, candidates BIGINT,
    kept BIGINT, share_with_candidate DOUBLE, mean_probability DOUBLE, finished_at VARCHAR);
"""


def is_workspace(path: Path) -> bool:
    return (Path(path) / DB).is_file()


def open_workspace(path: Path, settings: Settings) -> duckdb.DuckDBPyConnection:
    """Open (creating if needed) the workspace database with the rules' memory limit and threads;
    the temp directory lives inside the workspace."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UsageError(f"--workspace {path}: is a file; a workspace is a folder")
    try:
        (path / MODELS).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--workspace {path}: cannot create the folder: {exc.strerror or exc}") from None
    eng = settings.engine
    con = duckdb.connect(str(path / DB))
    con.execute(f"SET memory_limit = '{settings.memory_limit}'")
    con.execute(f"SET threads = {int(eng.get('threads', 2))}")
    con.execute(f"SET temp_directory = '{eng.get('temp_directory') or str(path / 'tmp')}'")
    con.execute("SET preserve_insertion_order = true")
    con.execute("SET enable_progress_bar = false")
    con.execute(SCHEMA)
    if get_meta(con, "format") is None:
        set_meta(con, "format", FORMAT)
    return con


def get_meta(con: duckdb.DuckDBPyConnection, key: str) -> str | None:
    row = con.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
    return row[0] if row else None


def set_meta(con: duckdb.DuckDBPyConnection, key: str, value: str) -> None:
    con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [key, value])


def has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ? AND table_schema = 'main' "
        "AND table_catalog = current_database()", [name]).fetchall()[0][0])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _holder(lock: Path) -> dict:
    try:
        return json.loads(lock.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}


@contextmanager
def locked(path: Path) -> Iterator[Path]:
    """Hold the workspace's lock file (pid, host, since) while a night runs. A second night on the
    same workspace stops at once (LockedError, exit 5) naming the holder; a lock left by a dead
    process on this host is taken over."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    lock = path / LOCK
    me = {"pid": os.getpid(), "host": socket.gethostname(),
          "since": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    for _ in range(3):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            held = _holder(lock)
            pid, host = held.get("pid"), held.get("host")
            if host == me["host"] and isinstance(pid, int) and not _alive(pid):
                lock.unlink(missing_ok=True)  # stale: its process is gone
                continue
            if not held:  # being written right now, or unreadable: treat as held
                raise LockedError(f"{lock}: workspace is locked by another nightly (lock file unreadable); "
                                  "if no nightly runs, remove the file")
            raise LockedError(
                f"{lock}: workspace is locked by nightly pid {pid} on {host} since {held.get('since')}; "
                "wait for it to finish (or, if that process is gone on another host, remove the lock file)")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(me) + "\n")
        break
    else:
        raise LockedError(f"{lock}: could not take the workspace lock")
    try:
        yield lock
    finally:
        if _holder(lock).get("pid") == me["pid"]:
            lock.unlink(missing_ok=True)


def has_temp(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Whether a session (temp) table of that name exists."""
    return bool(con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND temporary", [name]).fetchall()[0][0])
