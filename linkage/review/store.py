"""The judgement store: every reviewer decision, append-only, on SQLite (a file, the default) or
PostgreSQL (a team's server) through one SQLAlchemy Core code path.

Why it is shaped this way (after nomenklatura's resolver): a decision is never updated in place.
A new decision, a confirmation, an undo or a reopen appends a row and soft-deletes
(`deleted_at`, `deleted_by`) the row that was live, in one transaction, so the history of a pair
is every state it went through, with who, when and why. The database itself keeps at most one
live row per (wanted_id, person_id) (a partial unique index), whatever the code above it does.

Every write to `judgements` appends a row, and the live row of a pair (if any) is always its
newest row: so `changes_since(last_id)` is a complete change feed. Writers to `judgements` are
serialised (SQLite: BEGIN IMMEDIATE; PostgreSQL: LOCK TABLE ... IN EXCLUSIVE MODE, which readers
do not wait for), so ids are committed in increasing order and a reader that has seen id N has
seen every id below it. Decisions are made by people: serialising them costs nothing.
"""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Connection, Engine, create_engine, delete, event, func, insert, or_, select, text, update
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from linkage.errors import EXIT_INPUT, LinkageError
from linkage.review import schema as s
from linkage.review.settings import ReviewSettings, load_review_settings

SQLITE_BUSY_MS = 30_000
SESSION_TOUCH_SECONDS = 60  # last_seen is written at most once a minute per session
USER_SETTINGS = {"lang": ("vi", "en"), "blind": (False, True)}  # first value is the default
_PG_CREATE_LOCK = 7_204_2025  # pg_advisory_xact_lock key: one process creates the tables


class ReviewError(LinkageError):
    """A store operation that cannot be done as asked (the message says why)."""

    exit_code = EXIT_INPUT


@dataclass(frozen=True)
class Judgement:
    """One row of `judgements`: one state of one pair."""

    id: int
    wanted_id: str
    person_id: str
    decision: str
    state: str
    reviewer: str
    decided_at: datetime
    note: str
    match_weight: float | None
    evidence: str | None
    confirmed_by: str | None
    confirmed_at: datetime | None
    deleted_at: datetime | None
    deleted_by: str | None
    action: str
    actor: str
    recorded_at: datetime
    supersedes: int | None

    @property
    def live(self) -> bool:
        return self.deleted_at is None


@dataclass(frozen=True)
class User:
    name: str
    role: str
    created_at: datetime
    disabled: bool

    @property
    def supervisor(self) -> bool:
        return self.role == "supervisor"


@dataclass(frozen=True)
class Session:
    user: str
    role: str
    csrf: str
    created_at: datetime
    expires_at: datetime
    last_seen: datetime


_J_FIELDS = [f.name for f in fields(Judgement)]
# What a restored or closing copy takes over from the row it copies.
_STATE_FIELDS = ("wanted_id", "person_id", "decision", "state", "reviewer", "decided_at", "note",
                 "match_weight", "evidence", "confirmed_by", "confirmed_at")

_ARROW_TYPES: dict[str, pa.DataType] = {
    "id": pa.int64(), "match_weight": pa.float64(), "supersedes": pa.int64(),
    **{c: pa.timestamp("us", tz="UTC") for c in ("decided_at", "confirmed_at", "deleted_at", "recorded_at")},
}
LIVE_COLUMNS = ("id", "wanted_id", "person_id", "decision", "state", "reviewer", "decided_at", "note",
                "match_weight", "evidence", "confirmed_by", "confirmed_at")


