"""Nightly operations on a real workspace (DuckDB file) and real Parquet: incremental equals full
(property-based, against `linkage.pipeline.run` on the final snapshots with the same model),
snapshot and delta inputs, removal, the lock, kill -9 at every stage then a rerun, idempotence,
alerts and decisions. Small synthetic nights cut from the committed sample."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from linkage.model import default_model, save_model
from linkage.pipeline import run
from linkage.rules import DEFAULT_RULES_DIR, rules_hash
from linkage.settings import load_settings
from linkage.workspace.delta import SourceInput
from linkage.workspace.nightly import KILL_ENV, nightly
from linkage.workspace.store import LOCK, LockedError

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data_samples" / "sample"
KEYS = {"wanted": "wanted_id", "residents": "person_id", "id_cards": "card_number"}
D1, D2, D3 = "2026-03-01", "2026-03-02", "2026-03-03"


def _csv(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict:
    """A small population: the base snapshot (night 1) and a pool of records to add later; a copy
    of the rules (so edits elsewhere in the tree do not move under the test) and a model."""
    d = tmp_path_factory.mktemp("world")
    rules = d / "rules"
    shutil.copytree(DEFAULT_RULES_DIR, rules, ignore=shutil.ignore_patterns("model.json", "examples"))
    truth = pd.read_csv(SAMPLE / "truth.csv", dtype=str)
    wanted = pd.read_csv(SAMPLE / "wanted.csv", dtype=str, keep_default_na=False).head(80)
    residents = pd.read_csv(SAMPLE / "residents.csv", dtype=str, keep_default_na=False)
    cards = pd.read_csv(SAMPLE / "id_cards.csv", dtype=str, keep_default_na=False)
    linked = set(truth[truth.wanted_id.isin(wanted.wanted_id)].person_id.dropna())
    res = pd.concat([residents[residents.person_id.isin(linked)], residents.head(250)]).drop_duplicates("person_id")
    res = res.reset_index(drop=True)
    cards = cards[cards.card_number.isin(res.person_id)].reset_index(drop=True)
    base = {"wanted": wanted.iloc[:60].reset_index(drop=True), "residents": res.iloc[: len(res) - 40].reset_index(drop=True)}
    base["id_cards"] = cards[cards.card_number.isin(base["residents"].person_id)].reset_index(drop=True)
    pool = {"wanted": wanted.iloc[60:].reset_index(drop=True), "residents": res.iloc[len(res) - 40:].reset_index(drop=True)}
    pool["id_cards"] = cards[~cards.card_number.isin(base["residents"].person_id)].reset_index(drop=True)
    model = d / "model.json"
    save_model(default_model(load_settings(rules), rules_hash(rules)), model)
    files = {s: _csv(f, d / f"{s}_1.csv") for s, f in base.items()}
    ws, out = d / "ws", d / "out"
    nightly(ws, out, {s: SourceInput(p) for s, p in files.items()}, night=D1, model_path=model, rules=rules)
    return {"dir": d, "rules": rules, "model": model, "base": base, "pool": pool, "ws": ws, "out": out}


def fresh_workspace(world: dict, tmp: Path) -> tuple[Path, Path]:
    """A copy of the night-1 workspace and outputs (the first night is built once per module)."""
    ws, out = tmp / "ws", tmp / "out"
    shutil.copytree(world["ws"], ws)
    shutil.copytree(world["out"], out, symlinks=True)
    return ws, out


def night_inputs(tmp: Path, tag: str, before: dict, after: dict, delta: bool) -> dict[str, SourceInput]:
    """Files for a night: the snapshots, or the delta (added or changed rows) and removed ids."""
    out = {}
    for s, frame in after.items():
        if not delta:
            out[s] = SourceInput(_csv(frame, tmp / f"{s}_{tag}.csv"))
            continue
        key = KEYS[s]
        old = before[s].set_index(key)
        new = frame.set_index(key)
        common = new.index.intersection(old.index)
        changed = common[(new.loc[common].fillna("") != old.loc[common, new.columns].fillna("")).any(axis=1).to_numpy()]
        added = new.index.difference(old.index)
        rows = frame[frame[key].isin(changed.union(added))]
        gone = pd.DataFrame({key: old.index.difference(new.index)})
        out[s] = SourceInput(None, _csv(rows, tmp / f"{s}_{tag}_delta.csv"), _csv(gone, tmp / f"{s}_{tag}_removed.csv"))
    return out


def full_run(world: dict, tmp: Path, final: dict) -> pd.DataFrame:
    paths = {s: _csv(f, tmp / f"{s}_final.csv") for s, f in final.items()}
    result = run(paths["wanted"], paths["residents"], paths["id_cards"], tmp / "full", rules=world["rules"],
                 model_path=world["model"])
    return pd.read_parquet(result.matches), result.counts


def assert_same_candidates(night: pd.DataFrame, full: pd.DataFrame) -> None:
    key = ["wanted_id", "person_id"]
    a = night.drop(columns=["run_id"]).sort_values(key).reset_index(drop=True)
    b = full.drop(columns=["run_id"]).sort_values(key).reset_index(drop=True)
    assert list(a[key].itertuples(index=False)) == list(b[key].itertuples(index=False))
    np.testing.assert_allclose(a.match_probability, b.match_probability, rtol=0, atol=1e-9)
    np.testing.assert_allclose(a.match_weight, b.match_weight, rtol=0, atol=1e-9)
    assert (a["rank"] == b["rank"]).all()
    pd.testing.assert_frame_equal(a, b)


# --- what a night may do to each source ----------------------------------------------------------

CHANGES = {
    "wanted": [("full_name", "swap"), ("birth_date", "swap"), ("permanent_address", "swap"), ("id_number", "blank")],
    "residents": [("full_name", "swap"), ("permanent_address", "swap"), ("status", "deceased"), ("other_names", "swap")],
    "id_cards": [("issue_date", "tonight"), ("full_name", "swap"), ("permanent_address", "swap")],
}


def mutate(frames: dict, pool: dict, draw, night: str) -> dict:
    """Adds (from the pool), changes (a field takes another record's value, a death, a card issued
    tonight) and removals on all three sources, chosen by hypothesis."""
    out = {}
    for s, frame in frames.items():
        f = frame.copy()
        n = len(f)
        removed = draw(st.lists(st.integers(0, n - 1), max_size=4, unique=True))
        changed = draw(st.lists(st.integers(0, n - 1), max_size=6, unique=True))
        for i in changed:
            col, how = draw(st.sampled_from(CHANGES[s]))
            if how == "swap":
                f.loc[i, col] = f.loc[draw(st.integers(0, n - 1)), col]
            elif how == "blank":
                f.loc[i, col] = ""
            elif how == "deceased":
                f.loc[i, col] = "deceased"
            else:
                f.loc[i, col] = night
        f = f.drop(index=removed)
        spare = pool[s][~pool[s][KEYS[s]].isin(f[KEYS[s]]) & ~pool[s][KEYS[s]].isin(frame[KEYS[s]])]
        k = draw(st.integers(0, min(5, len(spare))))
        out[s] = pd.concat([f, spare.head(k)]).reset_index(drop=True)
    if out["id_cards"] is not None:  # a card's holder stays in the population files we have
        out["id_cards"] = out["id_cards"].reset_index(drop=True)
    return out


@hsettings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_incremental_equals_full(world, tmp_path_factory, data):
    """After random nights of adds, changes and removals (snapshot or delta files), the night's
    matches equal one full run on the final snapshots with the same model."""
    tmp = tmp_path_factory.mktemp("prop")
    ws, out = fresh_workspace(world, tmp)
    frames = world["base"]
    for k, night in enumerate((D2, D3)[: data.draw(st.integers(1, 2))]):
        after = mutate(frames, world["pool"], data.draw, night)
        delta = data.draw(st.booleans())
        result = nightly(ws, out, night_inputs(tmp, str(k), frames, after, delta), night=night, rules=world["rules"])
        frames = after
    full, counts = full_run(world, tmp, frames)
    assert_same_candidates(pd.read_parquet(result.matches), full)
    assert result.counts["candidate_pairs"] == counts["candidate_pairs"]
    assert_stored_as_built(ws, world["rules"])


def assert_stored_as_built(ws: Path, rules: Path) -> None:
    """The blocking keys and TF counts a workspace keeps up to date night by night equal the ones
    built afresh from its records."""
    from linkage.block import rule_keys_sql
    from linkage.workspace.nightly import KEYS_REG, KEYS_W, _tf_columns, _tf_counts_sql

    settings = load_settings(rules)
    con = duckdb.connect(str(ws / "workspace.duckdb"), read_only=True)
    try:
        for bit, rule in enumerate(settings.blocking):
            for stored, side, table in ((KEYS_W, "l", "w"), (KEYS_REG, "r", "reg")):
                fresh = rule_keys_sql(con, rule, side, table)
                name = stored.format(bit=bit)
                diff = con.execute(f"SELECT count(*) FROM ((SELECT * FROM {name} EXCEPT ALL ({fresh})) "
                                   f"UNION ALL (({fresh}) EXCEPT ALL SELECT * FROM {name}))").fetchall()[0][0]
                assert diff == 0, f"{name}: {diff} keys differ from a fresh build"
        fresh = _tf_counts_sql(_tf_columns(settings), None)
        diff = con.execute(f"SELECT count(*) FROM ((SELECT * FROM tf_counts EXCEPT ALL ({fresh})) "
                           f"UNION ALL (({fresh}) EXCEPT ALL SELECT * FROM tf_counts))").fetchall()[0][0]
        assert diff == 0, f"tf_counts: {diff} rows differ from a fresh count"
    finally:
        con.close()


def _night2(world: dict) -> dict:
    """A fixed second night: 3 residents move, 2 die, 4 removed, 10 added; wanted 2 withdrawn, 5 new."""
    b, p = world["base"], world["pool"]
    res = b["residents"].copy()
    res.loc[:2, "permanent_address"] = res.loc[10:12, "permanent_address"].to_numpy()
    res.loc[3:4, "status"] = "deceased"
    res = pd.concat([res.drop(index=range(5, 9)), p["residents"].head(10)]).reset_index(drop=True)
    cards = pd.concat([b["id_cards"], p["id_cards"][p["id_cards"].card_number.isin(res.person_id)]])
    wanted = pd.concat([b["wanted"].iloc[2:], p["wanted"].head(5)]).reset_index(drop=True)
    return {"wanted": wanted, "residents": res, "id_cards": cards.reset_index(drop=True)}


def test_snapshot_and_delta_inputs_give_the_same_night(world, tmp_path):
    after = _night2(world)
    results = {}
    for mode in ("snapshot", "delta"):
        ws, out = fresh_workspace(world, tmp_path / mode)
        inputs = night_inputs(tmp_path / mode, "2", world["base"], after, mode == "delta")
        results[mode] = nightly(ws, out, inputs, night=D2, rules=world["rules"])
    a, b = (pd.read_parquet(results[m].matches).drop(columns="run_id") for m in ("snapshot", "delta"))
    pd.testing.assert_frame_equal(a, b)
    assert results["delta"].counts["delta"] == {
        s: {**d, "mode": "delta", "unchanged": results["delta"].counts["delta"][s]["unchanged"]}
        for s, d in results["snapshot"].counts["delta"].items()}
    for name in ("new_leads.parquet", "retired.parquet", "alerts.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(results["snapshot"].night_dir / name),
                                      pd.read_parquet(results["delta"].night_dir / name))
    full, _ = full_run(world, tmp_path, after)
    assert_same_candidates(a.assign(run_id=""), full)
    assert os.readlink(tmp_path / "delta" / "out" / "latest") == D2


def test_removal_retires_candidates_with_a_reason(world, tmp_path):
    ws, out = fresh_workspace(world, tmp_path)
    first = pd.read_parquet(world["out"] / D1 / "matches.parquet")
    gone = first.wanted_id.iloc[0]
    (tmp_path / "gone.csv").write_text(f"wanted_id\n{gone}\n", encoding="utf-8")
    r = nightly(ws, out, {"wanted": SourceInput(removed=tmp_path / "gone.csv")}, night=D2, rules=world["rules"])
    retired = pd.read_parquet(r.night_dir / "retired.parquet")
    assert set(retired.wanted_id) == {gone}
    assert (retired.reason == "wanted record removed").all()
    assert len(retired) >= (first.wanted_id == gone).sum()  # kept candidates and those below the floor
    assert gone not in set(pd.read_parquet(r.matches).wanted_id)
    assert r.counts["delta"]["wanted"]["removed"] == 1


def test_the_same_night_twice_adds_nothing(world, tmp_path):
    ws, out = fresh_workspace(world, tmp_path)
    inputs = night_inputs(tmp_path, "2", world["base"], _night2(world), delta=False)
    one = nightly(ws, out, inputs, night=D2, rules=world["rules"])
    state = _state(ws)
    files = {n: (one.night_dir / n).read_bytes() for n in ("matches.parquet", "new_leads.parquet", "retired.parquet", "alerts.parquet")}
    two = nightly(ws, out, inputs, night=D2, rules=world["rules"])
    assert all(d["added"] == d["changed"] == d["removed"] == 0 for d in two.counts["delta"].values())
    assert _state(ws) == state
    assert {n: (two.night_dir / n).read_bytes() for n in files} == files


def _state(ws: Path) -> dict:
    con = duckdb.connect(str(ws / "workspace.duckdb"), read_only=True)
    try:
        return {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall()
                for t in ("cand", "retired", "raw_wanted", "raw_residents", "raw_id_cards", "wanted_ids", "persons")}
    finally:
        con.close()


def test_a_second_night_on_a_locked_workspace_stops_at_once(world, tmp_path):
    ws, out = fresh_workspace(world, tmp_path)
    (ws / LOCK).write_text('{"pid": %d, "host": "%s", "since": "2026-03-02T01:00:00+00:00"}\n'
                           % (os.getpid(), os.uname().nodename), encoding="utf-8")
    with pytest.raises(LockedError, match=rf"pid {os.getpid()} on .* since 2026-03-02T01:00:00") as exc:
        nightly(ws, out, {}, night=D2, rules=world["rules"])
    assert exc.value.exit_code == 5
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (ws / LOCK).write_text('{"pid": %d, "host": "%s", "since": "x"}\n' % (dead.pid, os.uname().nodename), encoding="utf-8")
    r = nightly(ws, out, {}, night=D2, rules=world["rules"])  # a dead holder's lock is taken over
    assert r.counts["matches"] > 0 and not (ws / LOCK).exists()


KILL_SCRIPT = textwrap.dedent("""
    import sys
    from pathlib import Path
    from linkage.workspace.delta import SourceInput
    from linkage.workspace.nightly import nightly
    ws, out, rules, night = map(Path, sys.argv[1:5])
    inputs = {s: SourceInput(Path(p)) for s, p in zip(("wanted", "residents", "id_cards"), sys.argv[5:8])}
    nightly(ws, out, inputs, night=str(night), rules=rules)
