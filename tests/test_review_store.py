"""The judgement store on real SQLite and PostgreSQL databases (every store test runs on both):
append-only history, one live row per pair even under concurrent writers, undo, the two-person
rule, leases, supervisor reopen, the change feed, accounts, sessions and login attempts."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.exc import IntegrityError

from linkage.errors import RulesError
from linkage.review import ReviewError, ReviewSettings, Store, load_review_settings
from linkage.review import schema as s

T0 = datetime(2025, 11, 26, 8, 0, tzinfo=timezone.utc)
DANGER = "đặc biệt nguy hiểm"
PW = "mật khẩu đủ dài 123"


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    st = Store.open(store_url)
    yield st
    st.close()


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_history_is_append_only_and_one_state_is_live(store: Store) -> None:
    a = store.decide("W-0001", "001090000001", "not_match", "an", note="khác cha mẹ", match_weight=2.5,
                     evidence="e1", now=at(0))
    b = store.decide("W-0001", "001090000001", "unsure", "binh", note="cần xem lại", now=at(1))
    c = store.decide("W-0001", "001090000001", "match", "an", note="", match_weight=9.0, now=at(2))
    hist = store.history(wanted_id="W-0001", person_id="001090000001")
    assert [h.id for h in hist] == [c.id, b.id, a.id]  # newest first, nothing lost
    assert [h.state for h in hist] == ["match", "unsure", "not_match"]
    assert [h.reviewer for h in hist] == ["an", "binh", "an"]
    assert [h.note for h in hist] == ["", "cần xem lại", "khác cha mẹ"]
    assert [h.live for h in hist] == [True, False, False]
    assert hist[2].deleted_at == at(1) and hist[2].deleted_by == "binh"  # soft-deleted by the next decision
    assert hist[1].deleted_at == at(2) and hist[1].deleted_by == "an"
    assert (hist[2].match_weight, hist[2].evidence, hist[2].decided_at) == (2.5, "e1", T0)
    assert hist[0].decided_at.tzinfo is not None and hist[0].supersedes == b.id
    assert store.live("W-0001", "001090000001") == c
    assert store.live("W-0001", "001090000002") is None
    assert [h.id for h in store.history(reviewer="an")] == [c.id, a.id]
    assert len(store.history(limit=2)) == 2


def test_clear_errors_for_bad_decisions(store: Store) -> None:
    with pytest.raises(ReviewError, match="decision must be one of match, not_match, unsure"):
        store.decide("W-1", "P-1", "yes", "an")
    with pytest.raises(ReviewError, match="reviewer"):
        store.decide("W-1", "P-1", "match", "")
    with pytest.raises(ReviewError, match="timezone-aware"):
        store.decide("W-1", "P-1", "match", "an", now=datetime(2025, 1, 1))
    assert store.history() == []


def test_the_database_itself_refuses_a_second_live_row(store: Store) -> None:
    first = store.decide("W-1", "P-1", "match", "an", now=T0)
    row = {k: getattr(first, k) for k in ("wanted_id", "person_id", "decision", "state", "reviewer", "decided_at",
                                         "note", "action", "actor", "recorded_at")}
    with pytest.raises(IntegrityError):
        with store.engine.begin() as conn:
            conn.execute(insert(s.judgements).values(**row))
    with store.engine.begin() as conn:  # a deleted row beside the live one is fine: that is history
        conn.execute(insert(s.judgements).values(**row, deleted_at=at(1), deleted_by="x"))
    assert len(store.history()) == 2 and store.live("W-1", "P-1") == first


def test_concurrent_writers_keep_one_live_row_per_pair_and_lose_nothing(store_url: str) -> None:
    stores = [Store.open(store_url) for _ in range(2)]  # two engines: like two server processes
    pairs = [(f"W-{i:04d}", f"0010900{i:05d}") for i in range(12)]
    decisions = ("match", "not_match", "unsure")
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def work(k: int) -> None:
        try:
            st = stores[k % 2]
            barrier.wait()
            for i, (w, p) in enumerate(pairs[k % 3:] + pairs[:k % 3]):
                st.decide(w, p, decisions[(i + k) % 3], f"reviewer{k}", note=f"t{k}")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    hist = stores[0].history()
    assert len(hist) == 8 * len(pairs)  # every decision kept
    for w, p in pairs:
        rows = [h for h in hist if (h.wanted_id, h.person_id) == (w, p)]
        live = [h for h in rows if h.live]
        assert len(rows) == 8 and len(live) == 1
        assert live[0].id == max(h.id for h in rows)  # the live row is the newest one
        assert sorted(h.supersedes for h in rows if h.supersedes) == sorted(h.id for h in rows if not h.live)
    assert stores[1].live_table().num_rows == len(pairs)
    for st in stores:
        st.close()


def test_concurrent_claims_have_one_winner(store_url: str) -> None:
    stores = [Store.open(store_url) for _ in range(2)]
    wins: list[str] = []
    barrier = threading.Barrier(8)

    def work(k: int) -> None:
        barrier.wait()
        if stores[k % 2].claim("W-9", "P-9", f"r{k}", now=T0):
            wins.append(f"r{k}")

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(wins) == 1
    assert stores[0].claimed_by_others("nobody", now=T0) == {("W-9", "P-9")}
    for st in stores:
        st.close()


def test_undo_restores_the_previous_state_as_a_new_row(store: Store) -> None:
    first = store.decide("W-1", "P-1", "not_match", "an", note="đầu", match_weight=1.0, now=at(0))
    store.decide("W-2", "P-2", "unsure", "an", now=at(1))
    second = store.decide("W-1", "P-1", "match", "an", note="sau", now=at(2))
    store.decide("W-3", "P-3", "match", "binh", now=at(3))  # another reviewer's work is not undone

    undone = store.undo("an", now=at(4))
    assert undone is not None and undone.id == second.id and undone.deleted_at == at(4) and undone.deleted_by == "an"
    restored = store.live("W-1", "P-1")
    assert restored is not None and restored.id > second.id
    assert (restored.state, restored.reviewer, restored.note, restored.decided_at, restored.match_weight) == \
        ("not_match", "an", "đầu", first.decided_at, 1.0)
    assert (restored.action, restored.actor, restored.supersedes) == ("undo", "an", second.id)
    assert [h.action for h in store.history(wanted_id="W-1")] == ["undo", "decide", "decide"]

    # Next undo: the reviewer's previous decision (W-2), which had no earlier state: back to the queue.
    undone = store.undo("an", now=at(5))
    assert undone is not None and (undone.wanted_id, undone.state) == ("W-2", "unsure")
    assert store.live("W-2", "P-2") is None
    closing = store.history(wanted_id="W-2")[0]
    assert (closing.action, closing.live, closing.deleted_by) == ("undo", False, "an")
    assert store.live("W-3", "P-3") is not None
    assert store.undo("chau") is None


def test_two_person_rule(store: Store) -> None:
    pending = store.decide("W-1", "P-1", "match", "an", danger_level=DANGER, now=at(0))
    assert pending.state == "pending_confirmation" and pending.decision == "match"
    live = store.live_table()
    assert live.column("state").to_pylist() == ["pending_confirmation"]
    with pytest.raises(ReviewError, match="second reviewer"):
        store.confirm("W-1", "P-1", "an")
    confirmed = store.confirm("W-1", "P-1", "binh", note="đã đối chiếu", now=at(1))
    assert (confirmed.state, confirmed.reviewer, confirmed.confirmed_by, confirmed.confirmed_at) == \
        ("match", "an", "binh", at(1))
    assert [h.state for h in store.history(wanted_id="W-1")] == ["match", "pending_confirmation"]
    with pytest.raises(ReviewError, match="not waiting for confirmation"):
        store.confirm("W-1", "P-1", "chau")
    # Danger levels compare without case or Unicode-form differences; other levels need one reviewer.
    assert store.decide("W-2", "P-2", "match", "an", danger_level="ĐẶC BIỆT NGUY HIỂM ").state == "pending_confirmation"
    assert store.decide("W-3", "P-3", "match", "an", danger_level="nguy hiểm").state == "match"
    assert store.decide("W-4", "P-4", "not_match", "an", danger_level=DANGER).state == "not_match"
    # Undoing the confirmation brings the pending state back.
    store.undo("binh", now=at(2))
    assert store.live("W-1", "P-1").state == "pending_confirmation"


def test_two_person_rule_follows_the_rules(store_url: str) -> None:
    st = Store.open(store_url, settings=ReviewSettings(two_person_danger_levels=()))
    assert st.decide("W-1", "P-1", "match", "an", danger_level=DANGER).state == "match"
    st.close()


def test_leases(store: Store) -> None:
    assert store.claim("W-1", "P-1", "an", now=at(0))
    assert not store.claim("W-1", "P-1", "binh", now=at(1))  # held by another
    assert store.claimed_by_others("binh", now=at(1)) == {("W-1", "P-1")}
    assert store.claimed_by_others("an", now=at(1)) == set()
    assert store.claim("W-1", "P-1", "an", now=at(10))  # ours: extended to 10 + 15 minutes
    assert not store.claim("W-1", "P-1", "binh", now=at(20))
    assert store.claimed_by_others("binh", now=at(26)) == set()  # expired
    assert store.claim("W-1", "P-1", "binh", now=at(26), minutes=5)  # taken over
    assert not store.claim("W-1", "P-1", "an", now=at(27))
    assert not store.release("W-1", "P-1", "an")  # not an's any more
    assert store.release("W-1", "P-1", "binh")
    assert store.claim("W-1", "P-1", "an", now=at(28))
    assert store.claim("W-2", "P-2", "an", now=at(28))
    assert store.release_all("an") == 2 and store.claimed_by_others("x", now=at(28)) == set()


def test_supervisor_reopen_puts_the_pair_back(store: Store) -> None:
    store.add_user("giamsat", PW, "supervisor")
    store.add_user("an", PW, "reviewer")
    decided = store.decide("W-1", "P-1", "not_match", "an", now=at(0))
    with pytest.raises(ReviewError, match="only a supervisor"):
        store.reopen("W-1", "P-1", "an", "xem lại")
    with pytest.raises(ReviewError, match="note"):
        store.reopen("W-1", "P-1", "giamsat", " ")
    reopened = store.reopen("W-1", "P-1", "giamsat", "thông tin mới", now=at(1))
    assert reopened.id == decided.id and reopened.deleted_by == "giamsat"
    assert store.live("W-1", "P-1") is None and store.live_table().num_rows == 0
    top = store.history(wanted_id="W-1")[0]
    assert (top.action, top.actor, top.note, top.live) == ("reopen", "giamsat", "thông tin mới", False)
    with pytest.raises(ReviewError, match="no live decision"):
        store.reopen("W-1", "P-1", "giamsat", "again")
    assert store.undo("an") is None  # nothing of an's is live any more


def test_change_feed_rebuilds_the_live_view(store: Store) -> None:
    store.add_user("giamsat", PW, "supervisor")
    view: dict[tuple[str, str], str] = {}
    last = 0

    def follow() -> None:
        nonlocal last
        table, last = store.changes_since(last)
        for row in table.to_pylist():  # newest row per pair wins
            key = (row["wanted_id"], row["person_id"])
            if row["deleted_at"] is None:
                view[key] = row["state"]
            else:
                view.pop(key, None)

    store.decide("W-1", "P-1", "not_match", "an")
    store.decide("W-2", "P-2", "match", "an", danger_level=DANGER)
    follow()
    store.decide("W-1", "P-1", "unsure", "binh")
    store.confirm("W-2", "P-2", "binh")
    store.decide("W-3", "P-3", "match", "an")
    follow()
    store.undo("binh")  # the confirmation
    store.reopen("W-3", "P-3", "giamsat", "lý do")
    store.decide("W-4", "P-4", "unsure", "chau")
    store.undo("chau")
    follow()
    live = store.live_table()
    assert view == dict(zip(zip(live["wanted_id"].to_pylist(), live["person_id"].to_pylist()), live["state"].to_pylist()))
    assert view == {("W-1", "P-1"): "unsure", ("W-2", "P-2"): "pending_confirmation"}
    table, again = store.changes_since(last)
    assert table.num_rows == 0 and again == last


def test_users_and_argon2(store: Store) -> None:
    user = store.add_user("an", PW)
    assert (user.name, user.role, user.disabled) == ("an", "reviewer", False)
    with pytest.raises(ReviewError, match="already exists"):
        store.add_user("an", PW)
    with pytest.raises(ReviewError, match="at least 10 characters"):
        store.add_user("binh", "short")
    with pytest.raises(ReviewError, match="role must be one of"):
        store.add_user("binh", PW, "admin")
    with store.engine.connect() as conn:
        stored = conn.execute(select(s.users.c.password_hash).where(s.users.c.name == "an")).scalar_one()
    assert stored.startswith("$argon2id$") and PW not in stored
    assert store.check_password("an", PW) == store.user("an")
    assert store.check_password("an", PW + "x") is None
    assert store.check_password("nobody", PW) is None
    store.set_password("an", "một mật khẩu khác")
    assert store.check_password("an", PW) is None and store.check_password("an", "một mật khẩu khác")
    store.set_disabled("an")
    assert store.check_password("an", "một mật khẩu khác") is None and store.user("an").disabled
    assert [u.name for u in store.users()] == ["an"]


def test_user_settings(store: Store) -> None:
    store.add_user("an", PW)
    assert store.settings("an") == {"lang": "vi", "blind": False}
    store.set_setting("an", "lang", "en")
    store.set_setting("an", "blind", True)
    store.set_setting("an", "blind", True)  # idempotent
    assert store.settings("an") == {"lang": "en", "blind": True}
    with pytest.raises(ReviewError, match="setting lang must be one of vi, en"):
        store.set_setting("an", "lang", "fr")
    with pytest.raises(ReviewError, match="unknown setting"):
        store.set_setting("an", "theme", "dark")
    with pytest.raises(ReviewError, match="no user"):
        store.set_setting("ghost", "lang", "en")


def test_sessions(store: Store) -> None:
    store.add_user("an", PW)
    token, csrf = store.new_session("an", now=at(0))
    assert len(token) >= 40 and len(csrf) >= 40 and token != csrf
    sess = store.session(token, now=at(5))
    assert sess is not None and (sess.user, sess.role, sess.csrf) == ("an", "reviewer", csrf)
    assert sess.expires_at == at(12 * 60) and sess.last_seen == at(5)
    with store.engine.connect() as conn:
        hashes = conn.execute(select(s.sessions.c.token_hash)).scalars().all()
    assert token not in hashes and len(hashes) == 1
    assert store.session(token, now=at(12 * 60)) is None  # expired
    assert store.session("not-a-token", now=at(1)) is None
    token2, _ = store.new_session("an", now=at(1))
    store.end_session(token2)
    assert store.session(token2, now=at(2)) is None
    token3, _ = store.new_session("an", now=at(1))
    store.set_disabled("an")
    assert store.session(token3, now=at(2)) is None
    with pytest.raises(ReviewError, match="no enabled user"):
        store.new_session("an")


def test_login_failures_are_counted_per_name_and_address(store: Store) -> None:
    for k in range(3):
        store.record_login("an", "10.0.0.1", False, now=at(k))
    store.record_login("an", "10.0.0.1", True, now=at(3))
    store.record_login("binh", "10.0.0.2", False, now=at(4))
    assert store.recent_failures("an", "10.0.0.9", 15, now=at(5)) == 3  # the name, any address
    assert store.recent_failures("chau", "10.0.0.1", 15, now=at(5)) == 3  # the address, any name
    assert store.recent_failures("an", "10.0.0.2", 15, now=at(5)) == 4
    assert store.recent_failures("an", None, 15, now=at(16)) == 1  # the window moved on
    assert store.recent_failures("an", None, now=at(30)) == 0  # rules: window_minutes 15


def test_open_is_idempotent_and_keeps_one_schema_version(store_url: str) -> None:
    a, b = Store.open(store_url), Store.open(store_url)
    a.decide("W-1", "P-1", "unsure", "an")
    assert b.live("W-1", "P-1") is not None
    with b.engine.connect() as conn:
        assert conn.execute(select(s.schema_version.c.version)).scalars().all() == [s.SCHEMA_VERSION]
    if b.dialect == "sqlite":
        with b.engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA busy_timeout")).scalar() >= 5000
    a.close(), b.close()


def test_open_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ReviewError, match="unsupported"):
        Store.open("mysql://x/y")
    with pytest.raises(ReviewError, match="is a folder"):
        Store.open(tmp_path)
    with pytest.raises(ReviewError, match="does not exist"):
        Store.open(tmp_path / "no" / "s.sqlite")
    with pytest.raises(ReviewError, match="in-memory"):
        Store.open("sqlite:///:memory:")
    Store.open(f"sqlite:///{tmp_path / 'url.sqlite'}").close()
    assert (tmp_path / "url.sqlite").is_file()


def test_review_rules_load_and_errors_name_file_and_key(tmp_path: Path) -> None:
    rules = load_review_settings()
    assert rules.lease_minutes == 15 and rules.two_person_danger_levels == (DANGER,)
    assert rules.requeue_weight_bits == 3.0 and rules.requeue_when_id_agrees and rules.session_hours == 12
    assert (rules.login.max_failures, rules.login.window_minutes, rules.login.slow_seconds) == (5, 15, 2)
    good = (Path(__file__).resolve().parent.parent / "rules" / "review.yaml").read_text(encoding="utf-8")
    cases = {
        "lease_minutes: 15": ("lease_minutes: -1", "key lease_minutes: expected a positive number"),
        "  max_failures: 5 ": ("  max_failures: many ", "key login.max_failures: expected a positive integer"),
        "requeue_when_id_agrees: true": ("requeue_when_id_agrees: 1", "key requeue_when_id_agrees"),
        "session_hours: 12": ("session_hour: 12", "unknown key"),
    }
    for old, (new, message) in cases.items():
        assert old in good, old
        (tmp_path / "review.yaml").write_text(good.replace(old, new), encoding="utf-8")
        with pytest.raises(RulesError, match=message) as err:
            load_review_settings(tmp_path)
        assert "review.yaml" in str(err.value)