def _utc(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(timezone.utc)
    if now.tzinfo is None:
        raise ReviewError("times given to the judgement store must be timezone-aware (UTC)")
    return now.astimezone(timezone.utc)


def _fold(level: str) -> str:
    return unicodedata.normalize("NFC", level).strip().casefold()


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _text(value: object, what: str, limit: int = 128) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ReviewError(f"{what} must be non-empty text, got {value!r}")
    if len(value) > limit:
        raise ReviewError(f"{what} is longer than {limit} characters")
    return value


def _arrow(rows: Sequence[Any], columns: Sequence[str]) -> pa.Table:
    """Rows of a Core result as an Arrow table with fixed types (also when there are none)."""
    cols = list(zip(*rows)) if rows else [()] * len(columns)
    return pa.table({c: pa.array(list(v), type=_ARROW_TYPES.get(c, pa.string())) for c, v in zip(columns, cols)})


def _engine_for(target: str | Path) -> tuple[Engine, str]:
    """An engine for a path / sqlite:/// URL (WAL, busy timeout) or a postgresql:// URL (psycopg 3)."""
    raw = str(target)
    if raw.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        url = make_url(raw.replace("postgres://", "postgresql://", 1)).set(drivername="postgresql+psycopg")
        engine = create_engine(url, pool_pre_ping=True, pool_size=8, max_overflow=16)
        return engine, url.render_as_string(hide_password=True)
    if raw.startswith("sqlite:///"):
        raw = raw[len("sqlite:///"):]
    elif "://" in raw:
        raise ReviewError(f"store {raw.split('://')[0]}://...: unsupported; give a file path, sqlite:///PATH or postgresql://...")
    if raw in ("", ":memory:"):
        raise ReviewError("the judgement store must be a file (or a PostgreSQL URL), not an in-memory database")
    path = Path(raw)
    if path.is_dir():
        raise ReviewError(f"store {path}: is a folder; give a file such as {path / 'decisions.sqlite'}")
    if not path.parent.is_dir():
        raise ReviewError(f"store {path}: folder {path.parent} does not exist")
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": SQLITE_BUSY_MS / 1000, "check_same_thread": False},
                           pool_size=8, max_overflow=16)

    @event.listens_for(engine, "connect")
    def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (below)
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _sqlite_begin(conn: Connection) -> None:
        # A write transaction takes the write lock up front: two read-then-write transactions can
        # then never deadlock on the upgrade (SQLITE_BUSY); they wait for each other instead.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("linkage_write") else "BEGIN")

    return engine, str(path)


