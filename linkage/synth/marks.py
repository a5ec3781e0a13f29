"""Identifying marks (đặc điểm nhận dạng) of the synthetic people: what each person carries, as
the ID card prints it and as a wanted notice describes it in its own words.

A person's marks are drawn once (kind, place, side, directions, distance, look), so a notice and
the person's card describe the same marks; namesakes draw theirs independently. The card writes
them one standard way ("Sẹo chấm C 1cm dưới sau cánh mũi trái"); a notice writes them as an
officer would: "cách"/"C", "phân"/"cm", another word order, abbreviations (rules/marks.yaml's
other forms, "T"/"P"), parts left out, without diacritics, sometimes one mark of two, sometimes
a mark the card does not show. Rates live in rates.py, words in rules/marks.yaml. Everything
here draws from its own random stream (`stream`), so the other columns of a generated folder do
not change with the marks.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pyarrow as pa

from linkage.normalize.marks import fold
from linkage.rules import load_yaml
from linkage.synth import rates as R

STREAM_KEY = 0x6D61726B  # "mark": the marks' random stream is seeded from (seed, this constant)
SLOTS = 2  # marks per person at most
SIDES = ("", "trai", "phai")
VDIRS = ("", "tren", "duoi")
HDIRS = ("", "truoc", "sau")


def stream(seed: int, part: int = 0) -> np.random.Generator:
    """The marks' own random stream for a seed (`part` tells apart the people it serves)."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), STREAM_KEY, part]))


@lru_cache(maxsize=1)
def _forms() -> dict[str, dict[str, list[str]]]:
    """The written forms of rules/marks.yaml: section -> key -> forms (the first is the standard)."""
    data = load_yaml("marks.yaml")
    return {s: {k: list(v) for k, v in data[s].items()} for s in ("kinds", "landmarks", "sides", "directions")}


@dataclass
class Marks:
    """Up to SLOTS marks per person (arrays n x SLOTS; kind -1 = no mark in that slot)."""

    kind: np.ndarray  # index into KINDS
    landmark: np.ndarray  # index into LANDMARKS
    side: np.ndarray  # index into SIDES
    vdir: np.ndarray  # index into VDIRS
    hdir: np.ndarray  # index into HDIRS
    dist: np.ndarray  # centimetres, 0 = not measured (body marks)
    look: np.ndarray  # shape word or tattoo motif ("" = none)

    @property
    def n(self) -> int:
        return len(self.kind)

    def take(self, rows: np.ndarray) -> "Marks":
        return Marks(*(getattr(self, f)[rows] for f in self.__dataclass_fields__))


KINDS = tuple(R.MARK_KIND_WEIGHT)
LANDMARKS = tuple(R.MARK_FACE_LANDMARKS) + tuple(R.MARK_BODY_LANDMARKS)


def _weights(d: dict[str, float]) -> np.ndarray:
    w = np.array(list(d.values()), dtype=float)
    return w / w.sum()


