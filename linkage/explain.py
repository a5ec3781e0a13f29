"""The reviewer-facing columns of a candidate: flags and a one-line explanation, built as SQL
over the kept candidates (`scored` joined to the wanted record `l` and the person's main register
record `r`), from the phrases and flag rules in `rules/matching.yaml`."""

from __future__ import annotations

import math
import re

from linkage.comparisons import compile_comparison
from linkage.errors import RulesError
from linkage.settings import Settings

_PLACEHOLDER = re.compile(r"\{([lr])\.([a-z0-9_]+)\}")


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def template_sql(text: str, r: str = "r") -> str:
    """A phrase template ("given name differs: {l.given_name} -> {r.given_name}") as SQL; `r`
    names the register record's alias (the current record is `c` in matches_sql)."""
    parts = []
    pos = 0
    for m in _PLACEHOLDER.finditer(text):
        if m.start() > pos:
            parts.append(_literal(text[pos : m.start()]))
        alias = r if m.group(1) == "r" else m.group(1)
        parts.append(f"coalesce(CAST({alias}.{m.group(2)} AS VARCHAR), '?')")
        pos = m.end()
    if pos < len(text):
        parts.append(_literal(text[pos:]))
    return " || ".join(parts) if parts else "''"


def _catalogue(settings: Settings, lang: str) -> dict[str, str]:
    from linkage.reports.strings import pack_catalogue  # reports import outputs: import late

    return pack_catalogue(settings.path.parent, lang)


def level_texts(settings: Settings, j: int, lang: str = "vi") -> list[str]:
    """Each level's phrase in the reviewer's language (explain.<comparison>.<level> in
    rules/strings/explain.<lang>.yaml), else the rules' own `text` for that level."""
    c = settings.comparisons[j]
    cat = _catalogue(settings, lang)
    return [cat.get(f"explain.{c.name}.{lv.id}", lv.text) for lv in c.levels]


def phrase_sql(settings: Settings, j: int, levels: str = "s", r: str = "r", lang: str = "vi") -> str:
    """The level's phrase; `levels`/`r`: where the level and the register record come from
    (`sc`/`c` for the person's current record)."""
    c = settings.comparisons[j]
    whens = " ".join(f"WHEN {k} THEN {template_sql(t, r)}" for k, t in enumerate(level_texts(settings, j, lang)))
    return f"CASE {levels}.g_{c.name} {whens} END"


def _flag_words(settings: Settings, flag: str, lang: str) -> str:
    return _catalogue(settings, lang).get(f"explain.flag.{flag}", flag.replace("_", " "))


def _explanation_config(settings: Settings) -> tuple[float, float, int, set[str]]:
    """(min_abs_weight, min_negative_weight, max_positive, agreement_flags), checked: a typo must
    not silently hide a conflict."""
    cfg = settings.explanation
    where = f"{settings.path}: explanation"
    try:
        min_pos = float(cfg.get("min_abs_weight", 1.0))
        min_neg = float(cfg.get("min_negative_weight", min_pos))
        max_pos = int(cfg.get("max_positive", 6))
    except (TypeError, ValueError) as exc:
        raise RulesError(f"{where}: expected numbers for min_abs_weight, min_negative_weight, max_positive ({exc})") from None
    if min_neg < 0 or min_pos < 0 or max_pos < 0:
        raise RulesError(f"{where}: min_abs_weight, min_negative_weight and max_positive must be >= 0")
    agree = set(cfg.get("agreement_flags", []) or [])
    unknown = agree - set(settings.flags)
    if unknown:
        raise RulesError(f"{where}.agreement_flags: unknown flag(s) {sorted(unknown)} (flags: {sorted(settings.flags)})")
    return min_pos, min_neg, max_pos, agree


