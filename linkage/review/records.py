"""The records behind a pair: the wanted record, the candidate's residents row and each ID card
with the same card number, looked up by id; and their normalised forms.

Only the records some candidate refers to are kept (a register of 100M people is not loaded),
each table with a hash index from id to row, so a lookup costs the same at any size.
Normalised forms are computed on demand for the two or three records of one page only."""

from __future__ import annotations

import difflib
from functools import lru_cache
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from linkage.errors import InputError
from linkage.normalize.table import normalize_table

# The fields shown side by side, and the comparisons (mw_ columns) that score each one.
FIELDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("full_name", ("full_name", "family_name", "middle_name", "given_name")),
    ("other_names", ("alias",)),
    ("gender", ("gender",)),
    ("birth_date", ("birth_date",)),
    ("birth_place", ("birth_place",)),
    ("hometown", ("hometown",)),
    ("permanent_address", ("address",)),
    ("current_address", ("address",)),
    ("ethnicity", ("ethnicity",)),
    ("id_number", ("id_number", "id_encoded")),
    ("father_name", ("father",)),
    ("mother_name", ("mother",)),
    ("identifying_marks", ("marks",)),  # the notice's against the person's ID card's (candidate())
)
WANTED_EXTRA = ("decision_number", "decision_date", "issuing_unit", "offence", "danger_level", "identifying_marks")
STRONG_BITS = 3.0  # |contribution| at or above: a strong row colour


def _index(table: pa.Table, column: str) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for i, v in enumerate(pc.cast(table[column], pa.string()).to_pylist()):
        if v is not None:
            out.setdefault(v, []).append(i)
    return out


def _clean(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if not k.startswith("_")}


@dataclass(eq=False)
class Records:
    wanted: pa.Table
    residents: pa.Table
    id_cards: pa.Table
    rules: Path | None = None

    def __post_init__(self) -> None:
        self.wanted, self.residents, self.id_cards = (
            t.combine_chunks() for t in (self.wanted, self.residents, self.id_cards))
        self._w = _index(self.wanted, "wanted_id")
        self._r = _index(self.residents, "person_id") if self.residents.num_rows else {}
        self._c = _index(self.id_cards, "card_number") if self.id_cards.num_rows else {}

    def _take(self, table: pa.Table, index: dict[str, list[int]], ids: list[str]) -> list[dict[str, Any] | None]:
        rows = [index.get(i, [None])[0] for i in ids]
        found = [r for r in rows if r is not None]
        values = iter(table.take(pa.array(found, pa.int64())).to_pylist() if found else [])
        return [_clean(next(values)) if r is not None else None for r in rows]

    def wanted_records(self, ids: list[str]) -> list[dict[str, Any] | None]:
        return self._take(self.wanted, self._w, ids)

    def residents_of(self, ids: list[str]) -> list[dict[str, Any] | None]:
        return self._take(self.residents, self._r, ids) if self._r else [None] * len(ids)

    def names(self, person_ids: list[str]) -> list[str]:
        """Each candidate's full name (residents row, else an id card), for lists."""
        out = []
        for pid, r in zip(person_ids, self.residents_of(person_ids)):
            name = (r or {}).get("full_name")
            if not name and self._c.get(pid):
                name = self.id_cards["full_name"][self._c[pid][0]].as_py()
            out.append(name or "")
        return out

    def wanted_record(self, wanted_id: str) -> dict[str, Any] | None:
        rows = self._w.get(wanted_id)
        return _clean(self.wanted.slice(rows[0], 1).to_pylist()[0]) if rows else None

    def resident(self, person_id: str) -> dict[str, Any] | None:
        rows = self._r.get(person_id)
        return _clean(self.residents.slice(rows[0], 1).to_pylist()[0]) if rows else None

    def cards(self, person_id: str) -> list[dict[str, Any]]:
        return [_clean(self.id_cards.slice(i, 1).to_pylist()[0]) for i in self._c.get(person_id, [])]

    def candidate(self, person_id: str) -> dict[str, Any]:
        """The candidate's side: the residents row, with what it lacks taken from the newest card."""
        out = dict(self.resident(person_id) or {})
        cards = sorted(self.cards(person_id), key=lambda c: str(c.get("issue_date") or ""), reverse=True)
        for card in cards:
            for k, v in card.items():
                if out.get(k) in (None, "") and v not in (None, ""):
                    out[k] = v
        out.setdefault("person_id", person_id)
        out["id_number"] = out.get("person_id") or person_id
        return out

    def normalised(self, record: dict[str, Any], source: str) -> dict[str, str]:
        """The normalised form of each shown field of one record (normalize_table on that row only;
        about 60 ms, so the last few hundred are kept)."""
        items = tuple(sorted((k, v) for k, v in record.items() if isinstance(v, (str, type(None)))))
        return dict(self._normalised(items, source))

    @lru_cache(maxsize=512)  # noqa: B019 (one Records per server, alive as long as it)
    def _normalised(self, items: tuple[tuple[str, Any], ...], source: str) -> tuple[tuple[str, str], ...]:
        record = dict(items)
        df = pd.DataFrame([record])
        if source != "wanted" and "id_number" in df.columns:
            df = df.drop(columns=["id_number"])
        if source == "residents" and "person_id" not in df.columns:
            df["person_id"] = record.get("person_id")
        n = normalize_table(df, source, self.rules).iloc[0]
        return tuple(normalised_fields(n).items())


