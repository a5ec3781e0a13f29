"""The pair page's panel of the wanted person's relatives found by `linkage run --relatives`
(relatives.parquet beside matches.parquet): relation, name, birth year, current address, status and
probability of each probable relative, so a reviewer sees whom the surrender letter can go through.
Nothing is shown (and nothing read) when the run has no relatives.parquet."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from linkage.reports.html import fmt_pct
from linkage.reports.strings import t

RELATIVES = "relatives.parquet"
COLUMNS = ["wanted_id", "relation", "rank", "person_id", "full_name", "birth_year", "current_address",
           "status", "probability", "probable", "explanation"]
ORDER = {"father": 0, "mother": 1, "sibling": 2, "child": 3}
_BY_RECORDS: dict[int, dict[str, list[dict[str, Any]]] | None] = {}


def load(folder: Path | None) -> dict[str, list[dict[str, Any]]] | None:
    """The probable relatives of each wanted id, from folder/relatives.parquet (None when absent)."""
    path = Path(folder) / RELATIVES if folder is not None else None
    if path is None or not path.is_file():
        return None
    table = pq.read_table(path, columns=COLUMNS).to_pandas()
    table = table[table["probable"]]
    out: dict[str, list[dict[str, Any]]] = {}
    for wid, g in table.groupby("wanted_id", sort=False):
        g = g.assign(_o=g["relation"].map(ORDER)).sort_values(["_o", "rank"])
        out[str(wid)] = g.drop(columns=["_o", "probable"]).to_dict("records")
    return out


def register(records: object, folder: Path | None) -> None:
    """Attach the run folder's relatives to a review app's records (called once at start)."""
    _BY_RECORDS[id(records)] = load(folder)


def panel(records: object, wanted_id: str, lang: str, rules: Path | None = None) -> dict[str, Any] | None:
    """What templates/relatives.html shows for one wanted id; None when the run has no relatives file."""
    rel = _BY_RECORDS.get(id(records))
    if rel is None:
        return None
    rows = []
    for x in rel.get(str(wanted_id), []):
        year = x.get("birth_year")
        rows.append({"relation": t(f"relatives.relation.{x['relation']}", lang, rules), "person_id": x["person_id"],
                     "name": x.get("full_name") or "", "birth_year": "" if year is None or year != year else int(year),
                     "address": x.get("current_address") or "",
                     "status": t(f"relatives.status.{x['status']}", lang, rules), "deceased": x["status"] == "deceased",
                     "probability": fmt_pct(float(x["probability"]), lang, 1), "explanation": x.get("explanation") or ""})
    s = {k: t(f"relatives.panel.{k}", lang, rules) for k in ("title", "none", "name", "address")}
    s.update({k: t(f"relatives.report.{k}", lang, rules) for k in ("relation", "birth_year", "status", "probability",
                                                                    "person_id")})
    return {"rows": rows, "s": s}
