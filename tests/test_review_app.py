"""The reviewer web app through HTTP (Starlette's TestClient), on a real run of the committed
sample and a real SQLite judgement store: login, refusals without a session or a CSRF token, the
login rate limit, security headers, the queue's order and filters, decisions with their danger
level and evidence, the two-person rule, leases between two reviewers, blind mode, language,
and logs that never carry a name or a birth date."""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import typer
from starlette.testclient import TestClient

from linkage.model import default_model, save_model
from linkage.pipeline import run
from linkage.review.app import create_app, load_config
from linkage.review.candidates import DANGER_ORDER, fold
from linkage.review.cli import DEFAULT_HOST, review_app
from linkage.review.evidence import evidence_fingerprint
from linkage.review.settings import LoginRules, ReviewSettings, load_review_settings
from linkage.review.store import Store
from linkage.rules import rules_hash
from linkage.settings import load_settings

SAMPLE = Path(__file__).resolve().parent.parent / "data_samples" / "sample"
PASSWORDS = {"an": "mat-khau-an-01", "binh": "mat-khau-binh-02", "chi": "mat-khau-chi-03"}
THRESHOLD = 0.5


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture(scope="module")
def logs():
    handler = Collect()
    root = logging.getLogger()
    old = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for name in ("linkage.review", "linkage.review.access", "uvicorn", "uvicorn.access", "uvicorn.error"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(old)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("review_run")
    model = save_model(default_model(load_settings(), rules_hash()), tmp / "model.json")
    out = tmp / "out"
    run(SAMPLE / "wanted.csv", SAMPLE / "residents.csv", SAMPLE / "id_cards.csv", out, model_path=model)
    return out


@pytest.fixture(scope="module")
def served(run_dir, tmp_path_factory, logs):
    store = Store.open(tmp_path_factory.mktemp("store") / "review.sqlite")
    store.add_user("an", PASSWORDS["an"])
    store.add_user("binh", PASSWORDS["binh"])
    store.add_user("chi", PASSWORDS["chi"], role="supervisor")
    config = load_config(store, THRESHOLD, run=run_dir)
    app = create_app(config)
    yield app, store, config
    store.close()


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def login(app, name: str, password: str | None = None) -> TestClient:
    client = TestClient(app, base_url="http://testserver")
    page = client.get("/login")
    r = client.post("/login", data={"csrf": csrf_of(page.text), "username": name,
                                    "password": password or PASSWORDS[name]}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return client


def pair_of(url: str) -> tuple[str, str]:
    m = re.search(r"/pair/([^/?]+)/([^/?]+)", str(url))
    return m.group(1), m.group(2)


def queue_pairs(html: str) -> list[tuple[str, str]]:
    return re.findall(r'<a href="/pair/([^/"]+)/([^/?"]+)[^"]*">', html.split("<tbody>")[1]) if "<tbody>" in html else []


# -- accounts and safety -------------------------------------------------------------------------
def test_login_sets_a_strict_httponly_session_cookie(served):
    app, store, _ = served
    client = TestClient(app)
    page = client.get("/login")
    assert page.status_code == 200 and 'name="password"' in page.text
    r = client.post("/login", data={"csrf": csrf_of(page.text), "username": "an", "password": PASSWORDS["an"]},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/queue"
    cookie = [v for k, v in r.headers.multi_items() if k == "set-cookie" and v.startswith("lk_session=")][0]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    token = cookie.split(";")[0].split("=", 1)[1]
    assert store.session(token).user == "an"
    assert client.get("/queue").status_code == 200


def test_wrong_password_gives_a_message_that_does_not_say_whether_the_user_exists(served):
    app, _, _ = served
    client = TestClient(app, client=("10.0.0.9", 1234))
    page = client.get("/login")
    a = client.post("/login", data={"csrf": csrf_of(page.text), "username": "an", "password": "wrong-password"})
    b = client.post("/login", data={"csrf": csrf_of(page.text), "username": "nobody", "password": "wrong-password"})
    assert a.status_code == b.status_code == 401
    msg = lambda html: re.search(r'class="error"[^>]*>([^<]+)<', html).group(1)  # noqa: E731
    assert msg(a.text) == msg(b.text)
    # a login POST without the form's token is refused before anything is checked
    assert client.post("/login", data={"username": "an", "password": PASSWORDS["an"]}).status_code == 403


def test_every_page_and_post_without_a_session_is_refused(served):
    app, _, config = served
    client = TestClient(app)
    w, p = config.candidates.wanted[0], config.candidates.person[0]
    for path in ["/", "/queue", "/confirm", "/next", "/prev", f"/pair/{w}/{p}", "/history",
                 f"/history/pair/{w}/{p}", "/settings"]:
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] in ("/login", "/queue"), path
        if r.headers["location"] == "/queue":
            assert client.get("/queue", follow_redirects=False).headers["location"] == "/login"
    for path in ["/decide", "/confirm", "/undo", "/reopen", "/settings", "/logout"]:
        r = client.post(path, data={"wanted_id": w, "person_id": p, "decision": "match", "csrf": "x", "lang": "en"},
                        follow_redirects=False)
        assert r.status_code == 403, path
    # a forged cookie is no session either
    client.cookies.set("lk_session", "forged-token")
    assert client.get("/queue", follow_redirects=False).headers["location"] == "/login"
    assert client.post("/undo", data={"csrf": "x"}).status_code == 403


def test_post_without_a_valid_csrf_token_is_refused(served):
    app, store, config = served
    client = login(app, "an")
    w, p = config.candidates.wanted[0], config.candidates.person[0]
    for data in ({}, {"csrf": ""}, {"csrf": "not-the-token"}):
        for path in ["/decide", "/undo", "/settings", "/logout"]:
            r = client.post(path, data={**data, "wanted_id": w, "person_id": p, "decision": "not_match", "lang": "en"})
            assert r.status_code == 403, (path, data)
    assert store.live(w, p) is None
    assert store.settings("an")["lang"] == "vi"
    assert client.get("/queue").status_code == 200  # still logged in


def test_ten_wrong_passwords_are_slowed_then_refused(run_dir, tmp_path, served):
    _, _, config = served
    slow = 0.25
    rules = ReviewSettings(login=LoginRules(max_failures=5, window_minutes=15, slow_seconds=slow, password_min_length=10))
    store = Store.open(tmp_path / "limit.sqlite", settings=rules)
    store.add_user("an", PASSWORDS["an"])
    app = create_app(type(config)(store, config.candidates, config.records))
    client = TestClient(app, client=("10.0.0.7", 5555))
    token = csrf_of(client.get("/login").text)
    times, codes = [], []
    for _ in range(10):
        t0 = time.perf_counter()
        r = client.post("/login", data={"csrf": token, "username": "an", "password": "wrong-password!"})
        times.append(time.perf_counter() - t0)
        codes.append(r.status_code)
    assert codes[:5] == [401] * 5
    assert codes[5:] == [429] * 5
    assert all(t >= slow for t in times[5:]), times
    assert min(times[5:]) > max(times[:5]) or min(times[5:]) >= slow
    # within the window even the right password is refused, and the message is the same
    r = client.post("/login", data={"csrf": token, "username": "an", "password": PASSWORDS["an"]}, follow_redirects=False)
    assert r.status_code == 429 and "lk_session" not in r.headers.get("set-cookie", "")
    store.close()


def test_the_serve_command_binds_127_0_0_1_by_default():
    assert DEFAULT_HOST == "127.0.0.1"
    command = typer.main.get_command(review_app).commands["serve"]
    host = next(p for p in command.params if p.name == "host")
    assert host.default == "127.0.0.1"
    assert next(p for p in command.params if p.name == "port").default == 8765


def test_security_headers_on_every_response(served):
    app, _, config = served
    anon = TestClient(app)
    client = login(app, "an")
    w, p = config.candidates.wanted[0], config.candidates.person[0]
    responses = [anon.get("/login"), anon.get("/queue", follow_redirects=False), anon.post("/decide"),
                 anon.get("/static/review.css"), anon.get("/static/review.js"), anon.get("/nothing-here"),
                 client.get("/queue"), client.get(f"/pair/{w}/{p}"), client.get("/settings")]
    for r in responses:
        h = r.headers
        assert h["content-security-policy"] == ("default-src 'none'; script-src 'self'; style-src 'self'; "
                                                "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; "
                                                "base-uri 'none'"), r.url
        assert h["x-content-type-options"] == "nosniff"
        assert h["referrer-policy"] == "no-referrer"
        assert h["x-frame-options"] == "DENY"
    page = client.get(f"/pair/{w}/{p}").text
    assert "<script>" not in page and "style=" not in page and "<style" not in page  # nothing inline
    assert "http://" not in page and "https://" not in page  # nothing from a CDN


# -- the queue -----------------------------------------------------------------------------------
def expected_order(run_dir: Path, store: Store, reviewer: str) -> list[tuple[str, str]]:
    """The queue order computed independently (DuckDB over the run's files), without the pairs
    decided or held by another reviewer."""
    con = duckdb.connect()
    con.execute(f"ATTACH '{run_dir / 'workspace.duckdb'}' AS ws (READ_ONLY)")
    levels = [fold(x) for x in DANGER_ORDER]
    rows = con.sql(f"""
        SELECT m.wanted_id, m.person_id,
               coalesce(list_position({levels!r}, lower(trim(w.danger_level))), 4) AS d,
               coalesce(m.id_match, false) AS idm, m.match_probability AS p, m.match_weight AS mw
        FROM read_parquet('{run_dir / 'matches.parquet'}') m LEFT JOIN ws.wanted w USING (wanted_id)
        WHERE m.match_probability >= {THRESHOLD}
        ORDER BY d, idm DESC, p DESC, mw DESC""").fetchall()
    decided = {(j.wanted_id, j.person_id) for j in store.history()} | store.claimed_by_others(reviewer)
    return [(w, p) for w, p, *_ in rows if (w, p) not in decided]


def test_queue_order_and_counts(served, run_dir):
    app, store, config = served
    client = TestClient(app)
    client = login(app, "binh")
    html = client.get("/queue").text
    shown = queue_pairs(html)
    want = expected_order(run_dir, store, "binh")
    assert shown == want[: len(shown)] and len(shown) == min(50, len(want))
    dangers = [config.candidates.danger[config.candidates.position(w, p)] for w, p in shown]
    assert dangers == sorted(dangers)
    assert f"<b>{len(want)}</b>" in html  # the count left


def test_queue_filters(served):
    app, _, config = served
    cands = config.candidates
    client = login(app, "binh")
    for params, ok in [
        ("danger=0", lambda pos: cands.danger[pos] == 0),
        ("danger=2", lambda pos: cands.danger[pos] == 2),
        ("flag=id_match", lambda pos: cands.flag["id_match"][pos]),
        ("flag=name_changed", lambda pos: cands.flag["name_changed"][pos]),
        ("band=high", lambda pos: cands.prob[pos] >= 0.99),
        ("band=low", lambda pos: cands.prob[pos] < 0.9),
        (f"unit={cands.unit[0]}", lambda pos: cands.unit[pos] == cands.unit[0]),
    ]:
        shown = queue_pairs(client.get("/queue?" + params).text)
        positions = [cands.position(w, p) for w, p in shown]
        assert all(ok(pos) for pos in positions), params
        expected = int((cands.queue_mask("binh", cands_filters(params, cands))).sum())
        assert len(shown) == min(50, expected), params
    assert queue_pairs(client.get("/queue?danger=0").text) != queue_pairs(client.get("/queue?danger=2").text)


def cands_filters(params: str, cands):
    from starlette.datastructures import QueryParams

    from linkage.review.candidates import Filters

    return Filters.parse(QueryParams(params), cands.units)


# -- decisions -----------------------------------------------------------------------------------
def decide_next(client: TestClient, decision: str, params: str = "", note: str = "") -> tuple[str, str, object]:
    page = client.get("/next" + params)
    assert page.status_code == 200
    w, p = pair_of(page.url)
    r = client.post("/decide", data={"csrf": csrf_of(page.text), "wanted_id": w, "person_id": p,
                                     "decision": decision, "note": note}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return w, p, r


def test_decision_is_stored_with_danger_level_and_evidence(served):
    app, store, config = served
    cands = config.candidates
    client = login(app, "an")
    w, p, r = decide_next(client, "not_match", "?danger=1", note="khác cha mẹ")
    live = store.live(w, p)
    pos = cands.position(w, p)
    assert live.state == "not_match" and live.reviewer == "an" and live.note == "khác cha mẹ"
    assert live.match_weight == pytest.approx(cands.weight[pos])
    table = config.candidates.table.slice(pos, 1)
    assert live.evidence == evidence_fingerprint(table)[0].as_py()
    assert r.headers["location"].startswith("/next?")  # then the next queue item
    # a "match" on an especially dangerous wanted person waits for a second reviewer
    w2, p2, _ = decide_next(client, "match", "?danger=0")
    assert store.live(w2, p2).state == "pending_confirmation"
    # the decided pairs have left the queue
    assert (w, p) not in queue_pairs(client.get("/queue?danger=1").text)
    assert (w2, p2) not in queue_pairs(client.get("/queue?danger=0").text)


def test_two_person_rule_through_the_pages(served):
    app, store, _ = served
    a, b = login(app, "an"), login(app, "binh")
    w, p, _ = decide_next(a, "match", "?danger=0")
    assert store.live(w, p).state == "pending_confirmation"
    assert f"/pair/{w}/{p}?mode=confirm" not in a.get("/confirm").text  # not for the one who decided
    assert f"/pair/{w}/{p}?mode=confirm" in b.get("/confirm").text
    # the first reviewer cannot confirm their own match, even by a hand-made POST
    page = a.get(f"/pair/{w}/{p}?mode=confirm")
    assert 'id="decide"' not in page.text
    r = a.post("/confirm", data={"csrf": csrf_of(page.text), "wanted_id": w, "person_id": p})
    assert r.status_code == 409 and store.live(w, p).state == "pending_confirmation"
    page = b.get(f"/pair/{w}/{p}?mode=confirm")
    assert 'action="/confirm"' in page.text
    r = b.post("/confirm", data={"csrf": csrf_of(page.text), "wanted_id": w, "person_id": p}, follow_redirects=False)
    assert r.status_code == 303
    live = store.live(w, p)
    assert live.state == "match" and live.confirmed_by == "binh" and live.reviewer == "an"


def test_a_pair_claimed_by_a_is_not_offered_to_b(served):
    app, store, config = served
    a, b = login(app, "an"), login(app, "binh")
    first = a.get("/next?danger=2")
    held = pair_of(first.url)
    assert (held[0], held[1]) in store.claimed_by_others("binh")
    second = b.get("/next?danger=2")
    assert pair_of(second.url) != held
    assert held not in queue_pairs(b.get("/queue?danger=2").text)
    # B opening A's pair directly gets no decision form
    page = b.get(f"/pair/{held[0]}/{held[1]}")
    assert 'id="decide"' not in page.text and 'role="alert"' in page.text
    # once A decides, the lease is gone and the pair is decided
    r = a.post("/decide", data={"csrf": csrf_of(first.text), "wanted_id": held[0], "person_id": held[1],
                                "decision": "unsure"})
    assert r.status_code == 200
    assert store.live(*held).state == "unsure"


def test_undo_and_history(served):
    app, store, _ = served
    client = login(app, "binh")
    w, p, _ = decide_next(client, "not_match", "?danger=2")
    page = client.get("/queue")
    r = client.post("/undo", data={"csrf": csrf_of(page.text)}, follow_redirects=False)
    assert r.headers["location"] == f"/pair/{w}/{p}"
    assert store.live(w, p) is None
    hist = client.get(f"/history/pair/{w}/{p}").text
    assert hist.count("<tr") >= 3  # header, the decision, the undo
    mine = client.get("/history").text
    assert w in mine
    shown_ids = {int(x) for x in re.findall(r'<td class="n">(\d+)</td>', mine)}
    others_only = {j.id for j in store.history() if "binh" not in (j.reviewer, j.actor)}
    assert others_only and not shown_ids & others_only  # a reviewer sees their own only


def test_supervisor_sees_everyone_and_reopens(served):
    app, store, _ = served
    a, sup = login(app, "an"), login(app, "chi")
    w, p, _ = decide_next(a, "not_match", "?danger=2")
    everyone = sup.get("/history").text
    assert w in everyone
    page = sup.get(f"/history/pair/{w}/{p}")
    assert 'action="/reopen"' in page.text
    assert 'action="/reopen"' not in a.get(f"/history/pair/{w}/{p}").text
    r = a.post("/reopen", data={"csrf": csrf_of(page.text), "wanted_id": w, "person_id": p, "note": "x"})
    assert r.status_code == 403  # the reviewer's session with the supervisor's token; and not a supervisor
    r = sup.post("/reopen", data={"csrf": csrf_of(page.text), "wanted_id": w, "person_id": p,
                                  "note": "xem lại cha mẹ"}, follow_redirects=False)
    assert r.status_code == 303 and store.live(w, p) is None


# -- settings ------------------------------------------------------------------------------------
def test_blind_mode_hides_the_score(served):
    app, store, config = served
    client = login(app, "chi")
    page = client.get("/next?danger=1")
    assert 'id="score"' in page.text and "<svg" in page.text
    r = client.post("/settings", data={"csrf": csrf_of(page.text), "lang": "vi", "blind": "1"})
    assert r.status_code == 200 and store.settings("chi")["blind"] is True
    w, p = pair_of(page.url)
    pos = config.candidates.position(w, p)
    blind = client.get(f"/pair/{w}/{p}").text
    assert 'id="score"' not in blind and "<svg" not in blind and 'id="blind-note"' in blind
    assert config.candidates.row(pos).explanation not in blind
    assert 'class="n score"' not in client.get("/queue").text
    client.post("/settings", data={"csrf": csrf_of(blind), "lang": "vi"})
    assert store.settings("chi")["blind"] is False


def test_language_switch(served):
    app, store, config = served
    client = login(app, "binh")
    page = client.get("/queue")
    assert "Hàng chờ xem xét" in page.text and 'lang="vi"' in page.text
    client.post("/settings", data={"csrf": csrf_of(page.text), "lang": "en"})
    page = client.get("/queue")
    assert "Review queue" in page.text and 'lang="en"' in page.text
    w, p = config.candidates.wanted[0], config.candidates.person[0]
    assert "Field by field" in client.get(f"/pair/{w}/{p}").text
    client.post("/settings", data={"csrf": csrf_of(page.text), "lang": "vi"})
    assert "Đối chiếu từng trường" in client.get(f"/pair/{w}/{p}").text


def test_pair_page_shows_both_records_and_normalised_forms(served):
    app, _, config = served
    cands, records = config.candidates, config.records
    client = login(app, "binh")
    pos = next(i for i in range(cands.n) if cands.flag["name_changed"][i]) if cands.flag["name_changed"].any() else 0
    w, p = cands.wanted[pos], cands.person[pos]
    html = client.get(f"/pair/{w}/{p}").text
    wanted = records.wanted_record(w)
    cand = records.candidate(p)
    assert wanted["full_name"].split()[-1] in html and cand["full_name"].split()[-1] in html
    assert 'class="c-' in html
    if cands.flag["name_changed"][pos]:
        assert "đổi tên:" in html and 'class="diff"' in html
    assert 'class="norm"' not in html
    normed = client.get(f"/pair/{w}/{p}?norm=1").text
    assert 'class="norm"' in normed
    for card in records.cards(p):
        assert card["card_number"] in html


def test_pages_are_fast(served):
    app, _, config = served
    client = login(app, "binh")
    w, p = config.candidates.wanted[3], config.candidates.person[3]
    timings = []
    for path in ["/queue", f"/pair/{w}/{p}"] * 10:
        r = client.get(path)
        timings.append(float(r.headers["server-timing"].split("dur=")[1]))
    assert sorted(timings)[int(len(timings) * 0.95) - 1] < 100


def test_zz_logs_carry_no_name_or_birth_date(served, logs, run_dir):
    """Runs last in this file: every log line of the tests above, against every name and full
    birth date of the wanted persons and the candidates' records."""
    _, _, config = served
    records = config.records
    secrets: set[str] = set()
    for table in (records.wanted, records.residents, records.id_cards):
        for col in ("full_name", "birth_date", "father_name", "mother_name", "permanent_address"):
            if col in table.column_names:
                secrets |= {v for v in pc.drop_null(table[col]).to_pylist() if len(v) >= 6}
    assert logs.lines, "no log line was captured"
    assert any("decide wanted_id=" in line for line in logs.lines)
    for line in logs.lines:
        for s in secrets:
            assert s not in line, (s, line)