""")


@pytest.fixture(scope="module")
def uninterrupted(world, tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("ref")
    ws, out = fresh_workspace(world, tmp)
    files = night_inputs(tmp, "2", world["base"], _night2(world), delta=False)
    r = nightly(ws, out, files, night=D2, rules=world["rules"])
    return {"files": files, "state": _state(ws), "outputs": _outputs(r.night_dir)}


def _outputs(night_dir: Path) -> dict:
    return {n: (night_dir / n).read_bytes() for n in ("matches.parquet", "new_leads.parquet", "retired.parquet", "alerts.parquet")}


@pytest.mark.parametrize("stage", ["read", "normalise", "commit", "score", "write", "swap"])
def test_kill_9_at_each_stage_then_a_rerun_ends_as_an_uninterrupted_night(world, uninterrupted, tmp_path, stage):
    ws, out = fresh_workspace(world, tmp_path)
    files = uninterrupted["files"]
    args = [str(ws), str(out), str(world["rules"]), D2] + [str(files[s].snapshot) for s in ("wanted", "residents", "id_cards")]
    env = {**os.environ, KILL_ENV: stage, "PYTHONPATH": str(ROOT)}
    killed = subprocess.run([sys.executable, "-c", KILL_SCRIPT, *args], env=env, capture_output=True, cwd=ROOT)
    assert killed.returncode == -9, killed.stderr.decode()[-2000:]
    assert (ws / LOCK).exists()  # the killed night's lock: its pid is dead, so the rerun takes it over
    r = nightly(ws, out, files, night=D2, rules=world["rules"])
    assert _state(ws) == uninterrupted["state"]
    assert _outputs(r.night_dir) == uninterrupted["outputs"]
    assert not list((out / D2).glob(".run-partial-*"))
    assert os.readlink(out / "latest") == D2


def test_alerts_for_a_dangerous_new_lead_and_a_card_issued_tonight(world, tmp_path):
    ws, out = fresh_workspace(world, tmp_path)
    b = world["base"]
    wanted = b["wanted"].copy()
    res = b["residents"]
    # a new wanted record, dangerous, with the 12-digit id of a resident who has no card yet
    holder = res[~res.person_id.isin(b["id_cards"].card_number)].iloc[0]
    new_w = wanted.iloc[[0]].assign(wanted_id="TN-NEW-1", full_name=holder.full_name, birth_date=holder.birth_date,
                                    id_number=holder.person_id, danger_level="đặc biệt nguy hiểm")
    card = b["id_cards"].iloc[[0]].assign(card_number=holder.person_id, full_name=holder.full_name,
                                          birth_date=holder.birth_date, old_id_number="", issue_date=D2)
    after = {"wanted": pd.concat([wanted, new_w]), "residents": res, "id_cards": pd.concat([b["id_cards"], card])}
    r = nightly(ws, out, night_inputs(tmp_path, "2", b, after, delta=True), night=D2, rules=world["rules"])
    alerts = pd.read_parquet(r.night_dir / "alerts.parquet")
    hit = alerts[(alerts.wanted_id == "TN-NEW-1") & (alerts.person_id == holder.person_id)]
    assert len(hit) == 1 and hit.alert.iloc[0].startswith("exact id match on a card issued tonight")
    assert r.alerts[0]["wanted_id"] == "TN-NEW-1"  # card alerts come first
    leads = pd.read_parquet(r.night_dir / "new_leads.parquet")
    assert "TN-NEW-1" in set(leads.wanted_id) and set(leads.reason) <= {"new", "above_threshold", "evidence_changed"}


def test_decisions_are_honoured(world, tmp_path):
    from linkage.review.store import Store

    ws, out = fresh_workspace(world, tmp_path)
    first = pd.read_parquet(world["out"] / D1 / "matches.parquet")
    a = first.iloc[0]
    store_path = tmp_path / "decisions.sqlite"
    store = Store.open(str(store_path))
    store.decide(a.wanted_id, a.person_id, "not_match", "rv1", match_weight=float(a.match_weight))
    store.close()
    r = nightly(ws, out, {}, night=D2, rules=world["rules"], decisions=str(store_path))
    m = pd.read_parquet(r.matches).set_index(["wanted_id", "person_id"])
    assert m.loc[(a.wanted_id, a.person_id), "decision"] == "not_match"
    assert r.counts["decisions"]["not_match"] == 1


def test_the_command_prints_alerts_first_and_a_lock_is_exit_5(world, tmp_path):
    """The command function as cli.py registers it: one line and exit 5 on a held lock; --json."""
    import json

    import typer
    from typer.testing import CliRunner

    from linkage.workspace.cli import nightly as command

    app = typer.Typer()
    app.command()(command)
    app.command("noop")(lambda: None)  # two commands: the sub-command name is part of the line
    ws, out = fresh_workspace(world, tmp_path)
    args = ["nightly", "--workspace", str(ws), "--out", str(out), "--date", D2, "--rules", str(world["rules"])]
    (ws / LOCK).write_text('{"pid": %d, "host": "%s", "since": "s"}' % (os.getpid(), os.uname().nodename))
    locked = CliRunner().invoke(app, args)
    assert locked.exit_code == 5 and "locked by nightly pid" in locked.output and "Traceback" not in locked.output
    (ws / LOCK).unlink()
    ok = CliRunner().invoke(app, args + ["--json"])
    assert ok.exit_code == 0, ok.output
    summary = json.loads(ok.stdout)
    assert summary["night"] == D2 and summary["counts"]["matches"] > 0


def test_generated_nights_as_deltas_equal_their_snapshots(world, tmp_path):
    from linkage.synth.nights import NightSizes, generate_nights

    base = tmp_path / "base"
    base.mkdir()
    for s, f in world["base"].items():
        _csv(f, base / f"{s}.csv")
    night = generate_nights(base, 1, 5, tmp_path / "nights", start=D2,
                            sizes=NightSizes(new_cards=15, changed_residents=12, new_wanted=4, withdrawn_wanted=2))[0]
    d = night / "delta"
    ws, out = fresh_workspace(world, tmp_path)
    r = nightly(ws, out, {s: SourceInput(None, d / f"{s}_delta.csv", d / f"removed_{s}.csv")
                          for s in ("wanted", "residents", "id_cards")}, night=D2, rules=world["rules"])
    assert r.counts["delta"]["id_cards"]["added"] == 15 and r.counts["delta"]["wanted"]["removed"] == 2
    snap = {s: pd.read_csv(night / "snapshot" / f"{s}.csv", dtype=str, keep_default_na=False) for s in KEYS}
    full, _ = full_run(world, tmp_path, snap)
    assert_same_candidates(pd.read_parquet(r.matches), full)


def test_a_first_night_without_a_model_trains_one_and_keeps_it(world, tmp_path):
    """No --model on the first night: a model is trained on that night's pairs (the register's term
    frequencies are ready before training, as in a run), stored as version 1 and used afterwards."""
    files = {s: _csv(f, tmp_path / f"{s}.csv") for s, f in world["base"].items()}
    ws, out = tmp_path / "ws", tmp_path / "out"
    first = nightly(ws, out, {s: SourceInput(p) for s, p in files.items()}, night=D1, rules=world["rules"])
    assert first.model_path.name.startswith("model-v001-") and first.model_path.is_file()
    second = nightly(ws, out, {}, night=D2, rules=world["rules"])
    assert second.model_path == first.model_path  # never retrained silently
    assert len(pd.read_parquet(second.matches)) == len(pd.read_parquet(first.matches))