def _item_sql(settings: Settings, j: int, flags: dict[str, str], agree: set[str], notes: dict[str, str],
              lang: str = "vi") -> str:
    """One comparison as {w: weight, t: phrase, k: kind}: k = 2 when a conflict flag on it is set,
    1 when an agreement flag is, else 0. A flagged phrase is never NULL: the flag's name stands in
    for an empty level text. A set flag judged on the current record (`notes`) states the current
    record's phrase, and, when an older record agreed with the wanted record, says both."""
    c = settings.comparisons[j]
    on_c = [f for f, spec in settings.flags.items() if spec.get("comparison") == c.name]
    neg = [f for f in on_c if f not in agree]
    pos = [f for f in on_c if f in agree]
    phrase = f"nullif({phrase_sql(settings, j, lang=lang)}, '')"
    kind, text = "0", phrase
    if on_c:
        whens = " ".join(f"WHEN {flags[f]} THEN {k}" for k, fs in ((2, neg), (1, pos)) for f in fs)
        kind = f"CASE {whens} ELSE 0 END"
        words = " ".join(f"WHEN {flags[f]} THEN {_literal(_flag_words(settings, f, lang))}" for f in neg + pos)
        text = f"coalesce({phrase}, CASE {words} END)"
        cur = [f for f in on_c if f in notes]
        if cur:
            now = f"nullif({phrase_sql(settings, j, CURRENT_LEVELS, CURRENT, lang)}, '')"
            cases = " ".join(
                f"WHEN {flags[f]} THEN coalesce({now}, {_literal(_flag_words(settings, f, lang))}) || coalesce(' (' || {notes[f]} || ')', '')"
                for f in cur
            )
            text = f"CASE {cases} ELSE {text} END"
    return f"{{'w': s.mw_{c.name}, 't': {text}, 'k': {kind}}}"


def _phrases(items: str) -> str:
    return f"array_to_string(list_transform({items}, lambda x: x.t), ', ')"


def explanation_items_sql(settings: Settings, current: bool = False, lang: str = "vi") -> str:
    """The list of every comparison's {w, t, k} (_item_sql), which explanation_from_items reads.

    A query that selects it once as a column and builds the explanation from that column is
    planned about ten times faster than one that repeats it (the desk's one-record calls spent
    most of their time planning it, docs/benchmarks.md "Screening at the desk")."""
    _, _, _, agree = _explanation_config(settings)
    flags = flags_sql(settings, current)
    notes = older_agrees_sql(settings, lang) if current else {}
    return "[" + ", ".join(_item_sql(settings, j, flags, agree, notes, lang) for j in range(len(settings.comparisons))) + "]"


def explanation_from_items(settings: Settings, items: str) -> str:
    """Agreements (strongest first, at most max_positive), then '; ' and the conflicts, from
    `items` (a column or expression holding explanation_items_sql's list).

    Nothing that counts against the match is hidden: every comparison weighing at most
    -min_negative_weight is stated, never cut by a count. A set flag always states its
    comparison's phrase, whatever its weight: with the agreements for the explanation's
    agreement_flags (id_match), with the conflicts otherwise (a birth date two years off may
    weigh slightly for the match, yet it is a change the reviewer must see)."""
    min_pos, min_neg, max_pos, _ = _explanation_config(settings)
    desc = f"list_sort({items}, 'DESC')"
    forced = f"list_filter({items}, lambda x: x.k = 1 AND x.t IS NOT NULL)"
    strongest = f"list_filter({desc}, lambda x: x.k = 0 AND x.w >= {min_pos} AND x.t IS NOT NULL)[1:{max_pos}]"
    pos = _phrases(f"list_sort(list_concat({forced}, {strongest}), 'DESC')")
    conflicts = f"list_filter(list_sort({items}, 'ASC'), lambda x: x.t IS NOT NULL AND (x.k = 2 OR (x.k = 0 AND x.w <= -{min_neg})))"
    return f"concat_ws('; ', nullif({pos}, ''), nullif({_phrases(conflicts)}, ''))"


def explanation_sql(settings: Settings, current: bool = False, lang: str = "vi") -> str:
    """The explanation as one expression (explanation_from_items over the list written inline).

    `current`: the query joins the person's current record `c`, its levels `sc` and the next most
    recent record `p` (matches_sql), and flags with `judged_on: current` are judged on `c`."""
    return explanation_from_items(settings, explanation_items_sql(settings, current, lang))


CURRENT = "c"  # the person's current record in matches_sql
CURRENT_LEVELS = "sc"  # the wanted record's levels against it
OLDER = "p"  # the person's next most recent record


