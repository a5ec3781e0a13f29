"""Eight reviewers deciding 2,000 pairs at once through HTTP, on a real uvicorn server on
127.0.0.1, over a judgement store on SQLite and on PostgreSQL.

Each reviewer is a thread with its own httpx client (its own cookie jar), logged in through the
login form, reading its CSRF token from the pages, and working the queue the way the pages do:
`/next` (opens and claims the next pair), POST `/decide`, follow to the next pair; until the
queue is empty, within a bounded number of steps and a deadline. Afterwards:

- no decision lost: every POST answered with a success is a `decide` row of that reviewer;
- no pair decided twice: one decide row per pair, one live row per pair;
- every claim honoured: two reviewers never held the form of the same pair at the same time,
  and no pair was decided by anyone but the reviewer holding it;
- all 2,000 pairs decided, and nothing else (the candidates below the threshold stay undecided).

The data are synthetic (ids and a few made-up names), built here: `synthetic_config` is also
used by bench/bench_review.py for its 1M candidates.
"""

from __future__ import annotations

import hashlib
import re
import socket
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from linkage.review.app import AppConfig, create_app
from linkage.review.candidates import Candidates, comparisons_of, queue_order
from linkage.review.records import Records
from linkage.review.store import Store

N_PAIRS = 2000
REVIEWERS = [f"rv{i}" for i in range(8)]
PASSWORD = "mat-khau-thu-nghiem-01"
THRESHOLD = 0.5
DEADLINE_S = 120  # the whole run; each reviewer stops by itself after it
MAX_STEPS = 4 * N_PAIRS  # per reviewer: pages opened, decisions and empty-queue looks together

FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ", "Đặng", "Bùi"]
MIDDLE = ["Văn", "Thị", "Minh", "Đức", "Ngọc", "Hữu"]
GIVEN = ["An", "Bình", "Chi", "Dũng", "Hà", "Hùng", "Lan", "Mai", "Nam", "Quân", "Sơn", "Tâm"]
DANGER = ["đặc biệt nguy hiểm", "nguy hiểm", "thường", None]
COMPARISONS = ["full_name", "birth_date", "gender", "hometown", "address", "father", "mother", "id_number"]


