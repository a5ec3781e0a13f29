"""A workspace built by an older version keeps working after an upgrade: stored tables that lack a
column a newer version added (a contract column such as identifying_marks, a prepared column such
as record_date) get it, the records are prepared again when the prepare stage changed, and the
night's candidates equal those of a workspace built fresh. (Seen on the way: an old workspace's
next night died with 'Referenced column "identifying_marks" not found'.)"""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
from typer.testing import CliRunner

from cli import app
from linkage.model import default_model, save_model
from linkage.rules import rules_hash
from linkage.settings import load_settings

SAMPLE = Path(__file__).resolve().parent.parent / "data_samples" / "sample"
INPUTS = ["--wanted", str(SAMPLE / "wanted.csv"), "--residents", str(SAMPLE / "residents.csv"),
          "--id-cards", str(SAMPLE / "id_cards.csv")]


def night(ws: Path, out: Path, date: str, model: Path) -> None:
    res = CliRunner().invoke(app, ["nightly", "--workspace", str(ws), "--out", str(out), "--date", date,
                                   "--model", str(model), "-q", *INPUTS])
    assert res.exit_code == 0, res.output


def age_workspace(ws: Path) -> None:
    """Make the workspace look as an older version left it."""
    con = duckdb.connect(str(ws / "workspace.duckdb"))
    con.execute("ALTER TABLE raw_wanted DROP COLUMN identifying_marks")
    con.execute("ALTER TABLE reg DROP COLUMN record_date")
    hashes = json.loads(con.execute("SELECT value FROM meta WHERE key = 'stage_hashes'").fetchall()[0][0])
    hashes["prepare"] = "built-by-an-older-version"
    con.execute("UPDATE meta SET value = ? WHERE key = 'stage_hashes'", [json.dumps(hashes)])
    con.close()


def test_an_older_workspace_is_upgraded_on_its_next_night(tmp_path):
    model = save_model(default_model(load_settings(), rules_hash()), tmp_path / "model.json")
    old, new = tmp_path / "old", tmp_path / "new"
    night(old, tmp_path / "out_old", "2026-01-01", model)
    age_workspace(old)
    night(old, tmp_path / "out_old", "2026-01-02", model)
    night(new, tmp_path / "out_new", "2026-01-02", model)
    keys = ["wanted_id", "person_id"]
    a = pq.read_table(tmp_path / "out_old" / "2026-01-02" / "matches.parquet").to_pandas().sort_values(keys)
    b = pq.read_table(tmp_path / "out_new" / "2026-01-02" / "matches.parquet").to_pandas().sort_values(keys)
    assert len(a) == len(b) > 100
    for col in ("match_probability", "match_weight", "rank", "current_record_date", "current_address",
                "residence_changed", "explanation"):
        assert a[col].tolist() == b[col].tolist(), col
    con = duckdb.connect(str(old / "workspace.duckdb"), read_only=True)
    cols = {r[0] for r in con.execute("DESCRIBE raw_wanted").fetchall()} | {r[0] for r in con.execute("DESCRIBE reg").fetchall()}
    assert {"identifying_marks", "record_date"} <= cols
    assert con.execute("SELECT count(*) FROM reg WHERE record_date IS NULL AND src = 'id_cards'").fetchall()[0][0] == 0


def test_a_night_normalised_in_chunks_by_workers_gives_the_same_candidates(tmp_path):
    """The first night's normalisation in worker processes, a few chunks in flight at a time,
    gives the candidates of one chunk in one process."""
    import shutil

    rules = tmp_path / "rules"
    shutil.copytree(Path(__file__).resolve().parent.parent / "rules", rules)
    m = rules / "matching.yaml"
    text, n_chunk = re.subn(r"normalise_chunk_rows: \d+", "normalise_chunk_rows: 4000", m.read_text(encoding="utf-8"))
    text, n_min = re.subn(r"parallel_min_rows: \d+", "parallel_min_rows: 1", text)
    assert n_chunk == n_min == 1, "the engine settings in rules/matching.yaml changed their keys"
    m.write_text(text, encoding="utf-8")
    model = save_model(default_model(load_settings(), rules_hash()), tmp_path / "model.json")
    night(tmp_path / "one", tmp_path / "out_one", "2026-01-01", model)
    res = CliRunner().invoke(app, ["nightly", "--workspace", str(tmp_path / "par"), "--out", str(tmp_path / "out_par"),
                                   "--date", "2026-01-01", "--model", str(model), "--rules", str(rules), "-q", *INPUTS])
    assert res.exit_code == 0, res.output
    keys = ["wanted_id", "person_id"]
    a = pq.read_table(tmp_path / "out_one" / "2026-01-01" / "matches.parquet").to_pandas().sort_values(keys)
    b = pq.read_table(tmp_path / "out_par" / "2026-01-01" / "matches.parquet").to_pandas().sort_values(keys)
    assert len(a) == len(b) > 100
    assert a["match_probability"].tolist() == b["match_probability"].tolist()
    assert a["explanation"].tolist() == b["explanation"].tolist()
