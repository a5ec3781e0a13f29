"""Comparison kinds: for each level of a comparison, the condition that puts a pair in it.

A condition is either a SQL boolean over the prepared columns (`l.` wanted, `r.` register record),
evaluated by DuckDB for the whole batch, or a `Fuzzy` similarity band computed with rapidfuzz on
the batch's Arrow columns. A pair falls in the first level (in the rules' order) whose condition
holds; the null level (-1) applies when the null condition holds and is worth nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from linkage.settings import Comparison


@dataclass(frozen=True)
class Fuzzy:
    """A similarity band: Jaro-Winkler of two string columns at or above a threshold."""

    left: str
    right: str
    threshold: float


Condition = str | Fuzzy


@dataclass(frozen=True)
class KindSpec:
    null: str
    conditions: dict[str, Condition]


def _present(expr: str) -> str:
    return f"({expr} IS NOT NULL AND {expr} <> '')"


# The same name parts, reordered or a middle name missing on a side or contained in the other's:
# the full-name comparison's `reordered` level, and where the name parts stay silent.
_SAME_PARTS = (
    "l.name_sorted = r.name_sorted OR (l.family_ascii = r.family_ascii "
    "AND l.given_ascii = r.given_ascii AND (coalesce(l.middle_ascii, '') = '' "
    "OR coalesce(r.middle_ascii, '') = '' "
    "OR list_has_all(string_split(l.middle_ascii, ' '), string_split(r.middle_ascii, ' ')) "
    "OR list_has_all(string_split(r.middle_ascii, ' '), string_split(l.middle_ascii, ' '))))"
)

# Which parts of two different names agree: the full name's structural levels. Each names the
# parts that are equal by construction there; those parts stay silent at that level (its term
# frequency is the equal parts' own), and the part that differs speaks for how it differs.
_SAME_FAMILY_MIDDLE = (
    "l.family_ascii = r.family_ascii AND coalesce(l.middle_ascii, '') = coalesce(r.middle_ascii, '')"
    " AND l.given_ascii <> r.given_ascii"
)
_SAME_FAMILY_GIVEN = (
    "l.family_ascii = r.family_ascii AND l.given_ascii = r.given_ascii"
    " AND coalesce(l.middle_ascii, '') <> coalesce(r.middle_ascii, '')"
)
_SAME_GIVEN = "l.given_ascii = r.given_ascii AND l.family_ascii <> r.family_ascii"
_SILENT_AT = {
    "family": (_SAME_PARTS, _SAME_FAMILY_MIDDLE, _SAME_FAMILY_GIVEN),
    "middle": (_SAME_PARTS, _SAME_FAMILY_MIDDLE),
    "given": (_SAME_PARTS, _SAME_FAMILY_GIVEN, _SAME_GIVEN),
}


def _full_name(c: Comparison) -> KindSpec:
    """The structural levels come before the fuzzy bands: a Jaro-Winkler score over the whole
    name is mostly the shared family and middle name ("Nguyễn Văn Luân" / "Nguyễn Văn Dũng" score
    0.94), so a different given name would read as "very similar name" and the family and middle
    names would be counted again by their parts."""
    p = c.params
    return KindSpec(
        null="l.full_name_norm IS NULL OR r.full_name_norm IS NULL",
        conditions={
            "exact": "l.full_name_norm = r.full_name_norm",
            "tones": "l.full_name_notone = r.full_name_notone",
            "ascii": "l.full_name_ascii = r.full_name_ascii",
            "reordered": _SAME_PARTS,
            "fuzzy_high": Fuzzy("full_name_ascii", "full_name_ascii", float(p.get("fuzzy_high", 0.94))),
            "family_middle": _SAME_FAMILY_MIDDLE,
            "family_given": _SAME_FAMILY_GIVEN,
            "given_only": _SAME_GIVEN,
            "fuzzy_mid": Fuzzy("full_name_ascii", "full_name_ascii", float(p.get("fuzzy_mid", 0.86))),
            "else": "TRUE",
        },
    )


def _name_part(c: Comparison) -> KindSpec:
    part = c.params.get("part")
    if part not in {"family", "middle", "given"}:
        raise ValueError("name_part needs part: family, middle or given")
    col = f"{part}_name"
    silent = " OR ".join(f"({cond})" for cond in _SILENT_AT[part])
    return KindSpec(
        # Where the full-name comparison has counted a part (the whole name agrees up to
        # diacritics, order or a missing middle name; or a structural level says this part is
        # the same), it did so with that part's own frequency; the part stays silent so it is not
        # counted twice or three times (a rare family name and a rare given name added to their
        # pair's rarity). A part speaks where it may differ: which part agrees, how common it is.
        null=f"NOT {_present('l.' + col)} OR NOT {_present('r.' + col)}"
        f" OR l.full_name_ascii = r.full_name_ascii OR {silent}",
        conditions={
            "exact": f"l.{col} = r.{col}",
            "ascii": f"l.{part}_ascii = r.{part}_ascii",
            "variant": f"l.{part}_vkey = r.{part}_vkey",
            "fuzzy": Fuzzy(f"{part}_ascii", f"{part}_ascii", float(c.params.get("fuzzy", 0.88))),
            "else": "TRUE",
        },
    )


def _alias(c: Comparison) -> KindSpec:
    return KindSpec(
        null="len(coalesce(l.aliases_norm, [])) = 0 AND len(coalesce(r.aliases_norm, [])) = 0",
        conditions={
            "exact": (
                "list_contains(r.aliases_norm, l.full_name_norm) OR list_contains(l.aliases_norm, r.full_name_norm)"
                " OR list_has_any(l.aliases_norm, r.aliases_norm)"
            ),
            "ascii": (
                "list_contains(r.alias_keys, l.full_name_ascii) OR list_contains(l.alias_keys, r.full_name_ascii)"
                " OR list_has_any(l.alias_keys, r.alias_keys)"
            ),
            "else": "TRUE",
        },
    )


def _birth_date(c: Comparison) -> KindSpec:
    both_day = "l.birth_precision = 'day' AND r.birth_precision = 'day'"
    return KindSpec(
        null="l.birth_year IS NULL OR r.birth_year IS NULL",
        conditions={
            "exact": f"{both_day} AND l.birth_year = r.birth_year AND l.birth_month = r.birth_month"
            " AND l.birth_day = r.birth_day",
            "swapped": f"{both_day} AND l.birth_year = r.birth_year AND l.birth_swap_month = r.birth_month"
            " AND l.birth_swap_day = r.birth_day",
            "month_known": "l.birth_year = r.birth_year AND l.birth_month = r.birth_month"
            " AND (l.birth_precision = 'month' OR r.birth_precision = 'month')",
            "year_known": "l.birth_year = r.birth_year AND (l.birth_precision = 'year' OR r.birth_precision = 'year')",
            "same_month": "l.birth_year = r.birth_year AND l.birth_month = r.birth_month",
            "same_year": "l.birth_year = r.birth_year",
            "one_year": "abs(l.birth_year - r.birth_year) = 1",
            "two_years": "abs(l.birth_year - r.birth_year) = 2",
            "else": "TRUE",
        },
    )


def _exact(c: Comparison) -> KindSpec:
    col = c.params.get("column")
    if not col:
        raise ValueError("exact needs column")
    return KindSpec(
        null=f"l.{col} IS NULL OR r.{col} IS NULL",
        conditions={"exact": f"l.{col} = r.{col}", "else": "TRUE"},
    )


def _place_pair(lc: str, rc: str) -> dict[str, str]:
    lw, rw = f"l.{lc}_ward_code", f"r.{rc}_ward_code"
    l25, r25 = f"l.{lc}_ward_code_2025", f"r.{rc}_ward_code_2025"
    return {
        "null": f"coalesce(l.{lc}_province_code, l.{lc}_province_code_2025) IS NULL"
        f" OR coalesce(r.{rc}_province_code, r.{rc}_province_code_2025) IS NULL",
        "ward": f"CASE WHEN {lw} IS NOT NULL AND {rw} IS NOT NULL THEN {lw} = {rw}"
        f" ELSE coalesce(list_has_any(string_split({l25}, '|'), string_split({r25}, '|')), FALSE) END",
        "district": f"l.{lc}_district_code = r.{rc}_district_code",
        "province": f"l.{lc}_province_code = r.{rc}_province_code"
        f" OR l.{lc}_province_code_2025 = r.{rc}_province_code_2025",
        "else": "TRUE",
    }


def _place(c: Comparison) -> KindSpec:
    """Best level over the listed (wanted column, register column) pairs: each pair gets a level
    index and the comparison takes the least non-null one (DuckDB's least skips NULLs)."""
    pairs = c.params.get("pairs")
    if not pairs:
        raise ValueError("place needs pairs: [[wanted_column, register_column], ...]")
    order = [lv.id for lv in c.levels]
    per_pair = []
    for lc, rc in pairs:
        conds = _place_pair(lc, rc)
        whens = " ".join(f"WHEN {conds[i]} THEN {k}" for k, i in enumerate(order))
        per_pair.append(f"CASE WHEN {conds['null']} THEN NULL {whens} END")
    best = per_pair[0] if len(per_pair) == 1 else f"least({', '.join(per_pair)})"
    return KindSpec(null="", conditions={"__level__": best})


def _person_name(c: Comparison) -> KindSpec:
    col = c.params.get("column")
    if not col:
        raise ValueError("person_name needs column (father or mother)")
    return KindSpec(
        null=f"l.{col}_norm IS NULL OR r.{col}_norm IS NULL",
        conditions={
            "exact": f"l.{col}_norm = r.{col}_norm",
            "ascii": f"l.{col}_ascii = r.{col}_ascii",
            "fuzzy": Fuzzy(f"{col}_ascii", f"{col}_ascii", float(c.params.get("fuzzy", 0.90))),
            "given": f"l.{col}_given_ascii = r.{col}_given_ascii",
            "else": "TRUE",
        },
    )


def _id_number(c: Comparison) -> KindSpec:
    return KindSpec(
        null="NOT ((l.id12 IS NOT NULL AND r.id12 IS NOT NULL) OR (l.cmnd IS NOT NULL AND r.cmnd IS NOT NULL))",
        conditions={
            "exact": "coalesce(l.id12 = r.id12, FALSE) OR coalesce(l.cmnd = r.cmnd, FALSE)",
            "one_digit": "coalesce(hamming(l.id12, r.id12) <= 1, FALSE) OR coalesce(hamming(l.cmnd, r.cmnd) <= 1, FALSE)",
            "else": "TRUE",
        },
    )


def _id_encoded(c: Comparison) -> KindSpec:
    """Stands in for a missing birth date: the birth year and gender the wanted record's 12-digit id
    encodes, when the wanted record has no birth date, against the register record; or the register
    id's, when the register record has none. Null otherwise (the birth date comparison counts it)
    and when the ids are equal (the id comparison counts that)."""
    year_l = "CASE WHEN l.birth_year IS NULL THEN l.id_birth_year ELSE l.birth_year END"
    year_r = "CASE WHEN l.birth_year IS NULL THEN r.birth_year ELSE r.id_birth_year END"
    gen_l = "CASE WHEN l.birth_year IS NULL THEN l.id_gender ELSE l.gender END"
    gen_r = "CASE WHEN l.birth_year IS NULL THEN r.gender ELSE r.id_gender END"
    return KindSpec(
        null="coalesce(l.id12 = r.id12, FALSE) OR (l.birth_year IS NOT NULL AND r.birth_year IS NOT NULL)"
        f" OR ({year_l}) IS NULL OR ({year_r}) IS NULL",
        conditions={
            "consistent": f"({year_l}) = ({year_r}) AND coalesce(({gen_l}) = ({gen_r}), TRUE)",
            "near": f"abs(({year_l}) - ({year_r})) <= 2 AND coalesce(({gen_l}) = ({gen_r}), TRUE)",
            "else": "TRUE",
        },
    )


def _kinship(c: Comparison) -> KindSpec:
    """The signature of a relative: a parent's name agrees, the family name agrees, the given name
    differs. Null (worth nothing) otherwise. Its levels say what the birth dates add: the same full
    birth date (or day and month swapped) is a person who changed the given name (twins aside);
    a date unknown on a side cannot tell; two known dates that differ are a sibling's.

    The weights of this comparison are not learned from random pairs (a sibling pair is too rare
    there): the model replaces the family's shared evidence (the comparisons in `absorbs`) by one
    joint term at the levels in `absorb_at`, see linkage/model.py `match_weights`."""
    parent = (
        "(coalesce(l.father_ascii = r.father_ascii, FALSE) OR coalesce(l.mother_ascii = r.mother_ascii, FALSE))"
    )
    pattern = f"{parent} AND coalesce(l.family_ascii = r.family_ascii, FALSE) AND coalesce(l.given_ascii <> r.given_ascii, FALSE)"
    both_day = "l.birth_precision = 'day' AND r.birth_precision = 'day' AND l.birth_year = r.birth_year"
    return KindSpec(
        null=f"NOT ({pattern})",
        conditions={
            "same_date": f"{both_day} AND ((l.birth_month = r.birth_month AND l.birth_day = r.birth_day)"
            " OR (l.birth_swap_month = r.birth_month AND l.birth_swap_day = r.birth_day))",
            "undated": "l.birth_year IS NULL OR r.birth_year IS NULL",
            "else": "TRUE",
        },
    )


def _text(c: Comparison) -> KindSpec:
    """A generic string comparison for any prepared column (or a left/right pair of columns), for
    data that is not Vietnamese person data (a rules pack for another register): equal, one edit
    apart (Damerau-Levenshtein: a typo, or two adjacent characters swapped, as in 1957/1975), and
    Jaro-Winkler bands `fuzzy_high` / `fuzzy` (params, defaults 0.94 / 0.88)."""
    left = c.params.get("left") or c.params.get("column")
    right = c.params.get("right") or c.params.get("column")
    if not left or not right:
        raise ValueError("text needs column (or left and right)")
    lc, rc = f"l.{left}", f"r.{right}"
    return KindSpec(
        null=f"NOT {_present(lc)} OR NOT {_present(rc)}",
        conditions={
            "exact": f"{lc} = {rc}",
            "one_edit": f"damerau_levenshtein({lc}, {rc}) <= 1",
            "fuzzy_high": Fuzzy(left, right, float(c.params.get("fuzzy_high", 0.94))),
            "fuzzy": Fuzzy(left, right, float(c.params.get("fuzzy", 0.88))),
            "else": "TRUE",
        },
    )


def _marks(c: Comparison) -> KindSpec:
    """Identifying marks (linkage/normalize/marks.py keys `kind|place|side`, side `?` when not
    written): the same key on both records agrees strongly (the same kind at the same place and
    side; or at a place without a side, such as the chin, written without one on both); the same
    kind at the same place with the side unwritten on one record only agrees less; marks on both
    records that share nothing disagree (weakly: a notice may describe another mark than the
    card). A record with no mark whose place is known counts for nothing."""
    col = c.params.get("column", "marks_keys")
    lc, rc = f"coalesce(l.{col}, [])", f"coalesce(r.{col}, [])"

    def place(side: str, unknown_only: bool = False) -> str:
        keys = f"list_filter({side}, lambda k: suffix(k, '|?'))" if unknown_only else side
        return f"list_transform({keys}, lambda k: regexp_replace(k, '[|][^|]*$', ''))"

    return KindSpec(
        null=f"len({lc}) = 0 OR len({rc}) = 0",
        conditions={
            "same_mark": f"list_has_any({lc}, {rc})",
            "same_place": f"list_has_any({place(lc, True)}, {place(rc)}) OR list_has_any({place(lc)}, {place(rc, True)})",
            "else": "TRUE",
        },
    )


KINDS: dict[str, Callable[[Comparison], KindSpec]] = {
    "full_name": _full_name,
    "name_part": _name_part,
    "alias": _alias,
    "birth_date": _birth_date,
    "exact": _exact,
    "place": _place,
    "person_name": _person_name,
    "id_number": _id_number,
    "id_encoded": _id_encoded,
    "text": _text,
    "kinship": _kinship,
    "marks": _marks,
}

# Level ids each kind knows; the rules list them in priority order.
KIND_LEVELS = {
    "full_name": {"exact", "tones", "ascii", "reordered", "fuzzy_high", "family_middle", "family_given", "given_only",
                  "fuzzy_mid", "else"},
    "name_part": {"exact", "ascii", "variant", "fuzzy", "else"},
    "alias": {"exact", "ascii", "else"},
    "birth_date": {"exact", "swapped", "month_known", "year_known", "same_month", "same_year", "one_year", "two_years", "else"},
    "exact": {"exact", "else"},
    "place": {"ward", "district", "province", "else"},
    "person_name": {"exact", "ascii", "fuzzy", "given", "else"},
    "id_number": {"exact", "one_digit", "else"},
    "id_encoded": {"consistent", "near", "else"},
    "text": {"exact", "one_edit", "fuzzy_high", "fuzzy", "else"},
    "kinship": {"same_date", "undated", "else"},
    "marks": {"same_mark", "same_place", "else"},
}


def check_comparison(c: Comparison) -> str | None:
    """A message if the comparison's kind or levels are not ones we implement."""
    if c.kind not in KINDS:
        return f"unknown kind '{c.kind}' (known: {', '.join(sorted(KINDS))})"
    ids = c.level_ids()
    if len(set(ids)) != len(ids):
        return "duplicate level ids"
    unknown = set(ids) - KIND_LEVELS[c.kind]
    if unknown:
        return f"level(s) {sorted(unknown)} not known to kind '{c.kind}' ({sorted(KIND_LEVELS[c.kind])})"
    if ids[-1] != "else":
        return "the last level must be 'else'"
    try:
        KINDS[c.kind](c)
    except ValueError as exc:
        return str(exc)
    return None


@dataclass(frozen=True)
class CompiledComparison:
    """What the compare stage needs: one SQL expression giving the first level whose SQL condition
    holds (-1 = null), and the fuzzy bands that may lift a pair to an earlier level."""

    name: str
    sql_level: str
    fuzzy: tuple[tuple[int, Fuzzy], ...]


def compile_comparison(c: Comparison) -> CompiledComparison:
    spec = KINDS[c.kind](c)
    ids = c.level_ids()
    if "__level__" in spec.conditions:
        return CompiledComparison(name=c.name, sql_level=f"coalesce(({spec.conditions['__level__']}), -1)", fuzzy=())
    whens = []
    fuzzy = []
    for k, level_id in enumerate(ids[:-1]):
        cond = spec.conditions[level_id]
        if isinstance(cond, Fuzzy):
            fuzzy.append((k, cond))
        else:
            # a NULL condition does not hold in a CASE: no coalesce, which would evaluate every
            # part of the condition on every row (AND / OR stop early only as CASE conditions)
            whens.append(f"WHEN ({cond}) THEN {k}")
    sql = f"CASE WHEN {spec.null} THEN -1 {' '.join(whens)} ELSE {len(ids) - 1} END"
    return CompiledComparison(name=c.name, sql_level=sql, fuzzy=tuple(fuzzy))