class Store:
    """The judgement store. Open with `Store.open(path_or_url)`; safe to share between threads."""

    def __init__(self, engine: Engine, name: str, settings: ReviewSettings) -> None:
        self.engine = engine
        self.name = name  # for messages: the path, or the URL without its password
        self.rules = settings  # rules/review.yaml as loaded
        self.dialect = engine.dialect.name
        self._danger = {_fold(x) for x in settings.two_person_danger_levels}
        self._hasher = PasswordHasher()  # argon2id with the library's current parameters
        self._dummy: str | None = None  # hashed on first need: opening a store stays cheap

    # -- opening -----------------------------------------------------------------------------
    @classmethod
    def open(cls, target: str | Path, *, settings: ReviewSettings | None = None,
             rules: str | Path | None = None) -> Store:
        """Open (and create when missing) the store at a path, sqlite:///PATH or postgresql://URL."""
        engine, name = _engine_for(target)
        store = cls(engine, name, settings or load_review_settings(rules))
        try:
            store._create()
        except ReviewError:
            engine.dispose()
            raise
        except Exception as exc:  # a server that is down, a file that is not a database...
            engine.dispose()
            raise ReviewError(f"store {name}: cannot open: {type(exc).__name__}: {str(exc).splitlines()[0]}") from exc
        return store

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _create(self) -> None:
        with self._write(lock=False) as conn:
            if self.dialect == "postgresql":
                conn.execute(text(f"SELECT pg_advisory_xact_lock({_PG_CREATE_LOCK})"))
            s.metadata.create_all(conn, checkfirst=True)
            version = conn.execute(select(func.max(s.schema_version.c.version))).scalar()
            if version is None:
                conn.execute(insert(s.schema_version).values(version=s.SCHEMA_VERSION, applied_at=_utc(None)))
            elif version > s.SCHEMA_VERSION:
                raise ReviewError(f"store {self.name}: schema version {version} is newer than this program's "
                                  f"({s.SCHEMA_VERSION}); upgrade vn-linkage")

    @contextmanager
    def _write(self, *, lock: bool = True) -> Iterator[Connection]:
        """One write transaction; `lock` serialises writers to `judgements` (see the module doc)."""
        with self.engine.connect() as conn:
            conn.execution_options(linkage_write=True)
            with conn.begin():
                if lock and self.dialect == "postgresql":
                    conn.execute(text("LOCK TABLE judgements IN EXCLUSIVE MODE"))
                yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield conn

    # -- judgements --------------------------------------------------------------------------
    def _live_row(self, conn: Connection, wanted_id: str, person_id: str) -> Judgement | None:
        j = s.judgements.c
        row = conn.execute(select(s.judgements).where(j.wanted_id == wanted_id, j.person_id == person_id,
                                                      j.deleted_at.is_(None))).first()
        return Judgement(**row._mapping) if row else None

    def _append(self, conn: Connection, values: dict[str, Any]) -> Judgement:
        new_id = conn.execute(insert(s.judgements).values(**values)).inserted_primary_key[0]
        row = conn.execute(select(s.judgements).where(s.judgements.c.id == new_id)).one()
        return Judgement(**row._mapping)

    def _retire(self, conn: Connection, row: Judgement, who: str, now: datetime) -> None:
        conn.execute(update(s.judgements).where(s.judgements.c.id == row.id, s.judgements.c.deleted_at.is_(None))
                     .values(deleted_at=now, deleted_by=who))

    def needs_confirmation(self, decision: str, danger_level: str | None) -> bool:
        """The two-person rule: a match on a wanted person of a listed danger level."""
        return decision == "match" and danger_level is not None and _fold(danger_level) in self._danger

    def decide(self, wanted_id: str, person_id: str, decision: str, reviewer: str, *, note: str = "",
               match_weight: float | None = None, evidence: str | None = None,
               danger_level: str | None = None, now: datetime | None = None) -> Judgement:
        """Append a decision; the pair's live row (if any) is soft-deleted in the same transaction."""
        if decision not in s.DECISIONS:
            raise ReviewError(f"decision must be one of {', '.join(s.DECISIONS)}, got {decision!r}")
        _text(wanted_id, "wanted_id", 64), _text(person_id, "person_id", 64), _text(reviewer, "reviewer")
        now = _utc(now)
        state = "pending_confirmation" if self.needs_confirmation(decision, danger_level) else decision
        with self._write() as conn:
            current = self._live_row(conn, wanted_id, person_id)
            if current is not None:
                self._retire(conn, current, reviewer, now)
            return self._append(conn, dict(
                wanted_id=wanted_id, person_id=person_id, decision=decision, state=state, reviewer=reviewer,
                decided_at=now, note=note or "", match_weight=None if match_weight is None else float(match_weight),
                evidence=evidence, action="decide", actor=reviewer, recorded_at=now,
                supersedes=current.id if current else None))

    def confirm(self, wanted_id: str, person_id: str, reviewer: str, note: str = "",
                now: datetime | None = None) -> Judgement:
        """The second reviewer's confirmation of a pending match (never the reviewer who made it)."""
        _text(reviewer, "reviewer")
        now = _utc(now)
        with self._write() as conn:
            current = self._live_row(conn, wanted_id, person_id)
            if current is None or current.state != "pending_confirmation":
                state = current.state if current else "undecided"
                raise ReviewError(f"pair {wanted_id}/{person_id} is not waiting for confirmation (it is {state})")
            if current.reviewer == reviewer:
                raise ReviewError(f"the two-person rule needs a second reviewer: {reviewer} made this match "
                                  "and cannot confirm it")
            self._retire(conn, current, reviewer, now)
            values = {k: getattr(current, k) for k in _STATE_FIELDS}
            values.update(state="match", confirmed_by=reviewer, confirmed_at=now, note=note or current.note,
                          action="confirm", actor=reviewer, recorded_at=now, supersedes=current.id)
            return self._append(conn, values)

    def undo(self, reviewer: str, now: datetime | None = None) -> Judgement | None:
        """Take back this reviewer's most recent live decision or confirmation.

        The undone row is soft-deleted and returned (with its deleted_at). The state it replaced,
        if any, is made live again as a new row (a copy: action 'undo', `supersedes` = the undone
        row), so the history shows the decision, the undo and the restored state in order. With no
        earlier state, a closing copy of the undone row is appended already deleted, so the change
        feed sees that the pair went back to the queue. None when there is nothing to undo.
        """
        now = _utc(now)
        j = s.judgements.c
        with self._write() as conn:
            row = conn.execute(select(s.judgements).where(j.actor == reviewer, j.deleted_at.is_(None),
                                                          j.action.in_(("decide", "confirm")))
                               .order_by(j.id.desc()).limit(1)).first()
            if row is None:
                return None
            undone = Judgement(**row._mapping)
            self._retire(conn, undone, reviewer, now)
            prev_row = None
            if undone.supersedes is not None:
                prev_row = conn.execute(select(s.judgements).where(j.id == undone.supersedes)).first()
            source = Judgement(**prev_row._mapping) if prev_row else undone
            values = {k: getattr(source, k) for k in _STATE_FIELDS}
            values.update(action="undo", actor=reviewer, recorded_at=now, supersedes=undone.id)
            if prev_row is None:
                values.update(deleted_at=now, deleted_by=reviewer)
            self._append(conn, values)
            done = conn.execute(select(s.judgements).where(j.id == undone.id)).one()
            return Judgement(**done._mapping)

    def reopen(self, wanted_id: str, person_id: str, supervisor: str, note: str,
               now: datetime | None = None) -> Judgement:
        """A supervisor sends a decided pair back to the queue; returns the reopened (now deleted) row."""
        who = self.user(supervisor)
        if who is None or who.disabled or not who.supervisor:
            raise ReviewError(f"only a supervisor can reopen a decision ({supervisor!r} is not one)")
        if not isinstance(note, str) or not note.strip():
            raise ReviewError("a reopen needs a note saying why")
        now = _utc(now)
        with self._write() as conn:
            current = self._live_row(conn, wanted_id, person_id)
            if current is None:
                raise ReviewError(f"pair {wanted_id}/{person_id} has no live decision to reopen")
            self._retire(conn, current, supervisor, now)
            values = {k: getattr(current, k) for k in _STATE_FIELDS}
            values.update(note=note, action="reopen", actor=supervisor, recorded_at=now, supersedes=current.id,
                          deleted_at=now, deleted_by=supervisor)
            self._append(conn, values)
            row = conn.execute(select(s.judgements).where(s.judgements.c.id == current.id)).one()
            return Judgement(**row._mapping)

    def live(self, wanted_id: str, person_id: str) -> Judgement | None:
        with self._read() as conn:
            return self._live_row(conn, wanted_id, person_id)

    def history(self, *, wanted_id: str | None = None, person_id: str | None = None,
                reviewer: str | None = None, limit: int | None = None) -> list[Judgement]:
        """Every row (deleted ones included), newest first; `reviewer` matches who decided or acted."""
        j = s.judgements.c
        stmt = select(s.judgements).order_by(j.id.desc())
        if wanted_id is not None:
            stmt = stmt.where(j.wanted_id == wanted_id)
        if person_id is not None:
            stmt = stmt.where(j.person_id == person_id)
        if reviewer is not None:
            stmt = stmt.where(or_(j.reviewer == reviewer, j.actor == reviewer))
        if limit is not None:
            stmt = stmt.limit(limit)
        with self._read() as conn:
            return [Judgement(**r._mapping) for r in conn.execute(stmt)]

    def live_table(self) -> pa.Table:
        """The live decisions as Arrow (one row per decided pair), for joins against a run's matches."""
        j = s.judgements.c
        stmt = select(*(getattr(j, c) for c in LIVE_COLUMNS)).where(j.deleted_at.is_(None)).order_by(j.id)
        with self._read() as conn:
            return _arrow(conn.execute(stmt).all(), LIVE_COLUMNS)

    def history_table(self) -> pa.Table:
        """Every row of `judgements` as Arrow, in append order."""
        with self._read() as conn:
            return _arrow(conn.execute(select(s.judgements).order_by(s.judgements.c.id)).all(), _J_FIELDS)

    def changes_since(self, last_id: int) -> tuple[pa.Table, int]:
        """Every row with id > last_id (append order, current deleted_at) and the new last id.

        To keep a view of live decisions: for each pair in the result, its newest row is its state
        if that row is live, else the pair has no live decision (undone or reopened).
        """
        j = s.judgements.c
        with self._read() as conn:
            rows = conn.execute(select(s.judgements).where(j.id > int(last_id)).order_by(j.id)).all()
        table = _arrow(rows, _J_FIELDS)
        return table, (int(rows[-1].id) if rows else int(last_id))

    # -- leases ------------------------------------------------------------------------------
    def _upsert(self, conn: Connection, table: Any) -> Any:
        return (pg_dialect.insert if self.dialect == "postgresql" else sqlite_dialect.insert)(table)

    def claim(self, wanted_id: str, person_id: str, reviewer: str, minutes: float | None = None,
              now: datetime | None = None) -> bool:
        """Hold a pair for `minutes` (rules: lease_minutes): True if the pair is ours now.

        One statement: insert, or take over an expired lease, or extend our own; another
        reviewer's live lease is left alone (then RETURNING gives no row).
        """
        _text(reviewer, "reviewer")
        now = _utc(now)
        until = now + timedelta(minutes=self.rules.lease_minutes if minutes is None else minutes)
        lc = s.leases.c
        with self._write(lock=False) as conn:
            ins = self._upsert(conn, s.leases).values(wanted_id=wanted_id, person_id=person_id,
                                                      reviewer=reviewer, expires_at=until)
            stmt = ins.on_conflict_do_update(
                index_elements=[lc.wanted_id, lc.person_id],
                set_={"reviewer": ins.excluded.reviewer, "expires_at": ins.excluded.expires_at},
                where=or_(lc.expires_at <= now, lc.reviewer == reviewer)).returning(lc.reviewer)
            return conn.execute(stmt).first() is not None

    def release(self, wanted_id: str, person_id: str, reviewer: str) -> bool:
        """Give a pair back (only our own lease); True if a lease was released."""
        lc = s.leases.c
        with self._write(lock=False) as conn:
            return conn.execute(delete(s.leases).where(lc.wanted_id == wanted_id, lc.person_id == person_id,
                                                       lc.reviewer == reviewer)).rowcount == 1

    def release_all(self, reviewer: str) -> int:
        """Give back every lease a reviewer holds (at logout)."""
        with self._write(lock=False) as conn:
            return conn.execute(delete(s.leases).where(s.leases.c.reviewer == reviewer)).rowcount

    def claimed_by_others(self, reviewer: str, now: datetime | None = None) -> set[tuple[str, str]]:
        """Pairs another reviewer holds an unexpired lease on (the queue skips them)."""
        lc = s.leases.c
        with self._read() as conn:
            rows = conn.execute(select(lc.wanted_id, lc.person_id).where(lc.reviewer != reviewer,
                                                                         lc.expires_at > _utc(now)))
            return {(r.wanted_id, r.person_id) for r in rows}

    # -- users -------------------------------------------------------------------------------
    def add_user(self, name: str, password: str, role: str = "reviewer", now: datetime | None = None) -> User:
        """Create an account; the password is kept only as an argon2id hash."""
        _text(name, "user name")
        if name != name.strip() or any(ch.isspace() or not ch.isprintable() for ch in name):
            raise ReviewError(f"user name {name!r}: no spaces or control characters")
        if role not in s.ROLES:
            raise ReviewError(f"role must be one of {', '.join(s.ROLES)}, got {role!r}")
        self._check_password_rule(password)
        now = _utc(now)
        try:
            with self._write(lock=False) as conn:
                conn.execute(insert(s.users).values(name=name, role=role, password_hash=self._hasher.hash(password),
                                                    created_at=now, disabled=False))
        except IntegrityError:
            raise ReviewError(f"user {name!r} already exists") from None
        return User(name, role, now, False)

    def _check_password_rule(self, password: str) -> None:
        minimum = self.rules.login.password_min_length
        if not isinstance(password, str) or len(password) < minimum:
            raise ReviewError(f"the password must have at least {minimum} characters (rules/review.yaml: "
                              "login.password_min_length)")

    def set_password(self, name: str, password: str) -> None:
        self._check_password_rule(password)
        with self._write(lock=False) as conn:
            if conn.execute(update(s.users).where(s.users.c.name == name)
                            .values(password_hash=self._hasher.hash(password))).rowcount != 1:
                raise ReviewError(f"no user {name!r}")

    def set_disabled(self, name: str, disabled: bool = True) -> None:
        """Disable (or enable) an account; a disabled account's sessions stop working at once."""
        with self._write(lock=False) as conn:
            if conn.execute(update(s.users).where(s.users.c.name == name).values(disabled=disabled)).rowcount != 1:
                raise ReviewError(f"no user {name!r}")

    def user(self, name: str) -> User | None:
        with self._read() as conn:
            row = conn.execute(select(s.users.c.name, s.users.c.role, s.users.c.created_at, s.users.c.disabled)
                               .where(s.users.c.name == name)).first()
        return User(row.name, row.role, row.created_at, bool(row.disabled)) if row else None

    def users(self) -> list[User]:
        with self._read() as conn:
            rows = conn.execute(select(s.users.c.name, s.users.c.role, s.users.c.created_at, s.users.c.disabled)
                                .order_by(s.users.c.name)).all()
        return [User(r.name, r.role, r.created_at, bool(r.disabled)) for r in rows]

    def check_password(self, name: str, password: str) -> User | None:
        """The user if the password is right and the account enabled, else None.

        An unknown or disabled name still costs one argon2 verification, so the time taken does
        not tell which names exist.
        """
        with self._read() as conn:
            row = conn.execute(select(s.users).where(s.users.c.name == name)).first()
        if row is None and self._dummy is None:
            self._dummy = self._hasher.hash(secrets.token_hex(16))
        stored = row.password_hash if row is not None else self._dummy
        try:
            self._hasher.verify(stored, password)
            ok = row is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            ok = False
        if not ok or row is None or row.disabled:
            return None
        if self._hasher.check_needs_rehash(row.password_hash):
            with self._write(lock=False) as conn:
                conn.execute(update(s.users).where(s.users.c.name == name)
                             .values(password_hash=self._hasher.hash(password)))
        return User(row.name, row.role, row.created_at, bool(row.disabled))

    def set_setting(self, name: str, key: str, value: str | bool) -> None:
        """A reviewer's setting: lang ('vi' | 'en') or blind (True | False)."""
        if key not in USER_SETTINGS:
            raise ReviewError(f"unknown setting {key!r} (known: {', '.join(USER_SETTINGS)})")
        if value not in USER_SETTINGS[key] or (key == "blind") != isinstance(value, bool):
            raise ReviewError(f"setting {key} must be one of {', '.join(map(str, USER_SETTINGS[key]))}, got {value!r}")
        if self.user(name) is None:
            raise ReviewError(f"no user {name!r}")
        stored = str(value).lower() if isinstance(value, bool) else value
        with self._write(lock=False) as conn:
            ins = self._upsert(conn, s.user_settings).values(name=name, key=key, value=stored)
            conn.execute(ins.on_conflict_do_update(index_elements=[s.user_settings.c.name, s.user_settings.c.key],
                                                   set_={"value": ins.excluded.value}))

    def settings(self, name: str) -> dict[str, Any]:
        """Every setting of a user, defaults filled in: {'lang': 'vi', 'blind': False}."""
        out: dict[str, Any] = {k: v[0] for k, v in USER_SETTINGS.items()}
        with self._read() as conn:
            for row in conn.execute(select(s.user_settings).where(s.user_settings.c.name == name)):
                out[row.key] = (row.value == "true") if row.key == "blind" else row.value
        return out

    # -- sessions ----------------------------------------------------------------------------
    def new_session(self, user: str, now: datetime | None = None) -> tuple[str, str]:
        """A new login session: (token for the cookie, csrf token for forms). Only a hash of the
        token is stored, so a copy of the database does not let anyone log in."""
        who = self.user(user)
        if who is None or who.disabled:
            raise ReviewError(f"no enabled user {user!r}")
        now = _utc(now)
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        with self._write(lock=False) as conn:
            conn.execute(delete(s.sessions).where(s.sessions.c.expires_at <= now))
            conn.execute(insert(s.sessions).values(
                token_hash=_token_hash(token), user=user, csrf=csrf, created_at=now,
                expires_at=now + timedelta(hours=self.rules.session_hours), last_seen=now))
        return token, csrf

    def session(self, token: str, now: datetime | None = None) -> Session | None:
        """The session of a cookie's token; None if unknown, expired or its user is disabled."""
        if not isinstance(token, str) or not token:
            return None
        now = _utc(now)
        sc, uc = s.sessions.c, s.users.c
        with self._read() as conn:
            row = conn.execute(select(sc.token_hash, sc.user, uc.role, uc.disabled, sc.csrf, sc.created_at,
                                      sc.expires_at, sc.last_seen)
                               .join_from(s.sessions, s.users, sc.user == uc.name)
                               .where(sc.token_hash == _token_hash(token))).first()
        if row is None or row.expires_at <= now or row.disabled:
            return None
        last_seen = row.last_seen
        if (now - last_seen).total_seconds() >= SESSION_TOUCH_SECONDS:
            with self._write(lock=False) as conn:
                conn.execute(update(s.sessions).where(sc.token_hash == row.token_hash).values(last_seen=now))
            last_seen = now
        return Session(row.user, row.role, row.csrf, row.created_at, row.expires_at, last_seen)

    def end_session(self, token: str) -> None:
        with self._write(lock=False) as conn:
            conn.execute(delete(s.sessions).where(s.sessions.c.token_hash == _token_hash(token)))

    # -- login attempts ----------------------------------------------------------------------
    def record_login(self, name: str, remote: str, ok: bool, now: datetime | None = None) -> None:
        """Remember a login attempt (attempts older than a day are dropped as we go)."""
        now = _utc(now)
        with self._write(lock=False) as conn:
            conn.execute(delete(s.login_attempts).where(s.login_attempts.c.at < now - timedelta(days=1)))
            conn.execute(insert(s.login_attempts).values(name=str(name)[:128], remote=str(remote)[:64],
                                                         at=now, ok=bool(ok)))

    def recent_failures(self, name: str | None, remote: str | None, minutes: float | None = None,
                        now: datetime | None = None) -> int:
        """Failed logins in the last `minutes` (rules: login.window_minutes) for this name from
        any address, or from this address for any name (None leaves a side out)."""
        now = _utc(now)
        window = self.rules.login.window_minutes if minutes is None else minutes
        lc = s.login_attempts.c
        who = [c for c in ((lc.name == name) if name is not None else None,
                           (lc.remote == remote) if remote is not None else None) if c is not None]
        if not who:
            return 0
        with self._read() as conn:
            return int(conn.execute(select(func.count()).select_from(s.login_attempts).where(
                lc.ok.is_(False), lc.at > now - timedelta(minutes=window), or_(*who))).scalar() or 0)
