"""The score stage takes the register's persons from its caller (a run's prepare stage counted
them): the same scored table as when it counts them itself, and the count is what it uses."""

from __future__ import annotations

from engine_helpers import workspace
from linkage.compare import compare
from linkage.model import default_model
from linkage.score import score
from linkage.settings import load_settings


def _scored(con) -> list[tuple]:
    return con.execute("SELECT * FROM scored ORDER BY ALL").fetchall()


def test_persons_given_or_counted_score_alike(tmp_path):
    residents = [{"person_id": f"0800850012{i:02d}", "full_name": name}
                 for i, name in enumerate(["Nguyễn Văn Hùng", "Nguyễn Văn Hùnh", "Trần Thị Hoa", "Lê Minh"])]
    con = workspace(tmp_path, [{"wanted_id": "W1"}, {"wanted_id": "W2", "full_name": "Trần Thị Hoa"}], residents)
    con.execute("CREATE TABLE pairs AS SELECT row_number() OVER (ORDER BY w.w_idx, p.person_idx) - 1 AS pair_idx, "
                "w.w_idx, p.person_idx, 1 AS rules FROM w, (SELECT DISTINCT person_idx FROM reg) p")
    settings = load_settings()
    gammas = compare(con, settings)
    model = default_model(settings, "test")
    n = con.execute("SELECT count(DISTINCT person_idx) FROM reg").fetchall()[0][0]
    assert n == 4
    counted = score(con, settings, model, gammas)
    by_itself = _scored(con)
    assert counted == score(con, settings, model, gammas, n_persons=n)
    assert _scored(con) == by_itself and len(by_itself) > 0
    weight = "SELECT w_idx, person_idx, match_weight FROM scored"
    at_n = {(w, p): m for w, p, m in con.execute(weight).fetchall()}
    score(con, settings, model, gammas, n_persons=n * 1000)  # a register 1000 times larger: a lower prior
    larger = {(w, p): m for w, p, m in con.execute(weight).fetchall()}
    both = at_n.keys() & larger.keys()
    assert both and all(larger[k] < at_n[k] - 9 for k in both)  # log2(1000) ~ 10 bits less