# -- synthetic data ------------------------------------------------------------------------------
def synthetic_tables(n_above: int, per_wanted: int = 2, n_below: int = 0, seed: int = 7) -> dict[str, pa.Table]:
    """A matches table (queue order) of `n_above` candidates at or above THRESHOLD and `n_below`
    under it, `per_wanted` per wanted person, with the wanted, residents and id_cards records
    they refer to. Made-up ids and names only."""
    rng = np.random.default_rng(seed)
    n = n_above + n_below
    n_wanted = -(-n // per_wanted)
    wanted_ix = np.arange(n) // per_wanted
    wanted_ids = np.char.add("W-", np.char.zfill(np.arange(n_wanted).astype(str), 7))
    person_ids = np.char.add("09", np.char.zfill(np.arange(n).astype(str), 10))
    mw = {c: np.round(rng.normal(2.0, 3.0, n), 4) for c in COMPARISONS}
    weight = sum(mw.values())
    prob = np.empty(n)
    prob[:n_above] = rng.uniform(THRESHOLD, 1.0, n_above)
    prob[n_above:] = rng.uniform(0.0, THRESHOLD * 0.98, n_below)
    order = rng.permutation(n)  # the candidates below the threshold spread among the others
    prob = prob[order]
    flags = {f: rng.random(n) < share for f, share in
             (("id_match", 0.3), ("name_changed", 0.1), ("residence_changed", 0.2), ("birth_date_changed", 0.05))}

    def names(k: int, salt: int) -> np.ndarray:
        r = np.random.default_rng(seed + salt)
        return np.char.add(np.char.add(np.char.add(np.array(FAMILY)[r.integers(0, len(FAMILY), k)], " "),
                                       np.char.add(np.array(MIDDLE)[r.integers(0, len(MIDDLE), k)], " ")),
                           np.array(GIVEN)[r.integers(0, len(GIVEN), k)])

    def dates(k: int, salt: int) -> np.ndarray:
        r = np.random.default_rng(seed + salt)
        return np.char.add(np.char.add(np.char.zfill(r.integers(1, 29, k).astype(str), 2), "/"),
                           np.char.add(np.char.add(np.char.zfill(r.integers(1, 13, k).astype(str), 2), "/"),
                                       r.integers(1950, 2006, k).astype(str)))

    matches = pa.table({
        "run_id": pa.array(["synthetic"] * n),
        "wanted_id": pa.array(wanted_ids[wanted_ix]),
        "person_id": pa.array(person_ids),
        "rank": pa.array((np.arange(n) % per_wanted + 1).astype(np.int32)),
        "sources": pa.array(["residents+id_cards"] * n),
        "match_weight": pa.array(weight),
        "match_probability": pa.array(prob),
        **{"mw_" + c: pa.array(v) for c, v in mw.items()},
        **{f: pa.array(v) for f, v in flags.items()},
        "explanation": pa.array(["same full name, same birth date"] * n),
    })
    units = np.array([f"Công an tỉnh {k}" for k in range(12)])
    wanted = pa.table({
        "wanted_id": pa.array(wanted_ids),
        "full_name": pa.array(names(n_wanted, 1)),
        "gender": pa.array(np.where(np.arange(n_wanted) % 2 == 0, "Nam", "Nữ")),
        "birth_date": pa.array(dates(n_wanted, 2)),
        "hometown": pa.array(["Xã Thử Nghiệm, Tỉnh Mẫu"] * n_wanted),
        "id_number": pa.array(person_ids[np.minimum(np.arange(n_wanted) * per_wanted, n - 1)]),
        "decision_number": pa.array(np.char.add(np.arange(n_wanted).astype(str), "/QĐ")),
        "issuing_unit": pa.array(units[np.arange(n_wanted) % len(units)]),
        "offence": pa.array(["Trộm cắp tài sản"] * n_wanted),
        "danger_level": pa.array([DANGER[k % len(DANGER)] for k in range(n_wanted)], pa.string()),
    })
    residents = pa.table({
        "person_id": pa.array(person_ids),
        "full_name": pa.array(names(n, 3)),
        "gender": pa.array(np.where(np.arange(n) % 2 == 0, "Nam", "Nữ")),
        "birth_date": pa.array(dates(n, 4)),
        "hometown": pa.array(["Xã Thử Nghiệm, Tỉnh Mẫu"] * n),
        "permanent_address": pa.array(["Số 1 đường Mẫu, Phường Thử, Tỉnh Mẫu"] * n),
    })
    cards = pa.table({
        "card_number": pa.array(person_ids[::2]),
        "full_name": residents["full_name"].take(pa.array(np.arange(0, n, 2))),
        "birth_date": residents["birth_date"].take(pa.array(np.arange(0, n, 2))),
        "issue_date": pa.array(["2021-06-01"] * len(person_ids[::2])),
    })
    side = pa.table({"wanted_id": wanted["wanted_id"], "danger_level": wanted["danger_level"],
                     "issuing_unit": wanted["issuing_unit"]})
    matches = matches.append_column("__row", pa.array(np.arange(n)))
    matches = matches.join(side, keys="wanted_id", join_type="left outer").sort_by("__row").drop_columns(["__row"])
    return {"matches": queue_order(matches), "wanted": wanted, "residents": residents, "id_cards": cards}


def synthetic_config(store: Store, tables: dict[str, pa.Table], threshold: float = THRESHOLD) -> AppConfig:
    """What `load_config` builds from a run, built from the synthetic tables."""
    records = Records(tables["wanted"], tables["residents"], tables["id_cards"])
    m = tables["matches"]
    return AppConfig(store, Candidates(m, threshold, store, comparisons_of(m)), records)


# -- the server ----------------------------------------------------------------------------------
def write_tables(tables: dict[str, pa.Table], folder: Path) -> Path:
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    for name, t in tables.items():
        pq.write_table(t, folder / f"{name}.parquet")
    return folder


def read_tables(folder: Path) -> dict[str, pa.Table]:
    import pyarrow.parquet as pq

    return {name: pq.read_table(folder / f"{name}.parquet") for name in ("matches", "wanted", "residents", "id_cards")}


def serve(store_url: str, data: Path) -> None:
    """The server process: the workbench over the synthetic tables, uvicorn on 127.0.0.1 and a
    free port (printed on stdout); it stops on SIGTERM (or when its parent's pipe closes)."""
    import uvicorn

    store = Store.open(store_url)
    app = create_app(synthetic_config(store, read_tables(data)))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=sock.getsockname()[1], access_log=False,
                                           log_config=None, lifespan="off", timeout_keep_alive=30))

    def watch_parent() -> None:  # the test process died: stop too
        sys.stdin.read()
        server.should_exit = True

    threading.Thread(target=watch_parent, daemon=True).start()
    sock.listen(128)  # connections queue from now on: the test may connect before uvicorn's loop runs
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    server.run(sockets=[sock])
    store.close()


