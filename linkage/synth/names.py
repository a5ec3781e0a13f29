"""Sampling and rendering Vietnamese names, column-wise.

A name is four token codes (surname, prefix, middle, given) plus a template flag: most people are
"S M G" (Nguyễn Văn Hùng); Ê Đê style names put the family last ("Y Bih Niê", "H'Hen Êban");
some highland names carry a prefix and no family name ("A Sang"). Codes index `Tables.vocab`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkage.synth import rates as R
from linkage.synth.tables import FEMALE, MALE, Categorical, Tables, piecewise


@dataclass
class NameCodes:
    sur: np.ndarray
    pre: np.ndarray
    mid: np.ndarray
    giv: np.ndarray
    attach: np.ndarray  # prefix written attached ("H'Hen")
    last: np.ndarray  # family name written last

    @classmethod
    def empty(cls, n: int) -> "NameCodes":
        z = np.zeros(n, dtype=np.int32)
        return cls(z.copy(), z.copy(), z.copy(), z.copy(), np.zeros(n, bool), np.zeros(n, bool))

    def take(self, idx: np.ndarray) -> "NameCodes":
        return NameCodes(*(getattr(self, f)[idx] for f in ("sur", "pre", "mid", "giv", "attach", "last")))

    def put(self, idx: np.ndarray, other: "NameCodes") -> None:
        for f in ("sur", "pre", "mid", "giv", "attach", "last"):
            getattr(self, f)[idx] = getattr(other, f)


def template_has(tables: Tables, eth: np.ndarray, tpl: np.ndarray, part: str) -> np.ndarray:
    """Whether each person's naming template contains `part` ("S", "P" or "M")."""
    out = np.zeros(len(eth), dtype=bool)
    for e, en in enumerate(tables.ethnic):
        for t, text in enumerate(en.templates):
            if part in text.split():
                out[(eth == e) & (tpl == t)] = True
    return out


