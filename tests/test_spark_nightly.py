"""`linkage nightly --engine spark` against the DuckDB engine on the committed sample: a first
night (the workspace built, the whole register normalised, blocked and compared on Spark) and a
second night of new ID cards and residents, moves and removals (only those records on Spark). Every
table the workspace stores and every file of both nights must be the DuckDB engine's."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from linkage.model import default_model, save_model
from linkage.rules import DEFAULT_RULES_DIR, rules_hash
from linkage.settings import load_settings
from linkage.workspace.delta import SourceInput
from linkage.workspace.nightly import nightly
from spark_session import spark  # noqa: F401  (the shared session fixture)

SAMPLE = Path(__file__).resolve().parents[1] / "data_samples" / "sample"
D1, D2 = "2026-03-01", "2026-03-02"
NIGHT_FILES = ("matches.parquet", "new_leads.parquet", "retired.parquet", "alerts.parquet")
# what legitimately differs between two workspaces: the folder they live in, the clock
SKIP = {"models": ["path"], "nights": ["finished_at"]}


def _csv(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False)
    return path


def _nights(d: Path) -> tuple[dict, dict]:
    """Night 1: 70 wanted, ~260 residents with their cards. Night 2: 20 residents and their
    cards added, 3 residents move, 2 removed, 4 cards re-issued under a new name, 5 wanted added."""
    truth = pd.read_csv(SAMPLE / "truth.csv", dtype=str)
    wanted = pd.read_csv(SAMPLE / "wanted.csv", dtype=str, keep_default_na=False).head(75)
    residents = pd.read_csv(SAMPLE / "residents.csv", dtype=str, keep_default_na=False)
    cards = pd.read_csv(SAMPLE / "id_cards.csv", dtype=str, keep_default_na=False)
    linked = set(truth[truth.wanted_id.isin(wanted.wanted_id)].person_id.dropna())
    res = pd.concat([residents[residents.person_id.isin(linked)], residents.head(240)]).drop_duplicates("person_id")
    res = res.reset_index(drop=True)
    base_res = res.iloc[: len(res) - 20].reset_index(drop=True)
    base = {"wanted": wanted.iloc[:70].reset_index(drop=True), "residents": base_res,
            "id_cards": cards[cards.card_number.isin(base_res.person_id)].reset_index(drop=True)}
    moved = base_res.copy()
    moved.loc[:2, "permanent_address"] = moved.loc[10:12, "permanent_address"].to_numpy()
    night2_res = pd.concat([moved.drop(index=[5, 6]), res.iloc[len(res) - 20:]]).reset_index(drop=True)
    night2_cards = cards[cards.card_number.isin(night2_res.person_id)].reset_index(drop=True).copy()
    renamed = night2_cards.index[:4]
    night2_cards.loc[renamed, "full_name"] = night2_cards.loc[renamed[::-1], "full_name"].to_numpy()
    night2_cards.loc[renamed, "issue_date"] = D2
    second = {"wanted": wanted.reset_index(drop=True), "residents": night2_res, "id_cards": night2_cards}
    return ({s: SourceInput(_csv(f, d / f"{s}_1.csv")) for s, f in base.items()},
            {s: SourceInput(_csv(f, d / f"{s}_2.csv")) for s, f in second.items()})


@pytest.fixture(scope="module")
def both(tmp_path_factory, spark):  # noqa: F811
    d = tmp_path_factory.mktemp("spark_nightly")
    rules = d / "rules"  # a frozen copy: edits elsewhere in the tree do not move under the test
    shutil.copytree(DEFAULT_RULES_DIR, rules, ignore=shutil.ignore_patterns("model.json", "examples"))
    model = save_model(default_model(load_settings(rules), rules_hash(rules)), d / "model.json")
    night1, night2 = _nights(d)
    out = {}
    for engine in ("duckdb", "spark"):
        ws, dest = d / engine / "ws", d / engine / "out"
        first = nightly(ws, dest, night1, night=D1, model_path=model, rules=rules, engine=engine)
        second = nightly(ws, dest, night2, night=D2, rules=rules, engine=engine)
        out[engine] = {"ws": ws, "nights": (first, second)}
    return {**out, "rules": rules}


def _tables(ws: Path) -> dict[str, list]:
    con = duckdb.connect(str(ws / "workspace.duckdb"), read_only=True)
    try:
        names = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE NOT temporary "
                                           "ORDER BY table_name").fetchall()]
        got = {}
        for t in names:
            cols = [c for c, *_ in con.execute(f"DESCRIBE {t}").fetchall() if c not in SKIP.get(t, [])]
            where = " WHERE key <> 'model_path'" if t == "meta" else ""
            got[t] = ([(c, str(k)) for c, k, *_ in con.execute(f"DESCRIBE {t}").fetchall()],
                      con.execute(f"SELECT {', '.join(cols)} FROM {t}{where} ORDER BY ALL").fetchall())
        return got
    finally:
        con.close()


def test_the_workspace_holds_the_same_tables(both):
    duck, sp = _tables(both["duckdb"]["ws"]), _tables(both["spark"]["ws"])
    assert sorted(duck) == sorted(sp) and "reg" in duck and any(t.startswith("keys_reg_") for t in duck)
    for t in duck:
        assert duck[t][0] == sp[t][0], f"{t}: columns or types differ"
        assert duck[t][1] == sp[t][1], f"{t}: rows differ"
    assert len(duck["cand"][1]) > 50 and len(duck["reg"][1]) > 400


@pytest.mark.parametrize("night", [0, 1])
def test_each_night_writes_the_same_files(both, night):
    a, b = both["duckdb"]["nights"][night], both["spark"]["nights"][night]
    assert a.run_id == b.run_id
    for name in NIGHT_FILES:
        pd.testing.assert_frame_equal(pd.read_parquet(a.night_dir / name), pd.read_parquet(b.night_dir / name),
                                      check_exact=True, obj=name)
    assert len(pd.read_parquet(a.night_dir / "matches.parquet")) > 30
    for key in ("blocking", "screened_pairs", "new_pairs", "retired_pairs", "candidate_pairs", "normalised", "delta"):
        assert a.counts[key] == b.counts[key], key
    manifest = json.loads(b.manifest.read_text(encoding="utf-8"))
    assert manifest["counts"]["engine"]["name"] == "spark" and "engine" not in a.counts


def test_the_second_night_screened_only_its_changes_on_spark(both):
    second = both["spark"]["nights"][1].counts
    assert second["delta"]["id_cards"]["added"] >= 15 and second["delta"]["id_cards"]["changed"] == 4
    assert 0 < second["normalised"]["id_cards"] + second["normalised"]["residents"] < 100  # not the whole register
    assert second["new_pairs"] > 0 and second["retired_pairs"] > 0
    assert not (both["spark"]["ws"] / ".spark").exists()  # the night's work folder is removed


def test_the_command_takes_the_engine_and_a_quiet_night_needs_no_register_work(both, tmp_path):
    """`linkage nightly --engine spark --spark-master local[2]` on a copy of the Spark workspace,
    a night with no input (nothing changed): exit 0, the same candidates as the night before."""
    from typer.testing import CliRunner

    from cli import app

    ws, out = tmp_path / "ws", tmp_path / "out"
    shutil.copytree(both["spark"]["ws"], ws)
    rules = both["rules"]
    args = ["nightly", "--workspace", str(ws), "--out", str(out), "--date", "2026-03-03", "--rules", str(rules),
            "--engine", "spark", "--spark-master", "local[2]", "--json"]
    got = CliRunner().invoke(app, args)
    assert got.exit_code == 0, got.output
    manifest = json.loads((out / "2026-03-03" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["counts"]["engine"]["name"] == "spark" and manifest["counts"]["screened_pairs"] == 0
    before = pd.read_parquet(both["spark"]["nights"][1].matches).drop(columns="run_id")
    pd.testing.assert_frame_equal(pd.read_parquet(out / "2026-03-03" / "matches.parquet").drop(columns="run_id"), before)
    bad = CliRunner().invoke(app, ["nightly", "--workspace", str(tmp_path / "none"), "--out", str(out), "--engine", "x"])
    assert bad.exit_code == 2 and "--engine" in bad.output and not (tmp_path / "none").exists()