def current_flags(settings: Settings) -> dict[str, dict]:
    """The flags judged on the person's current record (`judged_on: current` in rules/matching.yaml)."""
    return {f: spec for f, spec in settings.flags.items() if spec.get("judged_on") == "current"}


def current_comparisons(settings: Settings) -> list[str]:
    """The comparisons the current-state flags read (their own and those of `or_levels`)."""
    names = set()
    for spec in current_flags(settings).values():
        names |= {spec["comparison"], *(spec.get("or_levels") or {})}
    return sorted(names)


def _flag_level_sql(settings: Settings, spec: dict, alias: str) -> str:
    """The flag's level condition: its comparison at one of `levels`, or another comparison at one
    of its `or_levels` (a given name wholly different while the full names stay similar)."""
    conds = [_level_in(settings, spec["comparison"], list(spec.get("levels", [])), alias)]
    for other, levels in (spec.get("or_levels") or {}).items():
        known = {c.name: c for c in settings.comparisons}
        if other not in known or not set(levels) <= set(known[other].level_ids()):
            raise RulesError(f"{settings.path}: flags: or_levels {other}: {levels} is not a comparison's levels")
        conds.append(_level_in(settings, other, list(levels), alias))
    return conds[0] if len(conds) == 1 else "(" + " OR ".join(conds) + ")"


def current_level_sql(settings: Settings, name: str) -> str:
    """The comparison's level for the wanted record `l` against one register record `r`, fuzzy
    bands included (DuckDB's Jaro-Winkler, the similarity the compare stage takes from rapidfuzz):
    only the kept candidates go through it, so SQL is fast enough."""
    cc = compile_comparison(settings.comparison(name))
    lv = f"({cc.sql_level})"
    if not cc.fuzzy:
        return lv
    whens = " ".join(
        f"WHEN {lv} > {k} AND jaro_winkler_similarity(coalesce(CAST(l.{fz.left} AS VARCHAR), ''), "
        f"coalesce(CAST(r.{fz.right} AS VARCHAR), '')) >= {fz.threshold} THEN {k}"
        for k, fz in sorted(cc.fuzzy, key=lambda t: t[0])
    )
    return f"CASE {whens} ELSE {lv} END"


def same_commune_2025_sql(settings: Settings, flag: str) -> str:
    """For a place flag with `unless_same_commune_2025`: the wanted record and the register record
    (`l`, `r`) share a 2025 commune on some address pair (split communes 'a|b' overlapping). The
    place comparison prefers the pre-2025 codes when both sides resolve one, so an old-regime
    address and a 2025 one of the same commune can read as a move; this keeps it from the flag."""
    spec = settings.flags[flag]
    pairs = settings.comparison(spec["comparison"]).params.get("pairs") or []
    if not pairs:
        raise RulesError(f"{settings.path}: flags.{flag}: unless_same_commune_2025 needs a place comparison with pairs")
    parts = [
        f"coalesce(list_has_any(string_split(l.{a}_ward_code_2025, '|'), string_split(r.{b}_ward_code_2025, '|')), FALSE)"
        for a, b in pairs
    ]
    return "(" + " OR ".join(parts) + ")"


def slip_sql(settings: Settings, flag: str) -> str:
    """For a name flag with `unless_slip: N`: the wanted name `l` and the register's `r` are within
    N edits (Damerau-Levenshtein on the ASCII fold) as written, with the words in any order, or
    as family + given name when one side has no middle name. A letter dropped or doubled
    ("Nguyễ Văn Hồng", "Kiên Văn am") is a slip of the pen, not a new name; a changed name
    differs by more than a letter or two."""
    n = int(settings.flags[flag].get("unless_slip", 0))
    fg = "coalesce({a}.family_ascii, '') || ' ' || coalesce({a}.given_ascii, '')"
    return (
        f"(coalesce(damerau_levenshtein(l.full_name_ascii, r.full_name_ascii) <= {n}, FALSE)"
        f" OR coalesce(damerau_levenshtein(l.name_sorted, r.name_sorted) <= {n}, FALSE)"
        f" OR ((coalesce(l.middle_ascii, '') = '' OR coalesce(r.middle_ascii, '') = '')"
        f" AND damerau_levenshtein({fg.format(a='l')}, {fg.format(a='r')}) <= {n}))"
    )


