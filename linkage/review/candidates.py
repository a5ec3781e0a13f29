"""The candidates a reviewer works through, loaded once and kept in queue order.

At start the run's matches are read into numpy/Arrow arrays and sorted once in queue order
(danger level: "đặc biệt nguy hiểm" > "nguy hiểm" > "thường" > other; then an agreeing id first;
then match probability, highest first). The live decisions are kept as one small int array
aligned with that order, updated from the store's change feed (`changes_since`): each request
reads only the rows appended since the last one. A queue page is then a few vectorised numpy
operations (a mask, a count, the first true positions): no Python loop over the candidates.
"""

from __future__ import annotations

import threading
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from linkage.errors import InputError
from linkage.matches_io import is_matches, read_matches
from linkage.review.evidence import FLAGS, evidence_fingerprint, requeue_reasons
from linkage.review.store import Store

DANGER_ORDER = ("đặc biệt nguy hiểm", "nguy hiểm", "thường")  # rank 3: anything else (or none)
STATES = ("none", "match", "not_match", "unsure", "pending_confirmation")
STATE_CODE = {s: i for i, s in enumerate(STATES)}
NONE, MATCH, NOT_MATCH, UNSURE, PENDING = range(5)
BANDS = {  # score bands (match probability) for the queue filter: name -> [lo, hi)
    "high": (0.99, 2.0), "mid": (0.9, 0.99), "low": (0.0, 0.9),
}
SEP = "\x1f"  # joins wanted_id and person_id into one key (never in an id)


def fold(text: object) -> str:
    return unicodedata.normalize("NFC", str(text or "")).strip().casefold()


def danger_rank(levels: pa.Array | pa.ChunkedArray) -> np.ndarray:
    folded = [fold(x) for x in DANGER_ORDER]
    values = pc.utf8_lower(pc.utf8_trim_whitespace(pc.fill_null(pc.cast(levels, pa.string()), "")))
    values = pc.utf8_normalize(values, "NFC")
    rank = pc.index_in(values, value_set=pa.array(folded))
    return np.asarray(pc.fill_null(rank, len(DANGER_ORDER)).to_numpy(zero_copy_only=False), dtype=np.int8)