def draw_marks(n: int, rng: np.random.Generator) -> Marks:
    """Each person's marks: one, a second with MARKS_SECOND, at distinct places."""
    shape = (n, SLOTS)
    kind = rng.choice(len(KINDS), size=shape, p=_weights(R.MARK_KIND_WEIGHT)).astype(np.int16)
    kind[:, 1] = np.where(rng.random(n) < R.MARKS_SECOND, kind[:, 1], -1)
    body = np.isin(np.array(KINDS)[kind], R.MARK_BODY_KINDS)
    n_face = len(R.MARK_FACE_LANDMARKS)
    face_lm = rng.choice(n_face, size=shape, p=_weights(R.MARK_FACE_LANDMARKS))
    body_lm = n_face + rng.choice(len(R.MARK_BODY_LANDMARKS), size=shape, p=_weights(R.MARK_BODY_LANDMARKS))
    landmark = np.where(body, body_lm, face_lm).astype(np.int16)
    same = landmark[:, 1] == landmark[:, 0]  # a second mark elsewhere
    landmark[same, 1] = np.where(body[same, 1], n_face + (body_lm[same, 1] - n_face + 1) % len(R.MARK_BODY_LANDMARKS),
                                 (face_lm[same, 1] + 1) % n_face)
    unsided = np.isin(np.array(LANDMARKS)[landmark], R.MARK_UNSIDED)
    side = np.where(unsided, 0, rng.integers(1, 3, size=shape)).astype(np.int8)
    measured = ~body & (np.array(KINDS)[kind] != "tan_nhang")
    dist = np.where(measured, np.array(R.MARK_DISTANCE_CM)[rng.integers(0, len(R.MARK_DISTANCE_CM), size=shape)], 0.0)
    vdir = np.where(measured & (rng.random(shape) < 0.85), rng.integers(1, 3, size=shape), 0).astype(np.int8)
    hdir = np.where(measured & (rng.random(shape) < 0.6), rng.integers(1, 3, size=shape), 0).astype(np.int8)
    look = np.full(shape, "", dtype=object)
    u = rng.random(shape)
    pick = rng.random(shape)
    for k, words in R.MARK_SHAPES.items():
        hit = (np.array(KINDS)[kind] == k) & (u < R.MARK_SHAPE_SHARE)
        look[hit] = np.array(words, dtype=object)[(pick[hit] * len(words)).astype(int)]
    tattoo = np.array(KINDS)[kind] == "hinh_xam"
    motifs = np.array(R.MARK_TATTOO_MOTIFS, dtype=object)
    look[tattoo] = motifs[(pick[tattoo] * len(motifs)).astype(int)]
    return Marks(kind, landmark, side, vdir, hdir, dist, look)


def _cm(d: float) -> str:
    return f"{d:g}".replace(".", ",")


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def _card_one(m: Marks, i: int, j: int) -> str:
    f = _forms()
    kind = KINDS[m.kind[i, j]]
    words = [f["kinds"][kind][0]]
    if m.look[i, j]:
        words.append(m.look[i, j])
    if m.dist[i, j] > 0:
        words.append(f"C {_cm(m.dist[i, j])}cm")
        words += [f["directions"][d][0] for d in (VDIRS[m.vdir[i, j]], HDIRS[m.hdir[i, j]]) if d]
    else:
        words.append("ở")
    words.append(f["landmarks"][LANDMARKS[m.landmark[i, j]]][0])
    if m.side[i, j]:
        words.append(f["sides"][SIDES[m.side[i, j]]][0])
    return _cap(" ".join(words))


def card_texts(m: Marks) -> pa.Array:
    """Each person's marks as the ID card prints them (standard words and order, '; ' between)."""
    one = [_card_one(m, i, 0) for i in range(m.n)]
    two = np.flatnonzero(m.kind[:, 1] >= 0)
    for i in two:
        one[i] = one[i] + "; " + _card_one(m, i, 1)
    return pa.array(one, type=pa.string())


def _pick(d: dict[str, float], u: float) -> str:
    acc = 0.0
    total = sum(d.values())
    for k, w in d.items():
        acc += w / total
        if u < acc:
            return k
    return k


def _form(forms: list[str], rng: np.random.Generator) -> str:
    """The standard form, else another one of rules/marks.yaml's forms."""
    if len(forms) == 1 or rng.random() < R.WANTED_MARK_FORM_FIRST:
        return forms[0]
    return forms[1 + int(rng.integers(0, len(forms) - 1))]


