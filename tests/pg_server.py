"""A throwaway PostgreSQL server for the tests: initdb into a temporary folder, started on a unix
socket in that folder only (no TCP port), stopped and removed at the end of the session.

PostgreSQL refuses to run as root: when the tests run as root the folder is handed to the
`postgres` user and the server's commands run through `runuser`.
"""

from __future__ import annotations

import atexit
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def find_bindir() -> Path | None:
    """The folder holding initdb and pg_ctl: $LINKAGE_PG_BIN, PATH, or Debian's newest version."""
    candidates: list[Path] = []
    if os.environ.get("LINKAGE_PG_BIN"):
        candidates.append(Path(os.environ["LINKAGE_PG_BIN"]))
    if shutil.which("initdb"):
        candidates.append(Path(shutil.which("initdb")).parent)  # type: ignore[arg-type]
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin"),
                    key=lambda p: int(re.sub(r"\D", "", p.parent.name) or 0), reverse=True)
    candidates.extend(debian)
    for d in candidates:
        if (d / "initdb").is_file() and (d / "pg_ctl").is_file():
            return d
    return None


class PgServer:
    """One local server; `start()` returns a SQLAlchemy URL for its `postgres` database."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="linkage-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.as_root = os.geteuid() == 0
        self.user = "postgres" if self.as_root else pwd.getpwuid(os.geteuid()).pw_name

    def _run(self, *args: str) -> None:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(args[:2])} failed ({done.returncode}): {done.stderr.strip()[-2000:]}\n{log}")

    def start(self) -> str:
        if self.as_root:
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError("running as root and there is no 'postgres' user to run the server as") from None
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                  "--locale=C", "--no-sync")
        with open(self.data / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write(f"\nlisten_addresses = ''\nunix_socket_directories = '{self.root}'\n"
                       "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 100\n")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start")
        atexit.register(self.stop)  # also when the session ends without its fixture's teardown
        return f"postgresql+psycopg://postgres@/postgres?host={self.root}"

    def stop(self) -> None:
        if not self.root.exists():
            return
        try:
            if (self.data / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def pg_schema(base_url: str, prefix: str) -> Iterator[str]:
    """A store URL on a PostgreSQL schema of its own (search_path set), dropped afterwards: tests
    sharing one server never see each other's tables."""
    import psycopg
    from sqlalchemy.engine import make_url

    base = make_url(base_url).set(drivername="postgresql")
    schema = f"{prefix}_{uuid.uuid4().hex[:16]}"
    conninfo = base.render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield base.set(drivername="postgresql+psycopg").update_query_dict(
            {"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
