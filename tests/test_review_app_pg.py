"""The reviewer web app's flows that write to the store, on PostgreSQL: the same tests as
tests/test_review_app.py (imported from it, so they cannot drift apart), with the app served
over a judgement store in a PostgreSQL schema of its own (the `pg_base_url` server of
tests/conftest.py: $LINKAGE_TEST_PG_URL or a throwaway cluster on a unix socket).

Covered here: decisions with their danger level and evidence, the two-person rule, leases
between two reviewers, undo and history, a supervisor's reopen, CSRF refusals, pages without a
session, the queue's order and counts (decided and held pairs left out), blind mode and the
language setting (kept in the store), the pages' server time, and logs without names or birth
dates."""

from __future__ import annotations


import pytest

from linkage.review.app import create_app, load_config
from linkage.review.store import Store
from pg_server import pg_schema

# In the order of tests/test_review_app.py (pytest runs them in this order; some build on the
# state the earlier ones leave).
from test_review_app import (  # noqa: F401, I001  (fixtures and tests collected from here too)  # isort: skip
    PASSWORDS,
    THRESHOLD,
    logs,
    run_dir,
    test_every_page_and_post_without_a_session_is_refused,
    test_post_without_a_valid_csrf_token_is_refused,
    test_queue_order_and_counts,
    test_queue_filters,
    test_decision_is_stored_with_danger_level_and_evidence,
    test_two_person_rule_through_the_pages,
    test_a_pair_claimed_by_a_is_not_offered_to_b,
    test_undo_and_history,
    test_supervisor_sees_everyone_and_reopens,
    test_blind_mode_hides_the_score,
    test_language_switch,
    test_pages_are_fast,
    test_zz_logs_carry_no_name_or_birth_date,
)


@pytest.fixture(scope="module")
def pg_store_url(pg_base_url):  # type: ignore[no-untyped-def]
    """A PostgreSQL schema for this module's store, dropped at the end."""
    with pg_schema(pg_base_url, "app") as url:
        yield url


@pytest.fixture(scope="module")
def served(run_dir, pg_store_url, logs):  # type: ignore[no-untyped-def]  # noqa: F811
    store = Store.open(pg_store_url)
    assert store.dialect == "postgresql"
    for name, password in PASSWORDS.items():
        store.add_user(name, password, role="supervisor" if name == "chi" else "reviewer")
    config = load_config(store, THRESHOLD, run=run_dir)
    yield create_app(config), store, config
    store.close()
