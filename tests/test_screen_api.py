"""`linkage screen serve`'s app through Starlette's TestClient, on a real workspace built by the
nightly job from part of the committed sample: keys, 4xx for bad and oversize requests, the audit
log (and no personal data in the server's log), alerts on "đặc biệt nguy hiểm" wanted persons,
and a reload after a night without a dropped request."""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from starlette.testclient import TestClient

from linkage.model import default_model, save_model
from linkage.rules import DEFAULT_RULES_DIR, rules_hash
from linkage.screen.api import create_app
from linkage.screen.keys import add_key
from linkage.settings import load_settings
from linkage.workspace.delta import SourceInput
from linkage.workspace.nightly import nightly

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data_samples" / "sample"
D1, D2 = "2026-03-01", "2026-03-02"


def read(name: str) -> pd.DataFrame:
    return pd.read_csv(SAMPLE / f"{name}.csv", dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict:
    """80 wanted records (60 on the first night, 20 more the next), the residents linked to them
    plus 300 others, their cards; the server's rules check for a new night at every request."""
    d = tmp_path_factory.mktemp("screen_api")
    rules = d / "rules"
    shutil.copytree(DEFAULT_RULES_DIR, rules, ignore=shutil.ignore_patterns("model.json", "examples"))
    cfg = yaml.safe_load((rules / "screen.yaml").read_text(encoding="utf-8"))
    cfg.update(reload_check_seconds=0, max_records=20, max_body_bytes=65536)
    (rules / "screen.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    model = d / "model.json"
    save_model(default_model(load_settings(rules), rules_hash(rules)), model)
    truth, wanted, res, cards = read("truth"), read("wanted").head(80), read("residents"), read("id_cards")
    linked = set(truth[truth.wanted_id.isin(wanted.wanted_id)].person_id.dropna())
    res = pd.concat([res[res.person_id.isin(linked)], res.head(300)]).drop_duplicates("person_id")
    frames = {"wanted": wanted.head(60), "residents": res, "id_cards": cards[cards.card_number.isin(res.person_id)]}
    files = {}
    for s, f in frames.items():
        files[s] = d / f"{s}.csv"
        f.to_csv(files[s], index=False)
    ws = d / "ws"
    nightly(ws, d / "out", {s: SourceInput(p) for s, p in files.items()}, night=D1, model_path=model, rules=rules)
    later = d / "wanted_delta.csv"
    wanted.iloc[60:].to_csv(later, index=False)
    key = add_key(ws, "desk-1")
    return {"dir": d, "rules": rules, "ws": ws, "res": res, "wanted": wanted, "truth": truth, "key": key,
            "later": later}


@pytest.fixture(scope="module")
def client(world):
    return TestClient(create_app(world["ws"], world["rules"]))


def auth(world) -> dict:
    return {"Authorization": f"Bearer {world['key']}"}


def person(world, person_id: str) -> dict:
    row = world["res"][world["res"].person_id == person_id].iloc[0].to_dict()
    return {k: v for k, v in row.items() if v != ""}


def linked_to(world, level: str, first: int = 0, last: int = 60) -> tuple[str, str]:
    """A (wanted_id, person_id) of the truth whose wanted record has this danger level."""
    w = world["wanted"].iloc[first:last]
    t = world["truth"].merge(w[["wanted_id", "danger_level"]], on="wanted_id")
    t = t[(t.danger_level == level) & t.person_id.isin(world["res"].person_id)]
    return t.wanted_id.iloc[0], t.person_id.iloc[0]


def audit_lines(world) -> list[dict]:
    path = world["ws"] / "screen" / "audit.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def test_healthz_needs_no_key_and_shows_no_person(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["night"] == D1 and body["wanted"] == 60


def test_screen_refuses_a_call_without_a_valid_key(world, client):
    rec = person(world, world["res"].person_id.iloc[0])
    assert client.post("/screen", json=rec).status_code == 401
    assert client.post("/screen", json=rec, headers={"X-API-Key": "lk_not-a-key"}).status_code == 401
    assert client.post("/screen", json=rec, headers={"X-API-Key": world["key"]}).status_code == 200
    other = add_key(world["ws"], "lodging-7")  # a key added while the server runs works at once
    assert client.post("/screen", json=rec, headers={"Authorization": f"Bearer {other}"}).status_code == 200
    assert audit_lines(world)[-1]["client"] == "lodging-7"


@pytest.mark.parametrize("body, status, field", [
    ({"person_id": "123", "full_name": "An"}, 422, "person_id"),
    ({"person_id": "072205055449"}, 422, "full_name"),
    ([{"person_id": "072205055449", "full_name": "An"}, {"person_id": "072205055449", "full_name": "An", "nick": "x"}],
     422, "nick"),
    ({"card_number": "072205055449", "full_name": 5.5, "birth_date": {"d": 1}}, 422, "birth_date"),
    ([], 422, None),
])
def test_a_bad_record_is_a_422_naming_the_record_and_field(world, client, body, status, field):
    r = client.post("/screen", json=body, headers=auth(world))
    assert r.status_code == status
    got = r.json()
    if field:
        assert got["field"] == field and f"'{field}'" in got["error"]
        assert got["record"] == (1 if field == "nick" else 0)


def test_oversize_and_malformed_requests_are_refused(world, client):
    rec = {"person_id": "072205055449", "full_name": "An"}
    r = client.post("/screen", json=[rec] * 21, headers=auth(world))
    assert r.status_code == 413 and "at most 20" in r.json()["error"]
    big = dict(rec, other_names="x" * 70_000)
    assert client.post("/screen", json=big, headers=auth(world)).status_code == 413
    r = client.post("/screen", content=b"{not json", headers=auth(world))
    assert r.status_code == 400


def test_hits_are_returned_audited_and_alerted_and_the_log_names_nobody(world, client, caplog):
    dangerous = linked_to(world, "đặc biệt nguy hiểm")
    ordinary = linked_to(world, "thường")
    before = len(audit_lines(world))
    with caplog.at_level(logging.INFO, logger="linkage.screen"):
        r = client.post("/screen", json=[person(world, dangerous[1]), person(world, ordinary[1])], headers=auth(world))
    assert r.status_code == 200
    results = r.json()["results"]
    assert [x["person_id"] for x in results] == [dangerous[1], ordinary[1]]
    hit = {c["wanted_id"]: c for c in results[0]["candidates"]}[dangerous[0]]
    assert hit["match_probability"] >= r.json()["threshold"] and hit["alert"] is True
    assert hit["danger_level"] == "đặc biệt nguy hiểm" and results[0]["alert"] is True
    assert {"explanation", "mw_full_name", "name_changed", "rank"} <= set(hit)
    plain = {c["wanted_id"]: c for c in results[1]["candidates"]}[ordinary[0]]
    assert plain["alert"] is False
    entries = audit_lines(world)
    assert len(entries) == before + 1
    e = entries[-1]
    assert e["client"] == "desk-1" and e["night"] == D1 and e["request_id"] == r.json()["request_id"]
    assert [x["person_id"] for x in e["records"]] == [dangerous[1], ordinary[1]]
    audited = {h["wanted_id"]: h for h in e["records"][0]["hits"]}[dangerous[0]]
    assert audited["alert"] is True and audited["match_probability"] == hit["match_probability"]
    assert e["records"][0]["alert"] is True
    logged = " ".join(rec.getMessage() for rec in caplog.records)
    assert "records=2" in logged
    for secret in (dangerous[0], dangerous[1], ordinary[1], person(world, dangerous[1])["full_name"]):
        assert secret not in logged


def test_the_server_reloads_after_a_night_without_dropping_a_request(world, client):
    """Requests run without pause while a night adds 20 wanted records; every one is answered, the
    server swaps to the new night's index, and a person linked to a new wanted record is found."""
    wanted_id, person_id = linked_to(world, "thường", 60, 80)
    rec = person(world, person_id)
    assert wanted_id not in [c["wanted_id"] for c in client.post("/screen", json=rec, headers=auth(world)).json()["results"][0]["candidates"]]
    statuses, nights, stop = [], [], threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            r = client.post("/screen", json=rec, headers=auth(world))
            statuses.append(r.status_code)
            nights.append(r.json().get("night"))

    t = threading.Thread(target=hammer)
    t.start()
    try:
        time.sleep(0.3)
        nightly(world["ws"], world["dir"] / "out", {"wanted": SourceInput(None, world["later"])}, night=D2,
                rules=world["rules"])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not nights or nights[-1] != D2):
            time.sleep(0.1)
    finally:
        stop.set()
        t.join()
    assert statuses and set(statuses) == {200}
    assert nights[0] == D1 and nights[-1] == D2  # answered throughout, by the old index then the new
    r = client.post("/screen", json=rec, headers=auth(world)).json()
    assert wanted_id in [c["wanted_id"] for c in r["results"][0]["candidates"]]
    h = client.get("/healthz").json()
    assert h["night"] == D2 and h["wanted"] == 80 and h["reloads"] >= 1


def test_concurrent_requests_are_screened_together_with_the_answers_of_separate_calls(world):
    """Requests waiting while a call runs go into the next call (micro-batching); each gets the
    answer a call of its own gives."""
    app = create_app(world["ws"], world["rules"])
    people = [person(world, p) for p in world["res"].person_id.iloc[:12]] + [
        person(world, linked_to(world, "nguy hiểm")[1])]
    with TestClient(app) as c:
        alone = [c.post("/screen", json=p, headers=auth(world)).json()["results"] for p in people]
        calls = app.state.batcher.calls
        answers: dict[int, list] = {}

        def ask(i: int) -> None:
            answers[i] = c.post("/screen", json=people[i], headers=auth(world)).json()["results"]

        threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(people))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert [answers[i] for i in range(len(people))] == alone
        assert app.state.batcher.calls - calls < len(people)  # some requests shared a call
    assert any(r[0]["candidates"] for r in alone)