class ServerProcess:
    """The workbench in a process of its own (its own interpreter lock: the 8 client threads
    of the test do not slow it), on 127.0.0.1 only; stopped and waited for at the end."""

    def __init__(self, store_url: str, data: Path) -> None:
        self.args = [sys.executable, str(Path(__file__).resolve()), "serve", store_url, str(data)]
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> str:
        self.proc = subprocess.Popen(self.args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     cwd=str(Path(__file__).resolve().parent.parent))
        ready: list[str] = []
        reader = threading.Thread(target=lambda: ready.append(self.proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(60)
        line = ready[0] if ready else ""
        if not line.startswith("PORT "):
            self.__exit__()
            raise RuntimeError(f"the review server did not start: {line!r}")
        return f"http://127.0.0.1:{int(line.split()[1])}"

    def __exit__(self, *exc: object) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        for f in (self.proc.stdin, self.proc.stdout):
            if f:
                f.close()


# -- one reviewer --------------------------------------------------------------------------------
def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, "no CSRF token in the page"
    return m.group(1)


def pair_of(url: str) -> tuple[str, str] | None:
    m = re.search(r"/pair/([^/?]+)/([^/?]+)", url)
    return (m.group(1), m.group(2)) if m else None


def decision_for(w: str, p: str) -> str:
    return ("match", "not_match", "unsure")[hashlib.sha256(f"{w}/{p}".encode()).digest()[0] % 3]


@dataclass
class Held:
    """A pair page shown to `user` with the decision form (the claim was theirs), and what
    became of the decision POST."""

    user: str
    pair: tuple[str, str]
    shown: datetime  # the page with the form was received (the lease was taken before)
    posted: datetime | None = None  # the decision POST was sent (the lease is released after)
    status: int | None = None


@dataclass
class Worker:
    user: str
    base: str
    stop_at: float
    held: list[Held]
    errors: list[str]
    start: int = 0  # where in the queue this reviewer starts (reviewers spread, as with filters)
    steps: int = 0
    skipped: int = 0  # pages opened without a form (another reviewer's, or decided meanwhile)

    def run(self) -> None:
        import httpx

        try:
            with httpx.Client(base_url=self.base, timeout=30.0, follow_redirects=False) as client:
                self._login(client)
                self._work(client)
        except Exception as exc:  # reported by the test, never swallowed
            self.errors.append(f"{self.user}: {type(exc).__name__}: {exc}")

    def _login(self, client) -> None:  # type: ignore[no-untyped-def]
        page = client.get("/login")
        r = client.post("/login", data={"csrf": csrf_of(page.text), "username": self.user, "password": PASSWORD})
        assert r.status_code == 303 and r.headers["location"] == "/queue", (r.status_code, r.text[:200])

    def _work(self, client) -> None:  # type: ignore[no-untyped-def]
        url = f"/next?at={self.start}"
        while self.steps < MAX_STEPS and time.monotonic() < self.stop_at:
            self.steps += 1
            r = client.get(url, follow_redirects=True)
            if r.status_code != 200:
                self.errors.append(f"{self.user}: GET {url} -> {r.status_code}")
                url = "/next"
                continue
            pair = pair_of(str(r.url))
            if pair is None:  # the queue has nothing this reviewer may open
                left = int(re.search(r"<b>(\d+)</b>", r.text).group(1))
                if left == 0:
                    return
                time.sleep(0.02)  # pairs still held by others: look again shortly (bounded by MAX_STEPS)
                url = "/next"
                continue
            if 'id="decide"' not in r.text:  # taken by another reviewer meanwhile: the page's "next" link
                self.skipped += 1
                m = re.search(r'id="next" rel="next" href="([^"]*)"', r.text)
                url = m.group(1).replace("&amp;", "&") if m else "/next"
                continue
            h = Held(self.user, pair, datetime.now(timezone.utc))
            self.held.append(h)
            data = {"csrf": csrf_of(r.text), "wanted_id": pair[0], "person_id": pair[1],
                    "decision": decision_for(*pair), "note": ""}
            h.posted = datetime.now(timezone.utc)
            d = client.post("/decide", data=data)
            h.status = d.status_code
            if d.status_code == 303:
                url = d.headers["location"]
            else:
                self.errors.append(f"{self.user}: POST /decide {pair} -> {d.status_code} {d.text[:120]}")
                url = "/next"


# -- the test ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tables() -> dict[str, pa.Table]:
    return synthetic_tables(N_PAIRS, per_wanted=2, n_below=200)


@pytest.fixture
def store(store_url):  # type: ignore[no-untyped-def]
    st = Store.open(store_url)
    for name in REVIEWERS:
        st.add_user(name, PASSWORD)
    yield st
    st.close()


def test_eight_reviewers_decide_2000_pairs_at_once(store, store_url, tables, tmp_path):
    config = synthetic_config(store, tables)  # the same candidates as the server's, for the checks
    above = {(w, p) for w, p, a in zip(config.candidates.wanted, config.candidates.person, config.candidates.above)
             if a}
    assert len(above) == N_PAIRS
    held: list[Held] = []
    errors: list[str] = []
    with ServerProcess(store_url, write_tables(tables, tmp_path / "data")) as base:
        t0 = time.monotonic()
        workers = [Worker(u, base, time.monotonic() + DEADLINE_S, held, errors, start=i * N_PAIRS // len(REVIEWERS))
                   for i, u in enumerate(REVIEWERS)]
        threads = [threading.Thread(target=w.run, name=w.user, daemon=True) for w in workers]
        for t in threads:
            t.start()
        for t in threads:
            t.join(DEADLINE_S + 30)
        assert not any(t.is_alive() for t in threads), "a reviewer did not stop"
    elapsed = time.monotonic() - t0
    assert not errors, errors[:10]

    history = store.history()
    decides = [j for j in history if j.action == "decide"]
    ok = [h for h in held if h.status == 303]
    # no decision lost: every success is a decide row of that reviewer, and there is no other
    by_pair = defaultdict(list)
    for j in decides:
        by_pair[(j.wanted_id, j.person_id)].append(j)
    assert len(ok) == len(decides)
    for h in ok:
        rows = by_pair[h.pair]
        assert len(rows) == 1 and rows[0].reviewer == h.user and rows[0].decision == decision_for(*h.pair), h
    # no pair decided twice, and one live row each
    assert all(len(rows) == 1 for rows in by_pair.values())
    live = store.live_table()
    pairs_live = Counter(zip(live["wanted_id"].to_pylist(), live["person_id"].to_pylist()))
    assert max(pairs_live.values()) == 1
    # every claim honoured: the forms of one pair were never shown to two reviewers at once, and
    # the decision was made by its holder while holding it
    shown = defaultdict(list)
    for h in held:
        shown[h.pair].append(h)
    for pair, hs in shown.items():
        hs.sort(key=lambda h: h.shown)
        for a, b in zip(hs, hs[1:]):
            assert a.posted is not None and a.posted <= b.shown, (pair, a, b)
        row = by_pair[pair][0]
        holder = next(h for h in hs if h.user == row.reviewer and h.status == 303)
        assert holder.shown <= row.decided_at <= datetime.now(timezone.utc), (pair, holder, row)
    # all 2,000 pairs decided, and only they; no lease left behind
    assert set(pairs_live) == above and set(by_pair) == above
    assert store.claimed_by_others("nobody") == set()
    per_user = Counter(h.user for h in ok)
    assert len(per_user) == len(REVIEWERS)  # everyone worked at the same time
    print(f"\n{store.dialect}: {len(ok)} decisions by {len(per_user)} reviewers in {elapsed:.1f} s "
          f"({len(ok) / elapsed:.0f}/s); pages without a form {sum(w.skipped for w in workers)}; "
          f"per reviewer {sorted(per_user.values())}")


def test_a_decision_without_the_claim_is_refused(store, store_url, tables, tmp_path):
    """A hand-made POST for a pair another reviewer holds, and a stale one for a pair decided
    meanwhile, are refused; nothing is written."""
    import httpx

    with ServerProcess(store_url, write_tables(tables, tmp_path / "data")) as base:
        clients = []
        for name in REVIEWERS[:2]:
            c = httpx.Client(base_url=base, timeout=30.0)
            Worker(name, base, 0, [], [])._login(c)
            clients.append(c)
        a, b = clients
        page_a = a.get("/next", follow_redirects=True)
        w, p = pair_of(str(page_a.url))
        assert 'id="decide"' in page_a.text
        token_b = csrf_of(b.get("/queue").text)
        r = b.post("/decide", data={"csrf": token_b, "wanted_id": w, "person_id": p, "decision": "not_match"})
        assert r.status_code == 409 and store.live(w, p) is None
        # A's lease ends (as if expired); B takes the pair and decides it; A's late POST is refused
        store.release(w, p, REVIEWERS[0])
        page_b = b.get(f"/pair/{w}/{p}")
        assert 'id="decide"' in page_b.text
        r = b.post("/decide", data={"csrf": token_b, "wanted_id": w, "person_id": p, "decision": "unsure"})
        assert r.status_code == 303
        r = a.post("/decide", data={"csrf": csrf_of(page_a.text), "wanted_id": w, "person_id": p,
                                    "decision": "match"})
        assert r.status_code == 409
        rows = store.history(wanted_id=w, person_id=p)
        assert [(j.action, j.reviewer, j.state) for j in rows] == [("decide", REVIEWERS[1], "unsure")]
        assert (w, p) not in store.claimed_by_others("nobody")
        for c in clients:
            c.close()


if __name__ == "__main__":  # the server process of the tests above
    if len(sys.argv) == 4 and sys.argv[1] == "serve":
        serve(sys.argv[2], Path(sys.argv[3]))
    else:
        sys.exit("usage: test_review_concurrency.py serve STORE_URL DATA_FOLDER")