def sample_templates(tables: Tables, eth: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    tpl = np.zeros(len(eth), dtype=np.int8)
    for e, en in enumerate(tables.ethnic):
        rows = np.flatnonzero(eth == e)
        if len(rows) and len(en.templates) > 1:
            tpl[rows] = rng.choice(len(en.templates), size=len(rows), p=en.template_p)
    return tpl


def kinh_surnames(tables: Tables, region: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """National shares; Hoàng->Huỳnh and Vũ->Võ by the region of origin."""
    sur = tables.kinh_surname.sample(rng, len(region))
    u = rng.random(len(region))
    huynh = np.array([R.HUYNH_SHARE_BY_REGION[r] for r in ("north", "centre", "south")])[region]
    vo = np.array([R.VO_SHARE_BY_REGION[r] for r in ("north", "centre", "south")])[region]
    sur = np.where((sur == tables.hoang) & (u < huynh), tables.huynh, sur)
    sur = np.where((sur == tables.vu) & (u < vo), tables.vo, sur)
    return sur.astype(np.int32)


def surnames(tables: Tables, eth: np.ndarray, region: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = np.zeros(len(eth), dtype=np.int32)
    kinh = np.flatnonzero(eth == 0)
    out[kinh] = kinh_surnames(tables, region[kinh], rng)
    for e, en in enumerate(tables.ethnic[1:], start=1):
        rows = np.flatnonzero(eth == e)
        if len(rows):
            out[rows] = en.parts["surname"].sample(rng, len(rows))
    return out


def other_surnames(tables: Tables, eth: np.ndarray, region: np.ndarray, avoid: np.ndarray,
                   rng: np.random.Generator) -> np.ndarray:
    """A family name different from `avoid` (a parent from another family)."""
    out = surnames(tables, eth, region, rng)
    for _ in range(10):
        clash = np.flatnonzero((out == avoid) & (avoid != 0))
        if not len(clash):
            return out
        out[clash] = surnames(tables, eth[clash], region[clash], rng)
    clash = np.flatnonzero((out == avoid) & (avoid != 0))
    for i in clash:  # a handful at most: take the next token of the group's list
        cat = tables.kinh_surname if eth[i] == 0 else tables.ethnic[eth[i]].parts["surname"]
        j = int(np.flatnonzero(cat.codes == avoid[i])[0]) if (cat.codes == avoid[i]).any() else -1
        out[i] = cat.codes[(j + 1) % len(cat.codes)]
    return out


def _kinh_middles(tables: Tables, gender: int, byear: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n = len(byear)
    young = byear >= R.WORD_COUNT_SG01_FROM_YEAR
    p_sg, p_ng = tables.word_count[(gender, "sg01")], tables.word_count[(gender, "ngxson")]
    shrink = piecewise(R.FOUR_WORD_SHRINK_BY_COHORT, byear)
    # probabilities of 2..5 words per person: ngxson shape with 4-5 word names shrunk for the old
    p = np.where(young[:, None], p_sg[None, :], p_ng[None, :]).copy()
    lost = (p[:, 2] + p[:, 3]) * (1 - np.where(young, 1.0, shrink))
    p[:, 2:] *= np.where(young, 1.0, shrink)[:, None]
    p[:, 1] += lost
    cum = np.cumsum(p, axis=1)
    nwords = 2 + (rng.random(n)[:, None] > cum[:, :-1]).sum(axis=1)
    mid = np.zeros(n, dtype=np.int32)
    for L in (1, 2, 3):
        rows = np.flatnonzero(nwords - 2 == L)
        if len(rows):
            mid[rows] = tables.middle[(gender, L)].sample(rng, len(rows))
    one = np.flatnonzero(nwords == 3)
    classic = rng.random(len(one)) < piecewise(R.CLASSIC_MIDDLE_BY_COHORT, byear[one])
    mid[one[classic]] = tables.classic_middle[gender]
    return mid


def _given(tables: Tables, gender: int, byear: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = np.zeros(len(byear), dtype=np.int32)
    young = byear >= R.WORD_COUNT_SG01_FROM_YEAR
    for flag in (False, True):
        rows = np.flatnonzero(young == flag)
        out[rows] = tables.given[(gender, flag)].sample(rng, len(rows))
    return out


def _part(en, name: str) -> Categorical | None:
    return en.parts.get(name)


def personal_names(tables: Tables, eth: np.ndarray, tpl: np.ndarray, gender: np.ndarray, byear: np.ndarray,
                   sur: np.ndarray, rng: np.random.Generator) -> NameCodes:
    """Prefix, middle and given name of each person (the family name `sur` is given)."""
    n = len(eth)
    out = NameCodes.empty(n)
    out.sur[:] = np.where(template_has(tables, eth, tpl, "S"), sur, 0)
    has_p = template_has(tables, eth, tpl, "P")
    has_m = template_has(tables, eth, tpl, "M")
    for e, en in enumerate(tables.ethnic):
        for t, text in enumerate(en.templates):
            out.last[(eth == e) & (tpl == t)] = text.split()[-1] == "S"
        for g, gname in ((MALE, "male"), (FEMALE, "female")):
            rows = np.flatnonzero((eth == e) & (gender == g))
            if not len(rows):
                continue
            # middle
            mrows = rows[has_m[rows]]
            own = _part(en, f"middle_{gname}")
            use_kinh = rng.random(len(mrows)) < en.p_kinh_middle if own is not None else np.ones(len(mrows), bool)
            out.mid[mrows[use_kinh]] = _kinh_middles(tables, g, byear[mrows[use_kinh]], rng)
            if own is not None:
                out.mid[mrows[~use_kinh]] = own.sample(rng, int((~use_kinh).sum()))
            # prefix
            prows = rows[has_p[rows]]
            pre = _part(en, f"prefix_{gname}")
            if pre is not None and len(prows):
                out.pre[prows] = pre.sample(rng, len(prows))
            # given
            own_g = _part(en, f"given_{gname}")
            kinh_g = rng.random(len(rows)) < en.p_kinh_given if own_g is not None else np.ones(len(rows), bool)
            out.giv[rows[kinh_g]] = _given(tables, g, byear[rows[kinh_g]], rng)
            if own_g is not None:
                out.giv[rows[~kinh_g]] = own_g.sample(rng, int((~kinh_g).sum()))
            for _ in range(10):  # "Nguyễn Văn Văn": a given name repeating the middle is redrawn
                clash = rows[(out.giv[rows] == tables.last_word[out.mid[rows]]) & (out.mid[rows] != 0)]
                if not len(clash):
                    break
                out.giv[clash] = _given(tables, g, byear[clash], rng)
    apos = tables.apostrophe[out.pre]
    out.attach = apos & (rng.random(n) < R.PREFIX_APOSTROPHE_ATTACHED)
    return out


def vocab_array(tables: Tables) -> pa.Array:
    """Token strings by code, with the empty token as null (so joins skip it)."""
    return pa.array([t if t else None for t in tables.vocab.tokens], type=pa.string())


def join_skip(arrays: list[pa.Array], sep: str) -> pa.Array:
    """Join row-wise, skipping nulls and empty strings (pyarrow's own null_handling="skip" drops
    rows that are null everywhere, so it is not used). Parts must not contain `sep` twice in a row."""
    out = pc.binary_join_element_wise(*arrays, sep, null_handling="replace", null_replacement="")
    if sep:
        esc = "\\" + sep if sep in ".^$*+?()[]{}|\\" else sep
        out = pc.replace_substring_regex(out, f"(?:{esc}){{2,}}", sep)
        out = pc.utf8_trim(out, sep)
    return out


def render(vocab: pa.Array, codes: NameCodes) -> pa.Array:
    """Full names as text, one per row."""
    S, P, M, G = (vocab.take(pa.array(getattr(codes, f))) for f in ("sur", "pre", "mid", "giv"))
    PG = pc.if_else(pa.array(codes.attach), join_skip([P, G], ""), join_skip([P, G], " "))
    return pc.if_else(pa.array(codes.last), join_skip([PG, S], " "), join_skip([S, M, PG], " "))