def _notice_one(m: Marks, i: int, j: int, rng: np.random.Generator) -> str:
    """One mark as a wanted notice writes it."""
    f = _forms()
    drop = {k: rng.random() < p for k, p in R.WANTED_MARK_DROP.items()}
    kind = KINDS[m.kind[i, j]]
    kind_word = _form([w for w in f["kinds"][kind] if not w.startswith("xăm ")] or f["kinds"][kind], rng)
    look = m.look[i, j] if m.look[i, j] and (kind == "hinh_xam" or not drop["shape"]) else ""
    place = _form(f["landmarks"][LANDMARKS[m.landmark[i, j]]], rng)
    side = ""
    if m.side[i, j] and not drop["side"]:
        s = f["sides"][SIDES[m.side[i, j]]][0]
        style = _pick(R.WANTED_MARK_SIDE_FORM, rng.random())
        side = s if style == "full" else s[0].upper() if style == "letter" else "bên " + s
    dist = ""
    if m.dist[i, j] > 0 and not drop["distance"]:
        d = float(m.dist[i, j])
        if rng.random() < R.WANTED_MARK_DISTANCE_OFF:
            d = max(0.5, d + (0.5 if rng.random() < 0.5 else -0.5))
        unit = _pick(R.WANTED_MARK_UNIT, rng.random())
        amount = f"{_cm(d * 10)}mm" if unit == "mm" else f"{_cm(d)} phân" if unit == "phân" else f"{_cm(d)}cm"
        dist = f"{_pick(R.WANTED_MARK_CACH, rng.random())} {amount}"
    dirs = [f["directions"][d][0] for d in (VDIRS[m.vdir[i, j]], HDIRS[m.hdir[i, j]]) if d] if not drop["directions"] else []
    if len(dirs) == 2 and rng.random() < R.WANTED_MARK_DIRECTIONS_SWAPPED:
        dirs = dirs[::-1]
    where = " ".join(w for w in (place, side) if w)
    order = _pick(R.WANTED_MARK_ORDER, rng.random()) if dist else "card"
    head = " ".join(w for w in (kind_word, look) if w)
    if order == "place_first":  # "Sẹo chấm cách cánh mũi trái 1cm về phía dưới sau"
        dist_word, amount = dist.split(" ", 1)
        tail = f" về phía {' '.join(dirs)}" if dirs else ""
        text = f"{head} {'cách' if dist_word != 'C:' else 'C:'} {where} {amount}{tail}"
    elif order == "at_place":  # the distance left out: "Sẹo chấm ở dưới cánh mũi trái"
        text = " ".join(w for w in (head, "ở", *dirs, where) if w)
    else:
        text = " ".join(w for w in (head, dist, *dirs, where if dist or dirs else f"ở {where}") if w)
    return _cap(text)


def notice_texts(m: Marks, rng: np.random.Generator, fresh: Marks) -> list[str]:
    """Each wanted person's marks as the notice describes them ('' when the notice has none).
    `fresh`: other marks, one per row, for the notices that describe a mark the card does not show."""
    out = []
    seps = list(R.WANTED_MARK_SEPARATOR)
    for i in range(m.n):
        if rng.random() >= R.WANTED_MARKS_PRESENT:
            out.append("")
            continue
        slots = [0, 1] if m.kind[i, 1] >= 0 else [0]
        if len(slots) == 2 and rng.random() >= R.WANTED_MARKS_ALL:
            slots = [int(rng.integers(0, 2))]
        u = rng.random()
        parts = [_notice_one(fresh, i, 0, rng)] if u < R.WANTED_MARK_OTHER else [_notice_one(m, i, j, rng) for j in slots]
        if R.WANTED_MARK_OTHER <= u < R.WANTED_MARK_OTHER + R.WANTED_MARK_EXTRA:
            parts.append(_notice_one(fresh, i, 0, rng))
        sep = seps[int(np.searchsorted(np.cumsum(_weights(R.WANTED_MARK_SEPARATOR)), rng.random(), side="right"))
                   if len(seps) > 1 else 0]
        text = parts[0] + "".join(sep + (p[:1].lower() + p[1:] if sep in (", ", " và ") else p) for p in parts[1:])
        v = rng.random()
        if v < R.WANTED_MARK_FOLDED:
            text = fold(text)
        elif v < R.WANTED_MARK_FOLDED + R.WANTED_MARK_UPPER:
            text = text.upper()
        out.append(text)
    return out
