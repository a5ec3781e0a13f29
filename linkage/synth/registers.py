"""Render the residents register and the ID-card register (input contract columns) as Arrow tables."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkage.synth.ids import fmt
from linkage.synth.names import NameCodes, join_skip, render
from linkage.synth.places import Places
from linkage.synth.population import People
from linkage.synth.tables import Tables

RESIDENT_COLUMNS = ("person_id", "full_name", "other_names", "gender", "birth_date", "birth_place", "hometown",
                    "permanent_address", "current_address", "ethnicity", "father_name", "mother_name", "status",
                    "updated_at")
CARD_COLUMNS = ("card_number", "old_id_number", "full_name", "gender", "birth_date", "hometown",
                "permanent_address", "issue_date", "identifying_marks")


def date_text(dates: np.ndarray, prec: np.ndarray | None = None, iso: np.ndarray | None = None) -> pa.Array:
    """dd/mm/yyyy, or mm/yyyy / yyyy by precision (2 day, 1 month, 0 year); yyyy-mm-dd where `iso`."""
    d = pa.array(dates.astype("datetime64[D]"))
    out = pc.strftime(d, format="%d/%m/%Y")
    if iso is not None:
        out = pc.if_else(pa.array(iso), pc.strftime(d, format="%Y-%m-%d"), out)
    if prec is not None:
        out = pc.if_else(pa.array(prec == 1), pc.strftime(d, format="%m/%Y"), out)
        out = pc.if_else(pa.array(prec == 0), pc.strftime(d, format="%Y"), out)
    return out


def gender_text(gender: np.ndarray) -> pa.Array:
    return pa.array(np.where(gender == 0, "Nam", "Nữ").astype(object), type=pa.string())


def ethnicity_text(tables: Tables, eth: np.ndarray) -> pa.Array:
    names = pa.array([e.name for e in tables.ethnic], type=pa.string())
    return names.take(pa.array(eth.astype(np.int64)))


def other_names(vocab: pa.Array, people: People) -> pa.Array:
    old = render(vocab, people.old_name)
    old = pc.if_else(pa.array(people.renamed), old, "")
    nick = pa.array(people.nickname, type=pa.string())
    extra = pa.array(people.extra_alias, type=pa.string())
    return join_skip([old, extra, nick], ";")


def parent_text(vocab: pa.Array, codes: NameCodes, known: np.ndarray) -> pa.Array:
    return pc.if_else(pa.array(known), render(vocab, codes), "")


def residents_table(people: People, tables: Tables, places: Places, vocab: pa.Array) -> pa.Table:
    """One register row per person, in the order of `people` (each row depends on its person only,
    so the register can be rendered a slice of people at a time)."""
    new = people.reg_new
    cols = {
        "person_id": fmt(people.pid, 12),
        "full_name": render(vocab, people.name),
        "other_names": other_names(vocab, people),
        "gender": gender_text(people.gender),
        "birth_date": date_text(people.birth, people.bprec),
        "birth_place": places.render(people.birth_ward, people.birth_new, np.zeros(people.n, bool),
                                     None, people.birth_prov_only),
        "hometown": places.render(people.home_ward, people.home_new, new, None, people.home_prov_only),
        "permanent_address": places.render(people.perm_ward, people.perm_new, new, people.perm_house),
        "current_address": pc.if_else(pa.array(people.cur_blank), "",
                                      places.render(people.cur_ward, people.cur_new, new, people.cur_house)),
        "ethnicity": ethnicity_text(tables, people.eth),
        "father_name": parent_text(vocab, people.father, people.parents_known),
        "mother_name": parent_text(vocab, people.mother, people.parents_known),
        "status": pa.array(np.where(people.deceased, "deceased", "alive").astype(object), type=pa.string()),
        "updated_at": pc.strftime(pa.array(people.updated_at), format="%Y-%m-%d"),
    }
    return pa.table(cols)


def card_name(people: People) -> NameCodes:
    """The name printed on the card: the old one if the card predates a name change."""
    codes = people.name.take(np.arange(people.n))
    old = np.flatnonzero(people.card_shows_old_name)
    codes.put(old, people.old_name.take(old))
    over = np.flatnonzero(people.card_override)
    codes.put(over, people.card_override_name.take(over))
    return codes


def card_address(people: People) -> tuple[np.ndarray, np.ndarray, pa.Array]:
    """The permanent address printed on the card: the family home if the card predates a move."""
    prev = people.card_shows_prev
    ward = np.where(prev, people.prev_ward, people.perm_ward)
    new = np.where(prev, people.prev_new, people.perm_new)
    house = pc.if_else(pa.array(prev), people.prev_house, people.perm_house)
    return ward, new, house


def card_order(people: People) -> np.ndarray:
    """The rows of the card holders in the card register's order (issue date, then number)."""
    rows = np.flatnonzero(people.has_card)
    return rows[np.lexsort((people.pid[rows], people.issue_date[rows]))]


def id_cards_table(people: People, tables: Tables, places: Places, vocab: pa.Array,
                   marks: pa.Array | None = None) -> pa.Table:
    """One card row per person of `people` (card holders, in `card_order`; rendered a slice at a
    time); `marks`: each person's identifying marks as the card prints them
    (linkage/synth/marks.py), the last column when given."""
    ward, new, house = card_address(people)
    cols = {
        "card_number": fmt(people.pid, 12),
        "old_id_number": pc.if_else(pa.array(people.cmnd >= 0), fmt(np.maximum(people.cmnd, 0), 9), ""),
        "full_name": render(vocab, card_name(people)),
        "gender": gender_text(people.gender),
        "birth_date": date_text(people.birth, people.bprec),
        "hometown": places.render(people.home_ward, people.home_new, people.card_new, None, people.home_prov_only),
        "permanent_address": places.render(ward, new, people.card_new, house),
        "issue_date": pc.strftime(pa.array(people.issue_date), format="%Y-%m-%d"),
    }
    if marks is not None:
        cols["identifying_marks"] = marks
    return pa.table(cols)