def wards_known_sql(settings: Settings, flag: str) -> str:
    """For a place flag with `ward_known_for`: some address pair resolves a commune (pre-2025 or
    2025) on both sides. "Same district, another commune" is a move only when both communes are
    known; an address written down to the district only would otherwise read as one."""
    pairs = settings.comparison(settings.flags[flag]["comparison"]).params.get("pairs") or []
    if not pairs:
        raise RulesError(f"{settings.path}: flags.{flag}: ward_known_for needs a place comparison with pairs")
    return "(" + " OR ".join(
        f"(coalesce(l.{a}_ward_code, l.{a}_ward_code_2025) IS NOT NULL"
        f" AND coalesce(r.{b}_ward_code, r.{b}_ward_code_2025) IS NOT NULL)" for a, b in pairs) + ")"


def _house_sql(col: str, drop: str) -> str:
    """The house, street or hamlet part of an address as written (its first comma-separated part,
    when that starts with a number or one of rules/places/places.yaml `noise_prefixes`), folded,
    with those words taken out: "Số 20 đường Trần Phú" and "20 Trần Phú" give "20 tran phu"."""
    head = f"regexp_replace(replace(strip_accents(lower(trim(split_part({col}, ',', 1)))), 'đ', 'd'), '\\s+', ' ', 'g')"
    bare = f"trim(regexp_replace(regexp_replace({head}, '\\b({drop})\\b', ' ', 'g'), '\\s+', ' ', 'g'))"
    return (f"CASE WHEN strpos({col}, ',') > 0 AND regexp_matches({head}, '^(\\d|({drop})\\b)') "
            f"THEN nullif({bare}, '') END")


def street_moved_sql(settings: Settings, flag: str) -> str:
    """For a place flag with `street_moves`: the wanted record's address and the current record's
    (each its current address, else its permanent one) lie in one 2025 commune, both name a house,
    street or hamlet, and neither contains the other: the person moved house. Inside one 2025
    commune (two old communes merged, or one commune written in the old and the new regime) this
    is the only sign of a move."""
    from linkage.rules import load_yaml

    words = load_yaml("places/places.yaml", settings.path.parent).get("noise_prefixes") or []
    drop = "|".join(sorted({re.escape(str(w).strip().lower()) for w in words if str(w).strip()}, key=len, reverse=True))
    lh, rh = _house_sql("l.address_shown", drop), _house_sql("r.address_shown", drop)
    # the shown addresses (current, else permanent) lie in one 2025 commune: elsewhere the commune
    # levels speak, and a person registered at home but living elsewhere is no mover
    shown = ("CASE WHEN {a}.current_address_province_code IS NOT NULL OR {a}.current_address_province_code_2025 "
             "IS NOT NULL THEN {a}.current_address_ward_code_2025 ELSE {a}.permanent_address_ward_code_2025 END")
    same = f"list_has_any(string_split({shown.format(a='l')}, '|'), string_split({shown.format(a='r')}, '|'))"
    return f"coalesce({same} AND {lh} <> {rh} AND strpos({lh}, {rh}) = 0 AND strpos({rh}, {lh}) = 0, FALSE)"


# A flag key that asks for a test of the wanted record `l` against the current record `r`: the
# test's column prefix in the current-levels table `sc` and its SQL builder.
RECORD_TESTS = {
    "unless_same_commune_2025": ("same", same_commune_2025_sql),
    "unless_slip": ("slip", slip_sql),
    "ward_known_for": ("wards", wards_known_sql),
    "street_moves": ("street", street_moved_sql),
}


def record_tests_sql(settings: Settings) -> list[str]:
    """The `<prefix>_<flag>` columns the current-state flags' keys ask for (flags_sql reads them)."""
    return [f"{build(settings, flag)} AS {prefix}_{flag}"
            for flag, spec in current_flags(settings).items()
            for key, (prefix, build) in RECORD_TESTS.items() if spec.get(key)]


def _fill(template: str, values: dict[str, str]) -> str:
    """A catalogue template whose {placeholders} are SQL expressions, as one SQL string."""
    parts, pos = [], 0
    for m in re.finditer(r"\{([a-z_]+)\}", template):
        if m.start() > pos:
            parts.append(_literal(template[pos : m.start()]))
        parts.append(values[m.group(1)])
        pos = m.end()
    if pos < len(template):
        parts.append(_literal(template[pos:]))
    return " || ".join(parts)


