"""Shared helpers for engine tests: crafted records through the real normalisers, prepared
tables in a real DuckDB file, and the level of every comparison for chosen pairs."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from linkage.compare import compare
from linkage.normalize.table import normalize_table
from linkage.prepare import build_tables
from linkage.settings import Settings, load_settings

WANTED_BASE = {
    "wanted_id": "W1",
    "full_name": "Nguyễn Văn Hùng",
    "gender": "Nam",
    "birth_date": "12/05/1985",
    "hometown": "Xã Tân Phú, Huyện Đức Hòa, Tỉnh Long An",
    "permanent_address": "Phường Bến Nghé, Quận 1, Thành phố Hồ Chí Minh",
    "birth_place": "Tỉnh Long An",
    "father_name": "Nguyễn Văn Tư",
    "mother_name": "Lê Thị Lan",
    "ethnicity": "Kinh",
    "id_number": "",
    "other_names": "",
}

RESIDENT_BASE = {
    "person_id": "080085001234",
    "full_name": "Nguyễn Văn Hùng",
    "gender": "Nam",
    "birth_date": "12/05/1985",
    "hometown": "Xã Tân Phú, Huyện Đức Hòa, Tỉnh Long An",
    "permanent_address": "Phường Bến Nghé, Quận 1, Thành phố Hồ Chí Minh",
    "birth_place": "Tỉnh Long An",
    "father_name": "Nguyễn Văn Tư",
    "mother_name": "Lê Thị Lan",
    "ethnicity": "Kinh",
    "other_names": "",
    "status": "alive",
}


def frame(rows: list[dict], base: dict) -> pd.DataFrame:
    return pd.DataFrame([{**base, **r} for r in rows]).astype(object)


def workspace(
    tmp_path: Path,
    wanted: list[dict],
    residents: list[dict],
    id_cards: list[dict] | None = None,
) -> duckdb.DuckDBPyConnection:
    """Prepared `w` and `reg` tables in a real DuckDB file, from crafted records."""
    con = duckdb.connect(str(tmp_path / "ws.duckdb"))
    w = normalize_table(frame(wanted, WANTED_BASE), "wanted")
    r = normalize_table(frame(residents, RESIDENT_BASE), "residents")
    cards = None
    if id_cards:
        cards = normalize_table(pd.DataFrame(id_cards).astype(object), "id_cards")
    build_tables(con, w, r, cards, [col for c in load_settings().comparisons for col in c.tf.values()])
    return con


def pair_levels(
    con: duckdb.DuckDBPyConnection, pairs: list[tuple[str, str]], settings: Settings | None = None
) -> list[dict[str, str | None]]:
    """Level id (None = null) of every comparison, for (wanted_id, person_id) pairs in order."""
    settings = settings or load_settings()
    ids = con.execute("SELECT uid, w_idx FROM w").fetchall()
    w_idx = dict(ids)
    p_idx = dict(con.execute("SELECT DISTINCT uid, person_idx FROM reg").fetchall())
    table = pa.table(
        {
            "pair_idx": list(range(len(pairs))),
            "w_idx": [w_idx[a] for a, _ in pairs],
            "person_idx": [p_idx[b] for _, b in pairs],
        }
    )
    con.register("_p", table)
    con.execute("CREATE OR REPLACE TABLE testpairs AS SELECT * FROM _p")
    gammas = compare(con, settings, source="testpairs")
    out = []
    for i in range(len(pairs)):
        row = {}
        for j, c in enumerate(settings.comparisons):
            lv = int(gammas.levels[i, j])
            row[c.name] = None if lv < 0 else c.levels[lv].id
        out.append(row)
    return out
