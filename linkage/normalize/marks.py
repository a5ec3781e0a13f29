"""Identifying marks (đặc điểm nhận dạng): free text on an ID card or a wanted notice, read into
marks a machine can compare.

"Sẹo chấm C 1cm dưới sau cánh mũi trái" becomes kind `seo`, landmark `canh_mui`, side `trai`,
directions `duoi+sau`, 1.0 cm, shape `chấm`. Two records then agree on a mark when they share
kind, landmark and side (the key), whatever the words, order or abbreviations. All vocabularies
live in rules/marks.yaml. Each DISTINCT text is read once (a register repeats few mark texts).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from linkage.errors import RulesError
from linkage.rules import load_yaml, rules_dir

RULES_FILE = "marks.yaml"
SECTIONS = ("kinds", "shapes", "landmarks", "sides", "directions", "units_cm", "separators")


def fold(text: str) -> str:
    """Lower case without diacritics (đ -> d): how marks written without accents are matched."""
    t = unicodedata.normalize("NFD", text.lower()).replace("đ", "d")
    return "".join(c for c in t if not unicodedata.combining(c))


@dataclass(frozen=True)
class Mark:
    kind: str
    landmark: str = ""
    side: str = ""
    directions: tuple[str, ...] = ()
    distance_cm: float | None = None
    shapes: tuple[str, ...] = ()

    @property
    def key(self) -> str | None:
        """What two records must share to show the same mark; None when the place is unknown."""
        return f"{self.kind}|{self.landmark}|{self.side or '?'}" if self.landmark else None

    @property
    def detail(self) -> str:
        dist = "" if self.distance_cm is None else f"{self.distance_cm:g}"
        return "|".join((self.kind, self.landmark, self.side, "+".join(self.directions), dist, "+".join(self.shapes)))


@dataclass(frozen=True)
class _Vocab:
    """The rules compiled for one writing mode (with diacritics, or folded)."""

    kinds: re.Pattern
    kind_of: dict[str, str]
    landmarks: re.Pattern
    landmark_of: dict[str, str]
    sides: re.Pattern
    side_of: dict[str, str]
    directions: re.Pattern
    direction_of: dict[str, str]
    shapes: re.Pattern
    distance: re.Pattern
    unit_cm: dict[str, float]
    half: str
    separators: re.Pattern
    separators_re2: str  # the same alternation for Arrow's kernels (RE2)


def _alternation(forms: list[str], period_at_end: bool = False) -> re.Pattern:
    """Whole-word alternatives, longest first (so "đuôi mắt" wins over "mắt"). With
    `period_at_end`, an abbreviation's period ("tr.") may be the full stop that ends the mark
    (a segment is read without it: "gò má tr." ends as "gò má tr")."""
    def one(f: str) -> str:
        if period_at_end and f.endswith(".") and len(f) > 1:
            return re.escape(f[:-1]) + r"(?:\.|$)"
        return re.escape(f)
    alts = "|".join(one(f) for f in sorted(set(forms), key=len, reverse=True))
    return re.compile(rf"(?<![\w.])(?:{alts})(?!\w)")


def _table(data: dict, section: str, path: Path, mode) -> dict[str, str]:
    table = data.get(section)
    if not isinstance(table, dict) or not table:
        raise RulesError(f"{path}: '{section}' must map each key to a list of written forms")
    out: dict[str, str] = {}
    for key, forms in table.items():
        if not isinstance(forms, list) or not all(isinstance(f, str) and f.strip() for f in forms):
            raise RulesError(f"{path}: {section}.{key}: expected a list of written forms")
        for f in forms:
            form = mode(f.strip())
            if out.get(form, key) != key:
                raise RulesError(f"{path}: {section}: form {f!r} belongs to both {out[form]} and {key}")
            out[form] = key
    return out


def _compile(data: dict, path: Path, mode) -> _Vocab:
    kinds = _table(data, "kinds", path, mode)
    landmarks = _table(data, "landmarks", path, mode)
    sides = _table(data, "sides", path, mode)
    directions = _table(data, "directions", path, mode)
    units = {mode(str(u)): float(v) for u, v in (data.get("units_cm") or {}).items()}
    if not units:
        raise RulesError(f"{path}: 'units_cm' must map each unit to its length in centimetres")
    unit_alt = "|".join(re.escape(u) for u in sorted(units, key=len, reverse=True))
    half = mode("rưỡi")
    seps = [s.replace("\\n", "\n") for s in data.get("separators") or []]
    return _Vocab(
        kinds=_alternation(list(kinds)), kind_of=kinds,
        landmarks=_alternation(list(landmarks)), landmark_of=landmarks,
        sides=_alternation(list(sides), period_at_end=True), side_of=sides,
        directions=_alternation(list(directions)), direction_of=directions,
        shapes=_alternation([mode(s) for s in data.get("shapes") or []] or ["\x00"]),
        distance=re.compile(rf"(\d+(?:[.,]\d+)?)\s*({unit_alt})(?!\w)(\s*{re.escape(half)}(?!\w))?"),
        unit_cm=units, half=half,
        separators=re.compile("|".join(re.escape(s) for s in seps) or "\x00"),
        separators_re2="|".join("".join(c if c.isalnum() and c.isascii() else f"\\x{{{ord(c):x}}}" for c in s)
                                for s in seps) or "\\x{0}",
    )


@lru_cache(maxsize=8)
def _vocabs(key: str) -> tuple[_Vocab, _Vocab]:
    path = Path(key) / RULES_FILE
    data = load_yaml(RULES_FILE, key)
    missing = [s for s in SECTIONS if s not in data]
    if missing:
        raise RulesError(f"{path}: missing section(s) {missing}")
    return _compile(data, path, lambda s: unicodedata.normalize("NFC", s.lower())), _compile(data, path, fold)


_COMMA = re.compile(r"(?<!\d),|,(?!\d)")  # a decimal comma ("1,5cm") stays
_PUNCT = re.compile(r"[:()\[\]\"'“”]")
_BLANKS = re.compile(r"[ \t\r\f\v\u00a0]+")


def _clean(text: str) -> str:
    t = unicodedata.normalize("NFC", text).lower()
    t = _PUNCT.sub(" ", _COMMA.sub(" ", t))
    return _BLANKS.sub(" ", t).strip()


def _read_one(segment: str, prefix: str, v: _Vocab) -> Mark | None:
    """One mark from a segment that starts with a kind word; the text before the first kind of a
    piece ("Trán có sẹo ...") is where the place is looked for when the segment names none."""
    m = v.kinds.match(segment)
    if m is None:
        return None
    kind = v.kind_of[m.group(0)]
    body = segment[m.end():]
    dist = None
    d = v.distance.search(body)
    if d:
        dist = float(d.group(1).replace(",", ".")) * v.unit_cm[d.group(2)] + (0.5 * v.unit_cm[d.group(2)] if d.group(3) else 0)
        body = body[:d.start()] + " " + body[d.end():]
    where = body
    lm = v.landmarks.search(where)
    if lm is None and prefix:
        where = prefix
        lm = v.landmarks.search(where)
    landmark = v.landmark_of[lm.group(0)] if lm else ""
    rest = (where[:lm.start()] + " " + where[lm.end():]) if lm else where
    if where is prefix:
        rest = body + " " + rest
    sides = [v.side_of.get(s) or v.side_of[s + "."] for s in v.sides.findall(rest)]  # "tr" = "tr." at the end
    dirs = sorted({v.direction_of[s] for s in v.directions.findall(rest)})
    shapes = tuple(dict.fromkeys(v.shapes.findall(body)))
    return Mark(kind, landmark, sides[-1] if sides else "", tuple(dirs), dist, shapes)


def read_marks(text: str, rules: str | Path | None = None) -> list[Mark]:
    """Every mark in one text, in the order written; words that name no kind are ignored."""
    return _read_marks(text, str(rules_dir(rules)))


def _read_marks(text: str, key: str) -> list[Mark]:
    """read_marks with the rules folder resolved (once per column, not once per text)."""
    folded, pieces = _split(text, key)
    return [m for piece in pieces for m in _read_piece(piece, key, folded)]


def _split(text: str, key: str) -> tuple[bool, list[str]]:
    """A text cleaned and cut at the separators: (read without diacritics, its pieces)."""
    t = _clean(text)
    if not t:
        return False, []
    exact, folded = _vocabs(key)
    v = folded if t.isascii() else exact
    if v is folded:
        t = fold(t)
    return v is folded, [p.strip() for p in v.separators.split(t.replace("\n", " \n ") if "\n" in t else t)]


@lru_cache(maxsize=1 << 16)
def _read_piece(piece: str, key: str, folded: bool) -> tuple[Mark, ...]:
    """The marks of one piece of a text (between separators). Cached: a register's texts are
    mostly distinct, their pieces are not (at 1M, 244k distinct texts of the cards; 20k of them
    hold 10k distinct pieces)."""
    v = _vocabs(key)[1 if folded else 0]
    starts = [m.start() for m in v.kinds.finditer(piece)]
    prefix = piece[:starts[0]] if starts else ""
    found = (_read_one(piece[a:b].strip(" ."), prefix if a == starts[0] else "", v)
             for a, b in zip(starts, starts[1:] + [len(piece)]))
    return tuple(m for m in found if m is not None)


# Texts whose cleaning Arrow's kernels do as Python does: letters of the Latin blocks Vietnamese
# uses, combining marks, printable ASCII, ASCII whitespace, the no-break space and curly quotes.
# Python's str.lower / strip / \d and utf8proc's differ outside them ("İ", a final sigma, other
# digits and spaces): those texts are cleaned in Python (tests/test_marks_arrow.py).
_NOT_PLAIN_RE2 = (r"[^\x{9}-\x{d}\x{20}-\x{7e}\x{a0}-\x{12f}\x{131}-\x{24f}\x{300}-\x{36f}\x{1e00}-\x{1eff}"
                  r"\x{2018}\x{2019}\x{201c}\x{201d}]")
_TRIM = " \t\n\x0b\x0c\r"  # what Python's strip removes from a cleaned plain text


def _clean_arrow(texts: pa.Array) -> pa.Array:
    """_clean on plain texts (_NOT_PLAIN_RE2 finds nothing) in Arrow's kernels. RE2 has no
    look-around: a decimal comma ("1,5cm") is set aside as \x01 (two passes: "1,2,3" overlaps)
    while the other commas go."""
    # NFC changes a plain text only where it holds a combining mark (a quarter of the time on
    # Arrow's side goes to texts it leaves as they are)
    combining = pc.match_substring_regex(texts, r"[\x{300}-\x{36f}]")
    t = pc.utf8_lower(pc.replace_with_mask(texts, combining, pc.utf8_normalize(texts.filter(combining), "NFC"))
                      if pc.any(combining).as_py() else texts)
    for _ in range(2):
        t = pc.replace_substring_regex(t, r"([0-9]),([0-9])", "\\1\x01\\2")
    t = pc.replace_substring(pc.replace_substring(t, ",", " "), "\x01", ",")
    t = pc.replace_substring_regex(t, r"[:()\[\]\"'\x{201c}\x{201d}]", " ")
    t = pc.replace_substring_regex(t, r"[\t\r\x{c}\x{b}\x{a0}]", " ")  # a run of blanks as one space,
    t = pc.replace_substring_regex(t, r" {2,}", " ")  # in two passes: one with `+` costs 6 times more
    return pc.utf8_trim(t, _TRIM)


def _split_all(texts: pa.Array, key: str) -> tuple[pa.ListArray, np.ndarray]:
    """_split of every (distinct, non-null) text: its pieces as a list array, and whether each is
    read without diacritics. Plain texts are cut in Arrow; the others one by one in Python."""
    n = len(texts)
    odd = pc.match_substring_regex(texts, _NOT_PLAIN_RE2).to_numpy(zero_copy_only=False)
    plain = np.flatnonzero(~odd)
    t = _clean_arrow(texts.take(pa.array(plain)))
    folded = pc.string_is_ascii(t).to_numpy(zero_copy_only=False)
    t = pc.replace_substring(t, "\n", " \n ")
    pieces = pc.split_pattern_regex(t, _vocabs(key)[0].separators_re2)
    pieces = pa.ListArray.from_arrays(pieces.offsets, pc.utf8_trim(pieces.flatten(), _TRIM))
    rest = np.flatnonzero(odd)
    split = [_split(x, key) for x in texts.take(pa.array(rest)).to_pylist()]
    lists = pa.concat_arrays([pieces, pa.array([p for _, p in split], pa.list_(pa.string()))])
    order = np.empty(n, dtype=np.int64)
    order[np.concatenate([plain, rest])] = np.arange(n)
    is_folded = np.concatenate([folded, np.array([f for f, _ in split], dtype=bool)])
    return lists.take(pa.array(order)), is_folded[order]


def _per_text(counts: np.ndarray, occ_text: np.ndarray, n_texts: int) -> np.ndarray:
    """List offsets of each text from the item counts of its piece occurrences."""
    per = np.bincount(occ_text, weights=counts, minlength=n_texts).astype(np.int64)
    return np.concatenate([[0], np.cumsum(per)])


def _read_all(texts: pa.Array, key: str) -> tuple[pa.ListArray, pa.ListArray, np.ndarray]:
    """Each text's sorted distinct keys, its details in order and its count of marks: every
    distinct piece (with its writing mode) is read once, the texts assembled in numpy and Arrow."""
    lists, folded = _split_all(texts, key)
    occ_text = pc.list_parent_indices(lists).to_numpy()
    flags = pa.array(np.where(folded[occ_text], "1", "0"))
    enc = pc.binary_join_element_wise(lists.flatten(), flags, "").dictionary_encode()
    occ = enc.indices.to_numpy(zero_copy_only=False)
    read = [_read_piece(k[:-1], key, k[-1] == "1") for k in enc.dictionary.to_pylist()]
    n_marks = np.array([len(ms) for ms in read], dtype=np.int64)
    details = pa.array([[m.detail for m in ms] for ms in read], pa.list_(pa.string()))
    text_details = pa.ListArray.from_arrays(_per_text(n_marks[occ], occ_text, len(texts)),
                                            details.take(pa.array(occ)).flatten())
    piece_keys = [[m.key for m in ms if m.key] for ms in read]
    vocab = sorted({k for ks in piece_keys for k in ks})
    rank = {k: i for i, k in enumerate(vocab)}
    key_codes = pa.array([[rank[k] for k in ks] for ks in piece_keys], pa.list_(pa.int64()))
    taken = key_codes.take(pa.array(occ))
    pairs = np.unique(occ_text[pc.list_parent_indices(taken).to_numpy()] * max(len(vocab), 1)
                      + taken.flatten().to_numpy())
    text_of, code = np.divmod(pairs, max(len(vocab), 1))
    offsets = np.concatenate([[0], np.cumsum(np.bincount(text_of, minlength=len(texts)))])
    text_keys = pa.ListArray.from_arrays(pa.array(offsets, pa.int32()),
                                         pa.array(vocab, pa.string()).take(pa.array(code)))
    return text_keys, text_details, np.bincount(occ_text, weights=n_marks[occ], minlength=len(texts)).astype(np.int64)


# Distinct texts from which the Arrow path pays: below, its kernels' fixed cost (about 0.6 ms a
# call of normalize_marks) exceeds the work, and a few texts (the desk's record) are read in Python.
_ARROW_FROM = 1000


def normalize_marks(values: pd.Series, rules: str | Path | None = None) -> pd.DataFrame:
    """Index-aligned columns: `marks_keys` (kind|landmark|side per mark whose place is known; side
    "?" when not written), `marks_detail` (every mark, with directions, distance and shape, for a
    reviewer) and `marks_n` (marks read; 0 for a text in which no mark could be read, missing
    for no text). Each distinct text once; many texts are cleaned and cut in Arrow's kernels."""
    arr = pa.array(values.astype("string").array, from_pandas=True)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    enc = pc.dictionary_encode(arr.cast(pa.string()))
    texts, key = enc.dictionary, str(rules_dir(rules))
    codes = pc.fill_null(enc.indices, len(texts)).to_numpy(zero_copy_only=False)  # len(texts): missing
    if len(texts) >= _ARROW_FROM:
        keys, details, n = _read_all(texts, key)
        none, take = pa.array([[]], pa.list_(pa.string())), pa.array(codes)
        row_keys = pa.concat_arrays([keys.cast(none.type), none]).take(take).to_pylist()
        row_details = pa.concat_arrays([details.cast(none.type), none]).take(take).to_pylist()
    else:
        read = [_read_marks(t, key) for t in texts.to_pylist()] + [[]]
        row_keys = [sorted({m.key for m in read[c] if m.key}) for c in codes]
        row_details = [[m.detail for m in read[c]] for c in codes]
        n = np.array([len(ms) for ms in read[:-1]], dtype=np.int64)
    blank = pc.equal(pc.utf8_trim_whitespace(texts), "").to_numpy(zero_copy_only=False)  # pandas' str.strip
    count = pd.array(np.append(n, 0)[codes], dtype="Int32")
    count[np.append(blank, True)[codes]] = pd.NA
    return pd.DataFrame({
        "marks_keys": pd.Series(row_keys, index=values.index, dtype=object),
        "marks_detail": pd.Series(row_details, index=values.index, dtype=object),
        "marks_n": count,
    }, index=values.index)