def _source_sql(alias: str, cat: dict[str, str]) -> str:
    year = f"coalesce(strftime({alias}.record_date, '%Y'), {_literal(cat['flags.year_unknown'])})"
    whens = " ".join(
        f"WHEN {_literal(src)} THEN {_fill(cat[f'flags.source.{src}'], {'year': year})}" for src in ("residents", "id_cards")
    )
    return f"CASE {alias}.src {whens} END"


def older_agrees_sql(settings: Settings, lang: str = "vi") -> dict[str, str]:
    """Flag -> SQL text saying that an older record agrees with the wanted record while the
    current one shows another value ("thẻ CCCD cấp 2021 ghi địa chỉ như lệnh truy nã; sổ cư trú
    cập nhật 2024 ghi Hà Nội"), NULL when the merged evidence sees the change too."""
    from linkage.reports.strings import check_lang, load_catalogue  # reports import outputs: import late

    cat = load_catalogue(settings.path.parent)[check_lang(lang)]
    out = {}
    for flag, spec in current_flags(settings).items():
        shows = spec.get("shows")
        value = f"coalesce(CAST({CURRENT}.{shows} AS VARCHAR), '?')" if shows else "'?'"
        # an older record agreed: the merged level of the flag's own comparison is not a change
        merged_flagged = _level_in(settings, spec["comparison"], list(spec.get("levels", [])))
        text = _fill(cat[f"flags.older_agrees.{flag}"], {
            "older": _source_sql(OLDER, cat), "current": _source_sql(CURRENT, cat), "value": value,
        })
        out[flag] = f"CASE WHEN NOT {merged_flagged} AND {OLDER}.src IS NOT NULL THEN {text} END"
    return out


def _level_in(settings: Settings, comparison: str, levels: list[str], alias: str = "s") -> str:
    c = settings.comparison(comparison)
    idx = [str(c.level_ids().index(lv)) for lv in levels]
    return f"coalesce({alias}.g_{comparison} IN ({', '.join(idx)}), FALSE)"


def flags_sql(settings: Settings, current: bool = False) -> dict[str, str]:
    """Flag name -> SQL boolean. A flag with `name_comparisons` also requires the non-name
    evidence alone to reach the threshold. `current`: flags with `judged_on: current` read the
    levels against the person's current record (`sc`)."""
    out = {}
    t = settings.threshold
    threshold_weight = math.log2(t / (1 - t))
    for flag, spec in settings.flags.items():
        alias = CURRENT_LEVELS if current and spec.get("judged_on") == "current" else "s"
        cond = _flag_level_sql(settings, spec, alias)
        if alias == CURRENT_LEVELS and spec.get("unless_same_commune_2025"):
            cond = f"({cond} AND NOT {CURRENT_LEVELS}.same_{flag})"
        if alias == CURRENT_LEVELS and spec.get("unless_slip"):
            cond = f"({cond} AND NOT {CURRENT_LEVELS}.slip_{flag})"
        if alias == CURRENT_LEVELS and spec.get("ward_known_for"):
            at = _level_in(settings, spec["comparison"], list(spec["ward_known_for"]), alias)
            cond = f"({cond} AND NOT ({at} AND NOT {CURRENT_LEVELS}.wards_{flag}))"
        if alias == CURRENT_LEVELS and spec.get("street_moves"):
            cond = f"({cond} OR {CURRENT_LEVELS}.street_{flag})"
        names = spec.get("name_comparisons")
        if names:
            name_sum = " + ".join(f"s.mw_{n}" for n in names)
            cond = f"({cond} AND s.match_weight - ({name_sum}) >= {threshold_weight})"
        out[flag] = cond
    return out


def rules_list_sql(settings: Settings) -> str:
    items = ", ".join(
        f"CASE WHEN (s.rules >> {i}) & 1 = 1 THEN {_literal(r.name)} END" for i, r in enumerate(settings.blocking)
    )
    return f"array_to_string(list_filter([{items}], lambda x: x IS NOT NULL), ',')"