def _v(n: pd.Series, col: str) -> str:
    if col not in n.index:
        return ""
    v = n[col]
    if v is None or (not isinstance(v, (list, tuple)) and pd.isna(v)):
        return ""
    if isinstance(v, (list, tuple)):
        return "; ".join(str(x) for x in v)
    return str(v)


def _date(n: pd.Series) -> str:
    y, m, d, p = _v(n, "birth_year"), _v(n, "birth_month"), _v(n, "birth_day"), _v(n, "birth_precision")
    if not y:
        return ""
    if p == "day" and d and m:
        return f"{int(d):02d}/{int(m):02d}/{y}"
    if p == "month" and m:
        return f"{int(m):02d}/{y}"
    return y


def _place(n: pd.Series, col: str) -> str:
    prov, ward = _v(n, f"{col}_province_code_2025"), _v(n, f"{col}_ward_code_2025")
    if not prov and not ward:
        return ""
    return " · ".join(x for x in (prov and f"#{prov}", ward and f"#{ward}") if x) + (
        f" ({_v(n, col + '_level')})" if _v(n, col + "_level") else "")


def normalised_fields(n: pd.Series) -> dict[str, str]:
    name = _v(n, "full_name_norm")
    parts = " / ".join(x for x in (_v(n, "family_name"), _v(n, "middle_name"), _v(n, "given_name")) if x)
    return {
        "full_name": f"{name} [{parts}] {_v(n, 'full_name_ascii')}".strip() if name else "",
        "other_names": _v(n, "aliases"),
        "gender": _v(n, "gender_norm"),
        "birth_date": _date(n),
        "birth_place": _place(n, "birth_place"),
        "hometown": _place(n, "hometown"),
        "permanent_address": _place(n, "permanent_address"),
        "current_address": _place(n, "current_address"),
        "ethnicity": _v(n, "ethnicity_code"),
        "identifying_marks": _v(n, "marks_keys"),
        "id_number": " ".join(x for x in (_v(n, "id_clean"), _v(n, "id_kind") and f"({_v(n, 'id_kind')})") if x),
        "father_name": _v(n, "father_norm"),
        "mother_name": _v(n, "mother_norm"),
    }


def contribution_class(total: float, missing: bool) -> str:
    """A row's colour from its comparisons' summed contribution (match weight bits)."""
    if missing:
        return "missing"
    if total >= STRONG_BITS:
        return "strong-pos"
    if total > 0.05:
        return "weak-pos"
    if total <= -STRONG_BITS:
        return "strong-neg"
    if total < -0.05:
        return "weak-neg"
    return "neutral"


def _fold(word: str) -> str:
    return unicodedata.normalize("NFC", word).casefold()


def word_diff(left: str | None, right: str | None) -> tuple[list[tuple[str, bool]], list[tuple[str, bool]]]:
    """Each side's words with a flag: True where the word differs from the other side."""
    a, b = (left or "").split(), (right or "").split()
    fa, fb = [_fold(w) for w in a], [_fold(w) for w in b]
    da, db = [True] * len(a), [True] * len(b)
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=fa, b=fb, autojunk=False).get_opcodes():
        if tag == "equal":
            da[i1:i2] = [False] * (i2 - i1)
            db[j1:j2] = [False] * (j2 - j1)
    return list(zip(a, da)), list(zip(b, db))


def _only(table: pa.Table, column: str, ids: pa.Array) -> pa.Table:
    if column not in table.column_names:
        return table.slice(0, 0)
    keep = pc.is_in(pc.cast(table[column], pa.string()), value_set=ids)
    return table.filter(keep)


def from_workspace(db: Path, matches: pa.Table, rules: Path | None = None) -> Records:
    """The records a run's candidates refer to, read from its workspace.duckdb (read-only)."""
    if not db.is_file():
        raise InputError(f"{db}: workspace not found (a run folder holds workspace.duckdb)")
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = {r[0] for r in con.sql("SHOW TABLES").fetchall()}
        for name in ("wanted", "residents", "id_cards"):
            if name not in tables and name != "id_cards":
                raise InputError(f"{db}: table {name} missing")
        con.register("cand_w", pa.table({"id": pc.unique(pc.cast(matches["wanted_id"], pa.string()))}))
        con.register("cand_p", pa.table({"id": pc.unique(pc.cast(matches["person_id"], pa.string()))}))
        wanted = con.sql("SELECT * FROM wanted").to_arrow_table()
        residents = con.sql("SELECT r.* FROM residents r SEMI JOIN cand_p c ON r.person_id = c.id").to_arrow_table()
        cards = (con.sql("SELECT k.* FROM id_cards k SEMI JOIN cand_p c ON k.card_number = c.id").to_arrow_table()
                 if "id_cards" in tables else pa.table({"card_number": pa.array([], pa.string())}))
    finally:
        con.close()
    return Records(wanted, residents, cards, rules)


def from_sources(wanted: pa.Table, residents: pa.Table | None, id_cards: pa.Table | None, matches: pa.Table,
                 rules: Path | None = None) -> Records:
    """The records from source files read through linkage.ingest.read_source."""
    ids = pc.unique(pc.cast(matches["person_id"], pa.string()))
    empty = pa.table({"person_id": pa.array([], pa.string())})
    r = _only(residents, "person_id", ids) if residents is not None else empty
    c = _only(id_cards, "card_number", ids) if id_cards is not None else pa.table({"card_number": pa.array([], pa.string())})
    return Records(wanted, r, c, rules)
