"""`linkage enrich`: completing wanted records from confirmed matches.

For each wanted record with a confirmed match (a reviewer's live "match" in the judgement store,
or label 1 in a labels file), each field of rules/enrich.yaml is compared with the matched
person's register records (the resident record, the newest ID card). Where the wanted record is
empty, less precise, written without diacritics, holds the old CMND the card records, or (for
addresses) is older than the register's record, a change is proposed; any other difference is a
conflict, listed and never proposed. A steward approves proposals; `apply_changes` then writes a
corrected copy with a change log, like `linkage clean`. The input is never written to.
All comparisons run on whole columns (pandas / the normalisers' vectorised functions).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from linkage.audit.clean import CHANGES_SCHEMA, _FORMATS, _read_raw, _write, changes_path
from linkage.errors import InputError, RulesError
from linkage.ingest.atomic import write_json, write_parquet, atomic_path
from linkage.ingest.mapping import load_mappings, match_headers
from linkage.ingest.pipeline import read_source_checked
from linkage.normalize.dates import parse_birth_dates
from linkage.normalize.fields import normalize_ethnicity, normalize_gender
from linkage.normalize.names import normalize_names
from linkage.normalize.ids import parse_ids
from linkage.normalize.places import resolve_places
from linkage.rules import load_yaml, rules_dir
from rapidfuzz import process
from rapidfuzz.distance import JaroWinkler

ENRICH_FILE = "enrich.yaml"
KINDS = ("id", "date", "place", "gender", "ethnicity", "name", "text")
PROPOSAL_RULES = ("fill_empty", "more_precise", "restore_marks", "id_upgrade", "register_newer")
REGISTER_KEY = {"residents": "person_id", "id_cards": "card_number"}
CHANGE_COLUMNS = ["change_id", "wanted_id", "row", "field", "current_value", "register_value", "source",
                  "source_record", "rule", "approved"]
CONFLICT_COLUMNS = ["wanted_id", "row", "field", "current_value", "register_value", "source", "source_record", "reason"]
APPROVED_YES = {"1", "yes", "y", "true", "x", "có", "co", "ok", "đồng ý"}


@dataclass(frozen=True)
class FieldRule:
    field: str
    kind: str
    sources: tuple[tuple[str, str], ...]
    newer: bool = False


@dataclass(frozen=True)
class EnrichRules:
    path: Path
    record_date: dict[str, str]
    wanted_date: str
    fields: tuple[FieldRule, ...]
    old_id: tuple[str, str] | None


def _source_column(text: str, where: str, path: Path) -> tuple[str, str]:
    source, _, column = str(text).partition(".")
    if source not in REGISTER_KEY or not column:
        raise RulesError(f"{path}: {where}: expected '<residents|id_cards>.<column>', got {text!r}")
    return source, column


def load_enrich_rules(rules: str | Path | None = None) -> EnrichRules:
    path = rules_dir(rules) / ENRICH_FILE
    raw = load_yaml(ENRICH_FILE, rules)
    fields = []
    for i, f in enumerate(raw.get("fields") or []):
        where = f"fields[{i}]"
        if not isinstance(f, dict) or not all(k in f for k in ("field", "kind", "sources")):
            raise RulesError(f"{path}: {where}: needs 'field', 'kind' and 'sources'")
        if f["kind"] not in KINDS:
            raise RulesError(f"{path}: {where}.kind: {f['kind']!r} is not one of {', '.join(KINDS)}")
        sources = tuple(_source_column(s, f"{where}.sources", path) for s in f["sources"] or [])
        if not sources:
            raise RulesError(f"{path}: {where}.sources: at least one source")
        fields.append(FieldRule(str(f["field"]), str(f["kind"]), sources, bool(f.get("newer", False))))
    names = [f.field for f in fields]
    if len(set(names)) != len(names):
        raise RulesError(f"{path}: fields: a field is listed twice")
    dates = raw.get("record_date") or {}
    unknown = set(dates) - set(REGISTER_KEY)
    if unknown:
        raise RulesError(f"{path}: record_date: unknown source(s) {sorted(unknown)}")
    old = raw.get("old_id")
    return EnrichRules(path, {str(k): str(v) for k, v in dates.items()}, str(raw.get("wanted_date", "decision_date")),
                       tuple(fields), _source_column(old, "old_id", path) if old else None)


# ---------------------------------------------------------------- inputs


def confirmed_matches(decisions: str | Path | None, labels: str | Path | None, rules: str | Path | None) -> pd.DataFrame:
    """(wanted_id, person_id) of the confirmed matches: live "match" decisions (a match waiting for
    its second reviewer is not confirmed) or label 1."""
    if (decisions is None) == (labels is None):
        raise InputError("give the confirmed matches with either --decisions STORE or --labels FILE")
    if labels is not None:
        from linkage.labels import load_labels

        got = load_labels(labels)
        got = got[got["label"] == 1.0]
    else:
        from linkage.review.store import Store

        if "://" not in str(decisions) and not Path(decisions).is_file():
            raise InputError(f"{decisions}: judgement store not found (a SQLite file or a postgresql:// URL)")
        store = Store.open(decisions, rules=rules)
        try:
            live = store.live_table().to_pandas()
        finally:
            store.close()
        got = live[live["state"] == "match"]
    return got[["wanted_id", "person_id"]].astype(str).drop_duplicates().reset_index(drop=True)


def _day(values: pd.Series) -> pd.Series:
    """Record dates as days (yyyy-mm-dd, dd/mm/yyyy, or a timestamp's date part); NaT otherwise."""
    text = values.astype("string").str.strip().str.slice(0, 10)
    iso = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce")
    vn = pd.to_datetime(text, format="%d/%m/%Y", errors="coerce")
    return iso.fillna(vn)


def register_records(residents: Path | None, id_cards: Path | None, person_ids: set[str], erules: EnrichRules,
                     rules: str | Path | None) -> dict[str, pd.DataFrame]:
    """Per source, the matched persons' record (index: person_id) as text, with `_date` (the day its
    values were last known true): the resident record, and the newest ID card of each person."""
    out: dict[str, pd.DataFrame] = {}
    for source, path in (("residents", residents), ("id_cards", id_cards)):
        if path is None:
            continue
        frame = read_source_checked(Path(path), source, rules).accepted.to_pandas()
        key = REGISTER_KEY[source]
        frame = frame[frame[key].astype(str).isin(person_ids)].copy()
        date_col = erules.record_date.get(source)
        frame["_date"] = _day(frame[date_col]) if date_col in frame.columns else pd.NaT
        frame = frame.sort_values([key, "_date"], na_position="first", kind="stable").drop_duplicates(key, keep="last")
        out[source] = frame.set_index(frame[key].astype(str))
    return out


def read_wanted(path: Path, rules: str | Path | None) -> tuple[object, object, pd.DataFrame]:
    """(raw table, header match, canonical text columns + `_row`) of the wanted file as `clean` reads it."""
    raw = _read_raw(Path(path))
    match = match_headers(raw.headers, load_mappings(Path(rules) if rules else None)["wanted"])
    cols = {c: raw.table.column(pos).to_pandas().astype("string") for c, pos in match.columns.items()}
    frame = pd.DataFrame(cols)
    if "wanted_id" not in frame.columns:
        raise InputError(f"{path}: no wanted_id column")
    frame["wanted_id"] = frame["wanted_id"].str.strip()
    frame["_row"] = raw.rows
    return raw, match, frame


# ---------------------------------------------------------------- comparisons


def _text(values: pd.Series) -> pd.Series:
    """Trimmed text; empty is <NA>."""
    s = values.astype(object).astype(pd.StringDtype("python")).str.strip()
    return s.mask(s == "")


def _norm(values: pd.Series) -> pd.Series:
    """NFC, lower case, single spaces: the same text written alike."""
    s = _text(values)
    return s.map(lambda v: " ".join(unicodedata.normalize("NFC", v).casefold().split()),
                 na_action="ignore").astype(pd.StringDtype("python"))


def _fold(values: pd.Series) -> pd.Series:
    """Without diacritics (đ -> d)."""
    def f(v: str) -> str:
        d = unicodedata.normalize("NFD", v.replace("đ", "d").replace("Đ", "D"))
        return "".join(c for c in d if not unicodedata.combining(c))
    return values.map(f, na_action="ignore").astype(pd.StringDtype("python"))


def _restore_marks(cur: pd.Series, reg: pd.Series) -> pd.Series:
    cn, rn = _norm(cur), _norm(reg)
    return (_fold(cn) == _fold(rn)).fillna(False) & (_fold(cn) == cn).fillna(False) & (cn != rn).fillna(False)


def _precision(parsed: pd.DataFrame) -> pd.Series:
    rank = parsed["birth_precision"].map({"year": 1, "month": 2, "day": 3})
    jan1 = parsed["birth_jan1"].fillna(False).astype(bool) & (rank == 3)
    return rank.mask(jan1, 1).astype("Float64")  # a 1 January date is the usual stand-in for a year


def _date_rules(cur: pd.Series, reg: pd.Series) -> tuple[pd.Series, pd.Series]:
    a, b = parse_birth_dates(cur.fillna("")), parse_birth_dates(reg.fillna(""))
    pa_, pb = _precision(a), _precision(b)
    same_y = a["birth_year"] == b["birth_year"]
    same_m = a["birth_month"] == b["birth_month"]
    same_d = a["birth_day"] == b["birth_day"]
    agree = (same_y & ((pa_ < 2) | same_m) & ((pa_ < 3) | same_d)).fillna(False).astype(bool)
    more = agree & (pb > pa_).fillna(False).astype(bool)
    equal = agree & (pb <= pa_).fillna(False).astype(bool)
    unreadable = cur.notna() & pa_.isna()
    rule = pd.Series(np.where(more, "more_precise", None), index=cur.index, dtype=object)
    conflict = pd.Series(np.where(unreadable, "current value is not a readable date",
                                  np.where(~(more | equal) & pb.notna(), "another birth date", None)),
                         index=cur.index, dtype=object)
    return rule, conflict


def _place_rules(cur: pd.Series, reg: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """(proposal rule, conflict reason, same place) for two place texts."""
    a, b = resolve_places(cur.fillna("")), resolve_places(reg.fillna(""))
    same_text = (_norm(cur) == _norm(reg)).fillna(False)
    wa, wb = a["ward_code_2025"], b["ward_code_2025"]
    same_ward = (wa == wb).fillna(False).astype(bool)
    # one province written in the units before and after 1 July 2025 (Tiền Giang / Đồng Tháp)
    same_province = (wa.isna() & wb.isna() & (a["province_code_2025"] == b["province_code_2025"]).fillna(False)).astype(bool)
    coarser = (wa.isna() & a["province_code_2025"].notna() & wb.notna()
               & (a["province_code_2025"] == b["province_code_2025"]).fillna(False)).astype(bool)
    marks = _restore_marks(cur, reg)
    rule = pd.Series(np.where(coarser, "more_precise", np.where(marks, "restore_marks", None)), index=cur.index, dtype=object)
    same = same_text | same_ward | same_province
    conflict = pd.Series(np.where(same | coarser | marks, None, "another place"), index=cur.index, dtype=object)
    return rule, conflict, same


def _compare(rule_def: FieldRule, cur: pd.Series, reg: pd.Series, card_old: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(proposal rule, conflict reason) per row where both sides have a value."""
    none = pd.Series([None] * len(cur), index=cur.index, dtype=object)
    if rule_def.kind == "date":
        return _date_rules(cur, reg)
    if rule_def.kind == "place":
        rule, conflict, _ = _place_rules(cur, reg)
        return rule, conflict
    if rule_def.kind == "gender":
        a, b = normalize_gender(cur), normalize_gender(reg)
        differ = (a != b).fillna(True) & b.notna()
        return none, pd.Series(np.where(differ, "another gender", None), index=cur.index, dtype=object)
    if rule_def.kind == "ethnicity":
        a, b = normalize_ethnicity(cur)["ethnicity_code"], normalize_ethnicity(reg)["ethnicity_code"]
        same = (a == b).fillna(False).astype(bool) | (_norm(cur) == _norm(reg)).fillna(False).astype(bool)
        return none, pd.Series(np.where(same | reg.isna(), None, "another ethnic group"), index=cur.index, dtype=object)
    if rule_def.kind == "name":
        a, b = normalize_names(cur)["norm"], normalize_names(reg)["norm"]
        same = (a.str.casefold() == b.str.casefold()).fillna(False).astype(bool)
        marks = _restore_marks(a, b) & ~same
        fa, fb = _fold(_norm(cur)).fillna(""), _fold(_norm(reg)).fillna("")
        sim = np.asarray(process.cpdist(fa.tolist(), fb.tolist(), scorer=JaroWinkler.normalized_similarity, workers=1)) \
            if len(fa) else np.zeros(0)
        rule = pd.Series(np.where(marks, "restore_marks", None), index=cur.index, dtype=object)
        reason = np.where(same | marks | reg.isna(), None, np.where(sim >= 0.9, "another spelling (a slip on one side?)",
                                                                     "another name"))
        return rule, pd.Series(reason, index=cur.index, dtype=object)
    if rule_def.kind == "id":
        a, b = parse_ids(cur.fillna("")), parse_ids(reg.fillna(""))
        old = parse_ids(card_old.fillna(""))["id_clean"]
        same = (a["id_clean"] == b["id_clean"]).fillna(False).astype(bool)
        cmnd = (a["id_kind"] == "cmnd").fillna(False).astype(bool) & (b["id_kind"] == "personal_id").fillna(False).astype(bool)
        upgrade = cmnd & (a["id_clean"] == old).fillna(False).astype(bool)
        rule = pd.Series(np.where(upgrade, "id_upgrade", None), index=cur.index, dtype=object)
        reason = np.where(same | upgrade, None,
                          np.where(cmnd, "a CMND the person's ID card does not record", "another ID number"))
        return rule, pd.Series(reason, index=cur.index, dtype=object)
    equal = (_norm(cur) == _norm(reg)).fillna(False).astype(bool)
    marks = _restore_marks(cur, reg)
    rule = pd.Series(np.where(marks, "restore_marks", None), index=cur.index, dtype=object)
    return rule, pd.Series(np.where(equal | marks, None, "another value"), index=cur.index, dtype=object)


def _register_value(base: pd.DataFrame, rule_def: FieldRule, registers: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per row of `base` (wanted_id, person_id): the register value to use, its source, source
    record and record date. First source with a value; for a date the most precise."""
    cands = []
    for k, (source, column) in enumerate(rule_def.sources):
        reg = registers.get(source)
        if reg is None or column not in reg.columns:
            continue
        vals = _text(pd.Series(reg[column].reindex(base["person_id"]).to_numpy(), index=base.index))
        cands.append(pd.DataFrame({
            "value": vals, "source": source,
            "source_record": np.where(vals.notna(), source + ":" + base["person_id"], None),
            "date": pd.to_datetime(reg["_date"]).reindex(base["person_id"]).to_numpy(), "order": k,
            "prec": _precision(parse_birth_dates(vals.fillna(""))) if rule_def.kind == "date" else 0.0,
        }, index=base.index))
    if not cands:
        return pd.DataFrame({"value": pd.Series(pd.NA, index=base.index, dtype="string"), "source": None,
                             "source_record": None, "date": pd.NaT}, index=base.index)
    long = pd.concat(cands).reset_index(names="_i")
    long = long[long["value"].notna()]
    long = long.sort_values(["_i", "prec", "order"], ascending=[True, False, True], kind="stable")
    best = long.drop_duplicates("_i").set_index("_i")
    return best.reindex(base.index)[["value", "source", "source_record", "date"]]


@dataclass
class Proposals:
    changes: pd.DataFrame
    conflicts: pd.DataFrame
    counts: dict[str, int] = field(default_factory=dict)


def propose(wanted: pd.DataFrame, matches: pd.DataFrame, registers: dict[str, pd.DataFrame],
            erules: EnrichRules) -> Proposals:
    """Proposed changes and conflicts for every field of every wanted record with one confirmed match."""
    per = matches.groupby("wanted_id")["person_id"].nunique()
    several = set(per[per > 1].index)
    known = matches[matches["wanted_id"].isin(set(wanted["wanted_id"].dropna()))]
    base = known[~known["wanted_id"].isin(several)].merge(wanted, on="wanted_id", how="inner").reset_index(drop=True)
    wanted_date = _day(base[erules.wanted_date]) if erules.wanted_date in base.columns else pd.Series(pd.NaT, index=base.index)
    old_src, old_col = erules.old_id or ("id_cards", "old_id_number")
    reg_old = registers.get(old_src)
    card_old = _text(pd.Series(reg_old[old_col].reindex(base["person_id"]).to_numpy(), index=base.index)) if reg_old is not None and old_col in reg_old.columns \
        else pd.Series(pd.NA, index=base.index, dtype="string")
    changes, conflicts = [], []
    for rule_def in erules.fields:
        cur = _text(base[rule_def.field]) if rule_def.field in base.columns else pd.Series(pd.NA, index=base.index, dtype="string")
        reg = _register_value(base, rule_def, registers)
        has_reg = reg["value"].notna()
        fill = cur.isna() & has_reg
        if rule_def.kind == "id":  # only a personal id fills or upgrades the wanted id
            fill &= (parse_ids(reg["value"].fillna(""))["id_kind"] == "personal_id").fillna(False).astype(bool)
        both = cur.notna() & has_reg
        rule, conflict = _compare(rule_def, cur.where(both), reg["value"].where(both), card_old)
        if rule_def.newer:
            newer = (reg["date"] > wanted_date).fillna(False).astype(bool) & conflict.notna() & both
            rule = rule.mask(newer, "register_newer")
            conflict = conflict.mask(newer, None)
        rule = rule.where(both, None).mask(fill, "fill_empty")
        conflict = conflict.where(both & rule.isna(), None)
        frame = pd.DataFrame({"wanted_id": base["wanted_id"], "row": base["_row"].astype("int64"), "field": rule_def.field,
                              "current_value": cur, "register_value": reg["value"], "source": reg["source"],
                              "source_record": reg["source_record"]})
        changes.append(frame[rule.notna()].assign(rule=rule[rule.notna()]))
        conflicts.append(frame[conflict.notna()].assign(reason=conflict[conflict.notna()]))
    extra = pd.DataFrame({"wanted_id": sorted(several), "field": "*", "reason": "several confirmed matches"})
    if len(extra):
        extra["row"] = extra["wanted_id"].map(wanted.set_index("wanted_id")["_row"]).astype("Int64")
    ch = pd.concat(changes, ignore_index=True) if changes else pd.DataFrame(columns=CHANGE_COLUMNS)
    order = {f.field: i for i, f in enumerate(erules.fields)}
    ch = ch.assign(_o=ch["field"].map(order)).sort_values(["row", "_o"], kind="stable").drop(columns="_o")
    ch.insert(0, "change_id", ch["wanted_id"] + "|" + ch["field"])
    ch["approved"] = ""
    cf = pd.concat(conflicts + [extra], ignore_index=True)
    cf = cf.reindex(columns=CONFLICT_COLUMNS)
    counts = {"confirmed_matches": int(len(matches)), "wanted_with_match": int(base["wanted_id"].nunique()),
              "matches_not_in_wanted": int(len(matches) - len(known)), "several_matches": len(several),
              "changes": int(len(ch)), "conflicts": int(len(cf))}
    return Proposals(ch[CHANGE_COLUMNS].reset_index(drop=True), cf.reset_index(drop=True), counts)


def _as_text_table(frame: pd.DataFrame) -> pa.Table:
    cols = {c: pa.array([None if pd.isna(v) else (int(v) if c == "row" else str(v)) for v in frame[c]],
                        pa.int64() if c == "row" else pa.string()) for c in frame.columns}
    return pa.table(cols)


def _write_csv(frame: pd.DataFrame, target: Path) -> None:
    with atomic_path(target) as tmp:
        frame.to_csv(tmp, index=False, encoding="utf-8")


@dataclass
class EnrichResult:
    out_dir: Path
    counts: dict[str, int]
    by_rule: dict[str, int]
    outputs: dict[str, str]


def enrich(wanted: Path, out_dir: Path, residents: Path | None, id_cards: Path | None,
           decisions: str | Path | None = None, labels: Path | None = None, rules: str | Path | None = None) -> EnrichResult:
    """Write changes.parquet / changes.csv (proposals for a steward; fill `approved`) and
    conflicts.parquet / conflicts.csv into `out_dir`."""
    if residents is None and id_cards is None:
        raise InputError("give the register: --residents and/or --id-cards")
    erules = load_enrich_rules(rules)
    matches = confirmed_matches(decisions, labels, rules)
    _, _, frame = read_wanted(Path(wanted), rules)
    registers = register_records(residents, id_cards, set(matches["person_id"]), erules, rules)
    got = propose(frame, matches, registers, erules)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    outputs = {"changes": out_dir / "changes.parquet", "changes_csv": out_dir / "changes.csv",
               "conflicts": out_dir / "conflicts.parquet", "conflicts_csv": out_dir / "conflicts.csv"}
    write_parquet(_as_text_table(got.changes), outputs["changes"])
    _write_csv(got.changes, outputs["changes_csv"])
    write_parquet(_as_text_table(got.conflicts), outputs["conflicts"])
    _write_csv(got.conflicts, outputs["conflicts_csv"])
    by_rule = {str(k): int(v) for k, v in got.changes["rule"].value_counts().sort_index().items()}
    write_json({"wanted": str(wanted), "counts": got.counts, "by_rule": by_rule,
                "outputs": {k: str(v) for k, v in outputs.items()}}, out_dir / "enrich_summary.json")
    return EnrichResult(out_dir, got.counts, by_rule, {k: str(v) for k, v in outputs.items()})


# ---------------------------------------------------------------- applying approved changes


def _read_approved(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise InputError(f"{path}: approved changes file not found")
    with open(path, "rb") as fh:
        parquet = fh.read(4) == b"PAR1"
    frame = pd.read_parquet(path) if parquet else pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in ("wanted_id", "field", "current_value", "register_value", "rule") if c not in frame.columns]
    if missing:
        raise InputError(f"{path}: lacks column(s) {', '.join(missing)} (a changes file from `linkage enrich`)")
    frame = frame.astype(object).where(frame.notna(), None)
    if "approved" in frame.columns:
        frame = frame[frame["approved"].map(lambda v: str(v or "").strip().casefold() in APPROVED_YES)]
    dup = frame.duplicated(["wanted_id", "field"], keep=False)
    if dup.any():
        first = frame[dup].iloc[0]
        raise InputError(f"{path}: two approved changes to {first['field']} of {first['wanted_id']}; keep one")
    return frame.reset_index(drop=True)


@dataclass
class ApplyResult:
    output: Path
    changes: Path
    applied: int
    skipped: pd.DataFrame


def apply_changes(wanted: Path, approved: Path, out_file: Path, rules: str | Path | None = None) -> ApplyResult:
    """A corrected copy of the wanted file with the approved proposals applied, a change log
    (<out stem>.changes.parquet, linkage clean's schema) and the approved rows not applied (a
    conflict or unknown rule, an unknown record or field, a value that changed since)."""
    wanted, approved, out_file = Path(wanted), Path(approved), Path(out_file)
    fmt = _FORMATS.get(out_file.suffix.lower())
    if fmt is None:
        raise InputError(f"{out_file}: unknown output format; use .csv, .tsv, .parquet or .jsonl")
    if out_file.resolve() in (wanted.resolve(), approved.resolve()):
        raise InputError(f"{out_file}: the output would overwrite an input; write the copy elsewhere")
    erules = load_enrich_rules(rules)
    raw, match, frame = read_wanted(wanted, rules)
    todo = _read_approved(approved)
    pos_of = frame.reset_index().drop_duplicates("wanted_id").set_index("wanted_id")["index"]
    fields = {f.field for f in erules.fields}
    idx = todo["wanted_id"].map(pos_of)
    current = pd.Series(pd.NA, index=todo.index, dtype="string")
    for fld in set(todo["field"]) & set(frame.columns):  # each field's column read once
        at = (todo["field"] == fld) & idx.notna()
        current[at] = _text(frame[fld]).to_numpy()[idx[at].astype(int).to_numpy()]
    expected = _text(todo["current_value"].astype("string"))
    reason = np.select(
        [~todo["rule"].isin(PROPOSAL_RULES), ~todo["field"].isin(fields), idx.isna(),
         ~((current == expected).fillna(False) | (current.isna() & expected.isna())),
         _text(todo["register_value"].astype("string")).isna()],
        ["not a proposal (conflicts are never applied)", "field not in rules/enrich.yaml", "wanted_id not in the file",
         "the current value changed since the proposal", "no register value"], default="")
    ok = todo[reason == ""]
    skipped = todo[reason != ""].assign(reason=reason[reason != ""])
    headers, columns = list(raw.headers), list(raw.table.columns)
    logs = []
    for fld, part in ok.groupby("field", sort=False):
        pos = match.columns.get(fld)
        if pos is None:  # the file has no such column: add it under its canonical name
            headers.append(fld)
            columns.append(pa.chunked_array([pa.nulls(raw.table.num_rows, pa.string())]))
            pos = len(columns) - 1
        values = columns[pos].to_pandas().astype(object)
        rows = part["wanted_id"].map(pos_of).astype(int).to_numpy()
        before = values.iloc[rows].tolist()
        values.iloc[rows] = part["register_value"].astype(str).to_numpy()
        columns[pos] = pa.chunked_array([pa.array(values.where(values.notna(), None).tolist(), pa.string())])
        logs.append(pa.table({
            "record_id": pa.array(part["wanted_id"].astype(str).tolist(), pa.string()),
            "row": pa.array(raw.rows[rows], pa.int64()),
            "field": pa.array([fld] * len(part), pa.string()),
            "header": pa.array([headers[pos]] * len(part), pa.string()),
            "before": pa.array([None if v is None or v != v else str(v) for v in before], pa.string()),
            "after": pa.array(part["register_value"].astype(str).tolist(), pa.string()),
            "rule": pa.array(("enrich:" + part["rule"].astype(str)).tolist(), pa.string()),
        }, schema=CHANGES_SCHEMA))
    changes = pa.concat_tables(logs).sort_by([("row", "ascending"), ("field", "ascending")]) if logs \
        else CHANGES_SCHEMA.empty_table()
    out = pa.Table.from_arrays(columns, names=headers)
    _write(out, out_file, fmt, raw, wanted)
    write_parquet(changes, changes_path(out_file))
    return ApplyResult(out_file, changes_path(out_file), changes.num_rows, skipped.reset_index(drop=True))
