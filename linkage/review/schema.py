"""The judgement store's tables, declared once in SQLAlchemy Core so SQLite and PostgreSQL get the
same schema from the same code. Times are stored as UTC and always read back timezone-aware
(SQLite has no timezone type: `UTCDateTime` does the conversion both ways)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.types import TypeDecorator

SCHEMA_VERSION = 1

DECISIONS = ("match", "not_match", "unsure")
STATES = ("match", "not_match", "unsure", "pending_confirmation")
# What wrote a row: a reviewer's decision, a second reviewer's confirmation, an undo (restoring
# the previous state, or closing the pair when there was none) or a supervisor's reopen.
ACTIONS = ("decide", "confirm", "undo", "reopen")
ROLES = ("reviewer", "supervisor")


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (naive input is refused, not guessed)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("the judgement store takes timezone-aware datetimes only")
        value = value.astimezone(timezone.utc)
        # SQLite stores text: drop the offset so every stored value has one format and sorts.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


metadata = MetaData()

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("applied_at", UTCDateTime, nullable=False),
)

judgements = Table(
    "judgements",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),  # the append order
    Column("wanted_id", String(64), nullable=False),
    Column("person_id", String(64), nullable=False),
    Column("decision", String(16), nullable=False),
    Column("state", String(24), nullable=False),
    Column("reviewer", String(128), nullable=False),
    Column("decided_at", UTCDateTime, nullable=False),
    Column("note", Text, nullable=False, server_default=""),
    Column("match_weight", Float, nullable=True),
    Column("evidence", String(256), nullable=True),
    Column("confirmed_by", String(128), nullable=True),
    Column("confirmed_at", UTCDateTime, nullable=True),
    Column("deleted_at", UTCDateTime, nullable=True),
    Column("deleted_by", String(128), nullable=True),
    # Who wrote this row, when, by which action, and which live row it replaced.
    Column("action", String(16), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
    Column("supersedes", Integer, nullable=True),
    CheckConstraint(_in("decision", DECISIONS), name="judgements_decision_ck"),
    CheckConstraint(_in("state", STATES), name="judgements_state_ck"),
    CheckConstraint(_in("action", ACTIONS), name="judgements_action_ck"),
    Index("judgements_pair_ix", "wanted_id", "person_id"),
    Index("judgements_actor_ix", "actor", "id"),
    Index("judgements_reviewer_ix", "reviewer"),
    # The rule the database keeps, whatever the code does: one live row per pair.
    Index(
        "judgements_one_live_ux",
        "wanted_id",
        "person_id",
        unique=True,
        sqlite_where=text("deleted_at IS NULL"),
        postgresql_where=text("deleted_at IS NULL"),
    ),
    sqlite_autoincrement=True,  # ids never reused: they are the append order a change feed follows
)

leases = Table(
    "leases",
    metadata,
    Column("wanted_id", String(64), primary_key=True),
    Column("person_id", String(64), primary_key=True),
    Column("reviewer", String(128), nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Index("leases_reviewer_ix", "reviewer"),
)

users = Table(
    "users",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("password_hash", String(256), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("disabled", Boolean, nullable=False, server_default=text("false")),
    CheckConstraint(_in("role", ROLES), name="users_role_ck"),
)

user_settings = Table(
    "user_settings",
    metadata,
    Column("name", String(128), ForeignKey("users.name", ondelete="CASCADE"), primary_key=True),
    Column("key", String(32), primary_key=True),
    Column("value", String(256), nullable=False),
)

sessions = Table(
    "sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),  # sha256 of the token; the token is never stored
    Column("user", String(128), ForeignKey("users.name", ondelete="CASCADE"), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("last_seen", UTCDateTime, nullable=False),
)

login_attempts = Table(
    "login_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False),
    Column("remote", String(64), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("ok", Boolean, nullable=False),
    Index("login_attempts_name_ix", "name", "at"),
    Index("login_attempts_remote_ix", "remote", "at"),
    sqlite_autoincrement=True,
)