@dataclass
class Filters:
    """The queue's filters (GET parameters): danger rank, flags that must be set, unit, score band."""

    danger: int | None = None
    flags: tuple[str, ...] = ()
    unit: int | None = None
    band: str | None = None

    @classmethod
    def parse(cls, params: Any, units: list[str]) -> Filters:
        danger = params.get("danger")
        unit = params.get("unit")
        flags = tuple(f for f in params.getlist("flag") if f in FLAGS) if hasattr(params, "getlist") else ()
        return cls(
            danger=int(danger) if danger in {"0", "1", "2", "3"} else None,
            flags=flags,
            unit=int(unit) if unit and unit.isdigit() and int(unit) < len(units) else None,
            band=params.get("band") if params.get("band") in BANDS else None,
        )

    def query(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        if self.danger is not None:
            out.append(("danger", str(self.danger)))
        out += [("flag", f) for f in self.flags]
        if self.unit is not None:
            out.append(("unit", str(self.unit)))
        if self.band:
            out.append(("band", self.band))
        return out


# The person's current state as the run judged the change flags on it (docs/matching.md "Current state").
CURRENT = ("current_full_name", "current_address", "current_source", "current_record_date", "person_status", "age")


@dataclass
class Row:
    """One candidate, for a page."""

    pos: int
    wanted_id: str
    person_id: str
    rank: int
    danger: int
    danger_level: str
    issuing_unit: str
    match_weight: float
    match_probability: float
    flags: dict[str, bool]
    mw: dict[str, float]
    explanation: str
    sources: str
    evidence: str
    state: str
    requeue_reason: str | None
    decided_by: str | None
    current: dict[str, Any] = field(default_factory=dict)  # the person's current state (matches' current_* columns)


@dataclass
class Candidates:
    """Every candidate of a run in queue order, with the live decisions kept in step."""

    table: pa.Table  # the matches in queue order, plus danger_level and issuing_unit
    threshold: float
    store: Store
    comparisons: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.table = self.table.combine_chunks()
        t = self.table
        self.n = t.num_rows
        self.wanted = np.asarray(t["wanted_id"].to_numpy(zero_copy_only=False), dtype=object)
        self.person = np.asarray(t["person_id"].to_numpy(zero_copy_only=False), dtype=object)
        self.prob = t["match_probability"].to_numpy(zero_copy_only=False).astype(np.float64)
        self.weight = t["match_weight"].to_numpy(zero_copy_only=False).astype(np.float64)
        self.danger = danger_rank(t["danger_level"])
        self.flag = {f: np.asarray(pc.fill_null(t[f], False).to_numpy(zero_copy_only=False), dtype=bool)
                     for f in FLAGS if f in t.column_names}
        units = pc.fill_null(pc.cast(t["issuing_unit"], pa.string()), "")
        encoded = pc.dictionary_encode(units.combine_chunks() if isinstance(units, pa.ChunkedArray) else units)
        self.units: list[str] = encoded.dictionary.to_pylist()
        self.unit = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int32)
        self.key = pd.Index(pd.Series(self.wanted).astype(str) + SEP + pd.Series(self.person).astype(str))
        self.above = self.prob >= self.threshold
        self.evidence = evidence_fingerprint(t)
        self.state = np.zeros(self.n, dtype=np.int8)
        self.requeued = np.zeros(self.n, dtype=bool)
        self.reason: dict[int, str] = {}
        self.live: dict[int, dict[str, Any]] = {}  # pos -> the live row (decided pairs only)
        self.pending: dict[int, str] = {}  # pos -> who made the match that waits for a second reviewer
        order = np.argsort(self.wanted.astype(str), kind="stable")
        self._by_wanted = order
        self._wanted_sorted = self.wanted[order].astype(str)
        self.last_id = 0
        self._lock = threading.Lock()
        self.refresh()

    # -- the change feed -----------------------------------------------------------------------
    def refresh(self) -> None:
        """Apply the store's rows appended since the last call (cheap: only new rows)."""
        with self._lock:
            rows, last = self.store.changes_since(self.last_id)
            if rows.num_rows == 0:
                return
            self._apply(rows)
            self.last_id = last

    def _apply(self, rows: pa.Table) -> None:
        keys = pc.binary_join_element_wise(rows["wanted_id"], rows["person_id"], SEP).to_numpy(zero_copy_only=False)
        pos = self.key.get_indexer(keys)
        ids = rows["id"].to_numpy()
        live = rows["deleted_at"].is_null().to_numpy(zero_copy_only=False)
        newest: dict[int, int] = {}  # pos -> row number in `rows` of its newest row (ids ascend)
        for i, p in enumerate(pos):
            if p >= 0:
                newest[int(p)] = i
        if not newest:
            return
        cols = {c: rows[c].to_pylist() for c in ("state", "reviewer", "decided_at", "note", "match_weight", "evidence", "id")}
        changed = np.fromiter(newest.keys(), dtype=np.int64, count=len(newest))
        for p, i in newest.items():
            if live[i]:
                self.state[p] = STATE_CODE.get(cols["state"][i], NONE)
                self.live[p] = {c: cols[c][i] for c in cols}
            else:
                self.state[p] = NONE
                self.live.pop(p, None)
            if self.state[p] == PENDING:
                self.pending[p] = cols["reviewer"][i]
            else:
                self.pending.pop(p, None)
        del ids
        # Re-queue reasons for the changed pairs only (one vectorised call).
        states = pa.array([STATES[s] if s != NONE else None for s in self.state[changed]], pa.string())
        w_at = pa.array([self.live.get(int(p), {}).get("match_weight") for p in changed], pa.float64())
        ev_at = pa.array([self.live.get(int(p), {}).get("evidence") for p in changed], pa.string())
        id_now = pa.array(self.flag["id_match"][changed]) if "id_match" in self.flag else None
        reasons = requeue_reasons(states, w_at, ev_at, pa.array(self.weight[changed]), id_now, self.store.rules).to_pylist()
        for p, r in zip(changed.tolist(), reasons):
            self.requeued[p] = r is not None
            if r is None:
                self.reason.pop(p, None)
            else:
                self.reason[p] = r

    # -- lookups -------------------------------------------------------------------------------
    def position(self, wanted_id: str, person_id: str) -> int | None:
        p = self.key.get_indexer([f"{wanted_id}{SEP}{person_id}"])[0]
        return int(p) if p >= 0 else None

    def of_wanted(self, wanted_id: str) -> list[int]:
        lo = np.searchsorted(self._wanted_sorted, wanted_id, side="left")
        hi = np.searchsorted(self._wanted_sorted, wanted_id, side="right")
        return sorted(int(x) for x in self._by_wanted[lo:hi])

    def row(self, pos: int) -> Row:
        return self.rows([pos])[0]

    def rows(self, positions: list[int]) -> list[Row]:
        """The candidates at these positions (one Arrow take for all of them)."""
        if not positions:
            return []
        out = []
        for pos, values in zip(positions, self.table.take(pa.array(positions, pa.int64())).to_pylist()):
            live = self.live.get(pos)
            out.append(Row(
                pos=pos, wanted_id=str(self.wanted[pos]), person_id=str(self.person[pos]), rank=values.get("rank") or 0,
                danger=int(self.danger[pos]), danger_level=values.get("danger_level") or "",
                issuing_unit=values.get("issuing_unit") or "", match_weight=float(self.weight[pos]),
                match_probability=float(self.prob[pos]), flags={f: bool(a[pos]) for f, a in self.flag.items()},
                mw={c: float(values.get("mw_" + c) or 0.0) for c in self.comparisons},
                explanation=values.get("explanation") or "", sources=values.get("sources") or "",
                evidence=self.evidence[pos].as_py(), state=STATES[int(self.state[pos])],
                requeue_reason=self.reason.get(pos), decided_by=live["reviewer"] if live else None,
                current={k: values[k] for k in CURRENT if values.get(k) is not None}))
        return out

    # -- the queue -----------------------------------------------------------------------------
    def filter_mask(self, f: Filters) -> np.ndarray:
        mask = np.ones(self.n, dtype=bool)
        if f.danger is not None:
            mask &= self.danger == f.danger
        for name in f.flags:
            if name in self.flag:
                mask &= self.flag[name]
        if f.unit is not None:
            mask &= self.unit == f.unit
        if f.band is not None:
            lo, hi = BANDS[f.band]
            mask &= (self.prob >= lo) & (self.prob < hi)
        return mask

    def _held(self, reviewer: str) -> np.ndarray:
        held = self.store.claimed_by_others(reviewer)
        if not held:
            return np.zeros(0, dtype=np.int64)
        pos = self.key.get_indexer([f"{w}{SEP}{p}" for w, p in held])
        return pos[pos >= 0]

    def queue_mask(self, reviewer: str, f: Filters) -> np.ndarray:
        """Undecided at or above the threshold, or re-queued; filtered; minus pairs others hold."""
        mask = ((self.state == NONE) & self.above) | self.requeued
        mask &= self.filter_mask(f)
        mask[self._held(reviewer)] = False
        return mask

    def confirm_mask(self, reviewer: str) -> np.ndarray:
        """Pending matches made by someone else (the two-person rule's "to confirm" queue)."""
        mask = np.zeros(self.n, dtype=bool)
        mine = [p for p, who in self.pending.items() if who != reviewer]
        mask[np.asarray(mine, dtype=np.int64)] = True
        mask[self._held(reviewer)] = False
        return mask

    @staticmethod
    def first(mask: np.ndarray, start: int = 0, limit: int = 1) -> list[int]:
        """The first `limit` true positions at or after `start` (then from the top, wrapping)."""
        after = np.flatnonzero(mask[start:])[:limit] + start
        if len(after) >= limit or start == 0:
            return after.tolist()
        before = np.flatnonzero(mask[:start])[: limit - len(after)]
        return after.tolist() + before.tolist()

    @staticmethod
    def previous(mask: np.ndarray, pos: int) -> int | None:
        before = np.flatnonzero(mask[:pos])
        return int(before[-1]) if len(before) else None

    def counts(self, mask: np.ndarray) -> dict[str, int]:
        return {"total": int(np.count_nonzero(mask)),
                **{str(d): int(np.count_nonzero(mask & (self.danger == d))) for d in range(len(DANGER_ORDER) + 1)}}


def queue_order(table: pa.Table) -> pa.Table:
    """The matches sorted in queue order (done once, at load)."""
    rank = danger_rank(table["danger_level"])
    idm = np.asarray(pc.fill_null(table["id_match"], False).to_numpy(zero_copy_only=False), dtype=bool) \
        if "id_match" in table.column_names else np.zeros(table.num_rows, dtype=bool)
    prob = table["match_probability"].to_numpy(zero_copy_only=False)
    weight = table["match_weight"].to_numpy(zero_copy_only=False)
    # np.lexsort: the last key is the primary one.
    order = np.lexsort((-weight, -prob, ~idm, rank))
    return table.take(pa.array(order))


def load_matches(path: Path, wanted: pa.Table) -> pa.Table:
    """matches.parquet joined with each wanted record's danger level and issuing unit."""
    if not is_matches(path):
        raise InputError(f"{path}: matches file not found (give a run folder's matches.parquet)")
    matches = read_matches(path)
    for col in ("wanted_id", "person_id", "match_weight", "match_probability"):
        if col not in matches.column_names:
            raise InputError(f"{path}: column {col} missing; is this a `linkage run` matches.parquet?")
    matches = matches.drop_columns([c for c in ("danger_level", "issuing_unit", "decision", "requeue_reason")
                                    if c in matches.column_names])
    side = pa.table({
        "wanted_id": pc.cast(wanted["wanted_id"], pa.string()),
        "danger_level": pc.cast(wanted["danger_level"], pa.string()) if "danger_level" in wanted.column_names
        else pa.nulls(wanted.num_rows, pa.string()),
        "issuing_unit": pc.cast(wanted["issuing_unit"], pa.string()) if "issuing_unit" in wanted.column_names
        else pa.nulls(wanted.num_rows, pa.string()),
    })
    matches = matches.append_column("__row", pa.array(np.arange(matches.num_rows)))
    joined = matches.join(side, keys="wanted_id", join_type="left outer").sort_by("__row").drop_columns(["__row"])
    return queue_order(joined)


def comparisons_of(table: pa.Table) -> list[str]:
    return [c[3:] for c in table.column_names if c.startswith("mw_")]
