"""Audit benchmark: planted-defect recall and false reports, and the speed of a 1M-resident audit.

Accuracy. Generated registers (linkage.synth.generate) already hold defects of their own (the
generator's noise: NFD names, Telex residues, missing ids, old addresses ...). So:
  1. audit the generated files as they are (the baseline);
  2. plant each defect kind into a copy at a known rate, on records picked at random (one plant
     per record), keeping the list of planted (record, field, rule) and the cells changed;
  3. audit the copy.
A planted defect is FOUND when the copy's issues hold its (record, field, rule). A report of the
copy is FALSE when its (record, field, rule) is not in the baseline (a defect genuinely in the
generated data) and lies on no cell the planting touched or expected a report on. Reports on a
planted cell under another rule (a placeholder birth date is also a missing required field) are
counted apart as "related". The false-report rate is false / new reports (reports of the copy
that the baseline did not have), the strictest denominator.
The baseline is also compared with the generator's own truth labels (wanted list).

Speed. `audit` of N generated residents (default 1,000,000), all rules, outputs written.

Usage:
    .venv/bin/python bench/bench_audit.py                    # accuracy + 1M speed
    .venv/bin/python bench/bench_audit.py --speed-rows 0     # accuracy only
    .venv/bin/python bench/bench_audit.py --accuracy-residents 0 --speed-file residents.csv
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
import unicodedata
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from linkage.audit import audit  # noqa: E402
from linkage.normalize.legacy import TCVN3, encode_legacy  # noqa: E402
from linkage.rules import read_ref_csv  # noqa: E402
from linkage.synth import generate  # noqa: E402
from linkage.synth.textnoise import keystrokes, tone_flip  # noqa: E402

TODAY = date(2026, 11, 26)
KEY = {"wanted": "wanted_id", "residents": "person_id", "id_cards": "card_number"}


# ---------------------------------------------------------------- planting
class Planter:
    """Plants one defect per picked record; remembers what it expects the audit to report."""

    def __init__(self, df: pd.DataFrame, source: str, rng: np.random.Generator):
        self.df, self.source, self.rng = df, source, rng
        self.key = KEY[source]
        self.used: set[int] = set()
        self.expected: list[tuple[str, str, str, str]] = []  # (kind, record_id, field, rule)
        self.cells: set[tuple[str, str]] = set()  # (record_id, field) changed or expected to be reported
        self.extra: list[dict] = []  # appended records (duplicates)
        self.alias: dict[str, str] = {}  # appended record id -> the record it copies

    def pick(self, rate: float, ok: pd.Series) -> list[int]:
        pool = [i for i in np.flatnonzero(ok.to_numpy()) if i not in self.used]
        n = min(len(pool), max(1, int(round(rate * len(self.df)))))
        chosen = sorted(self.rng.choice(pool, size=n, replace=False).tolist()) if n else []
        self.used.update(chosen)
        return chosen

    def plant(self, kind: str, rate: float, ok: pd.Series, change, reports) -> None:
        """`change(row) -> {field: new value}`; `reports(row, new) -> [(field, rule), ...]`."""
        for i in self.pick(rate, ok):
            row = self.df.iloc[i].to_dict()
            new = change(row)
            if new is None:
                self.used.discard(i)
                continue
            rid = row[self.key]
            for f, v in new.items():
                self.df.iat[i, self.df.columns.get_loc(f)] = v
                self.cells.add((rid, f))
            for f, rule in reports(row, new):
                self.expected.append((kind, rid, f, rule))
                self.cells.add((rid, f))


def _col(df: pd.DataFrame, c: str) -> pd.Series:
    return df[c].fillna("") if c in df.columns else pd.Series("", index=df.index)


def _nonempty(df, c):
    return _col(df, c).str.strip() != ""


def _one(field: str, rule: str):
    return lambda row, new: [(field, rule)]


def _valid_pid(df: pd.DataFrame, c: str) -> pd.Series:
    s = _col(df, c)
    known = set(read_ref_csv("ref/ids/cccd_birth_province_codes.csv")["cccd_code"])
    return s.str.fullmatch(r"0\d{11}") & s.str[:3].isin(known) & s.str[3].isin(list("0123"))


def _telex(name: str) -> str | None:
    out = keystrokes(name, vni=False, whole=True, pick=0.0)
    return out if out != name else None


def _mojibake(name: str) -> str | None:
    try:
        out = encode_legacy(name, TCVN3).decode("cp1252")
    except (UnicodeError, KeyError, ValueError):
        return None
    return out if out != name else None


def _unique_wards() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(2025 ward name, its province code) for names that exist once nationally (before and after
    2025), and (province code, name) of the 2025 provinces."""
    w25 = read_ref_csv("ref/admin/wards_2025.csv", columns=("ward_name", "province_code"))
    wpre = read_ref_csv("ref/admin/wards_pre2025.csv", columns=("ward_name",))
    base = lambda s: s.str.replace(r"^(Xã|Phường|Thị trấn|Đặc khu) ", "", regex=True)  # noqa: E731
    names = pd.concat([base(w25["ward_name"]), base(wpre["ward_name"])])
    counts = names.value_counts()
    once = w25[base(w25["ward_name"]).map(counts) == 1]
    prov = read_ref_csv("ref/admin/provinces_2025.csv", columns=("province_code", "province_name"))
    return list(zip(once["ward_name"], once["province_code"])), list(zip(prov["province_code"], prov["province_name"]))


def _ward_elsewhere(wards, provinces, rng) -> str:
    """A real ward, written in a province it does not belong to."""
    name, own = wards[rng.integers(len(wards))]
    others = [n for c, n in provinces if c != own]
    return f"{name}, {others[rng.integers(len(others))]}"


def _traditional(s: str) -> bool:
    from linkage.normalize.text import canonical_tones

    return bool(s) and canonical_tones(s) == s and tone_flip(s) != s


def plant_wanted(df: pd.DataFrame, rate: float, rng: np.random.Generator) -> Planter:
    p = Planter(df, "wanted", rng)
    name_ok = _nonempty(df, "full_name")
    marked = _col(df, "full_name").map(lambda s: unicodedata.normalize("NFD", s) != s)
    has_id = _valid_pid(df, "id_number")
    day = _col(df, "birth_date").str.fullmatch(r"\d\d/\d\d/\d{4}")
    year = _col(df, "birth_date").str[-4:]
    wards, provinces = _unique_wards()

    p.plant("legacy_encoding", rate, name_ok & marked, lambda r: (lambda m: m and {"full_name": m})(
        _mojibake(r["full_name"])), _one("full_name", "sach.legacy_encoding"))
    p.plant("not_nfc", rate, name_ok & marked, lambda r: {"full_name": unicodedata.normalize("NFD", r["full_name"])},
            _one("full_name", "sach.not_nfc"))
    p.plant("spacing", rate, name_ok & _col(df, "full_name").str.contains(" "),
            lambda r: {"full_name": r["full_name"].replace(" ", "  ", 1)}, _one("full_name", "sach.spacing"))
    p.plant("confusable", rate, _col(df, "full_name").str.contains("Đ"),
            lambda r: {"full_name": r["full_name"].replace("Đ", "Ð")}, _one("full_name", "sach.confusable"))
    p.plant("tone_style", rate, _col(df, "hometown").map(_traditional),
            lambda r: {"hometown": tone_flip(r["hometown"])}, _one("hometown", "sach.tone_style"))
    p.plant("keystroke_residue", rate, name_ok & marked, lambda r: (lambda t: t and {"full_name": t})(
        _telex(r["full_name"])), _one("full_name", "sach.keystroke_residue"))
    p.plant("placeholder_text", rate, _nonempty(df, "hometown"), lambda r: {"hometown": "Không rõ"},
            _one("hometown", "sach.placeholder"))
    p.plant("placeholder_date", rate, day & ~has_id, lambda r: {"birth_date": "01/01/1900"},
            lambda r, n: [("birth_date", "sach.placeholder")])
    p.plant("date_impossible", rate, day & ~has_id, lambda r: {"birth_date": "31/02/" + r["birth_date"][-4:]},
            _one("birth_date", "dung.date_impossible"))
    p.plant("date_future", rate, _nonempty(df, "decision_date"), lambda r: {"decision_date": "15/03/2031"},
            _one("decision_date", "dung.date_future"))
    p.plant("under_age", rate, day & ~has_id & (_col(df, "decision_date").str[-4:].str.fullmatch(r"\d{4}")),
            lambda r: {"birth_date": r["birth_date"][:6] + str(int(r["decision_date"][-4:]) - 10)},
            _one("birth_date", "dung.wanted_under_age"))
    p.plant("over_age", rate, day & ~has_id, lambda r: {"birth_date": r["birth_date"][:6] + "1938"},
            _one("birth_date", "song.wanted_over_age"))
    p.plant("id_gender", rate, has_id & _col(df, "gender").isin(["Nam", "Nữ"]),
            lambda r: {"gender": "Nữ" if r["gender"] == "Nam" else "Nam"}, _one("id_number", "dung.id_gender"))
    p.plant("id_birth_year", rate, has_id & day & (year.str[-2:] == _col(df, "id_number").str[4:6]),
            lambda r: {"id_number": r["id_number"][:4] + f"{(int(r['id_number'][4:6]) + 3) % 100:02d}" + r["id_number"][6:]},
            _one("id_number", "dung.id_birth_year"))
    p.plant("id_province", rate, has_id, lambda r: {"id_number": "099" + r["id_number"][3:]},
            _one("id_number", "dung.id_province"))
    p.plant("id_format", rate, has_id, lambda r: {"id_number": r["id_number"] + "7"}, _one("id_number", "dung.id_format"))
    p.plant("id_separators", rate, has_id,
            lambda r: {"id_number": " ".join(r["id_number"][k:k + 3] for k in range(0, 12, 3))},
            _one("id_number", "sach.id_separators"))
    p.plant("no_id", rate, has_id, lambda r: {"id_number": ""}, _one("id_number", "song.wanted_no_id"))
    p.plant("partial_birth_date", rate, day, lambda r: {"birth_date": r["birth_date"][-4:]},
            _one("birth_date", "song.wanted_partial_birth_date"))
    p.plant("gender_value", rate, _nonempty(df, "gender"), lambda r: {"gender": "Khác"},
            _one("gender", "dung.gender_value"))
    p.plant("ethnicity_value", rate, _nonempty(df, "ethnicity"), lambda r: {"ethnicity": r["ethnicity"] + "h"},
            _one("ethnicity", "dung.ethnicity_value"))
    p.plant("danger_level_value", rate, _nonempty(df, "danger_level"), lambda r: {"danger_level": "rất nguy hiểm"},
            _one("danger_level", "dung.danger_level_value"))
    p.plant("name_chars", rate, name_ok, lambda r: {"full_name": r["full_name"] + " #2"},
            _one("full_name", "dung.name_chars"))
    p.plant("required", rate, _nonempty(df, "offence"), lambda r: {"offence": ""}, _one("offence", "du.required"))
    p.plant("place_unknown", rate, _nonempty(df, "permanent_address"),
            lambda r: {"permanent_address": "Khu Zô Zê, Vùng Qua Quy"}, _one("permanent_address", "dung.place_unknown"))
    p.plant("place_unit_not_found", rate, _nonempty(df, "permanent_address"),
            lambda r: {"permanent_address": _ward_elsewhere(wards, provinces, rng)},
            _one("permanent_address", "dung.place_unit_not_found"))
    _plant_duplicates(p, rate, day & name_ok)
    return p


def _plant_duplicates(p: Planter, rate: float, ok: pd.Series) -> None:
    """A second active record of a person: the same record under a new wanted_id."""
    for k, i in enumerate(p.pick(rate, ok)):
        row = p.df.iloc[i].to_dict()
        dup = dict(row)
        dup["wanted_id"] = f"DUP-{k:05d}"
        p.extra.append(dup)
        p.alias[dup["wanted_id"]] = row["wanted_id"]
        for rid in (row["wanted_id"], dup["wanted_id"]):
            p.expected.append(("duplicate_person", rid, "full_name", "sach.duplicate_person"))
            p.cells.add((rid, "full_name"))
            if str(row.get("id_number") or "").strip():  # the same id on both: also a duplicate id
                p.cells.add((rid, "id_number"))


def plant_residents(df: pd.DataFrame, rate: float, rng: np.random.Generator) -> Planter:
    p = Planter(df, "residents", rng)
    alive = _col(df, "status") == "alive"
    marked = _col(df, "full_name").map(lambda s: unicodedata.normalize("NFD", s) != s)
    p.plant("deceased", rate, alive, lambda r: {"status": "deceased"}, _one("status", "song.deceased"))
    p.plant("status_value", rate, alive, lambda r: {"status": "chuyển đi"}, _one("status", "dung.status_value"))
    p.plant("stale", rate, _nonempty(df, "updated_at"), lambda r: {"updated_at": "2018-05-02"},
            _one("updated_at", "song.stale"))
    p.plant("required", rate, _nonempty(df, "ethnicity"), lambda r: {"ethnicity": ""}, _one("ethnicity", "du.required"))
    p.plant("id_gender", rate, _col(df, "gender").isin(["Nam", "Nữ"]),
            lambda r: {"gender": "Nữ" if r["gender"] == "Nam" else "Nam"}, _one("person_id", "dung.id_gender"))
    p.plant("not_nfc", rate, marked, lambda r: {"mother_name": unicodedata.normalize("NFD", r["mother_name"])}
            if unicodedata.normalize("NFD", r["mother_name"]) != r["mother_name"] else None,
            _one("mother_name", "sach.not_nfc"))
    p.plant("legacy_encoding", rate, marked, lambda r: (lambda m: m and {"full_name": m})(_mojibake(r["full_name"])),
            _one("full_name", "sach.legacy_encoding"))
    p.plant("spacing", rate, _nonempty(df, "permanent_address"),
            lambda r: {"permanent_address": " " + r["permanent_address"]}, _one("permanent_address", "sach.spacing"))
    p.plant("placeholder", rate, _nonempty(df, "birth_place"), lambda r: {"birth_place": "N/A"},
            _one("birth_place", "sach.placeholder"))
    return p


def plant_cards(df: pd.DataFrame, rate: float, rng: np.random.Generator) -> Planter:
    p = Planter(df, "id_cards", rng)
    cmnd = _col(df, "old_id_number").str.fullmatch(r"\d{9}")
    p.plant("id_format", rate, cmnd, lambda r: {"old_id_number": r["old_id_number"][:7]},
            _one("old_id_number", "dung.id_format"))
    p.plant("cmnd_prefix", rate, cmnd, lambda r: {"old_id_number": "99" + r["old_id_number"][2:]},
            _one("old_id_number", "dung.cmnd_prefix"))
    p.plant("date_future", rate, _nonempty(df, "issue_date"), lambda r: {"issue_date": "2031-01-01"},
            _one("issue_date", "dung.date_future"))
    p.plant("id_separators", rate, cmnd, lambda r: {"old_id_number": r["old_id_number"][:3] + "." + r["old_id_number"][3:]},
            _one("old_id_number", "sach.id_separators"))
    p.plant("tone_style", rate, _col(df, "full_name").map(_traditional),
            lambda r: {"full_name": tone_flip(r["full_name"])}, _one("full_name", "sach.tone_style"))
    return p


# ---------------------------------------------------------------- measuring
def _issues(out: Path) -> set[tuple[str, str, str]]:
    t = pq.read_table(out / "issues.parquet", columns=["record_id", "field", "rule"]).to_pylist()
    return {(r["record_id"], r["field"], r["rule"]) for r in t}


def _write(df: pd.DataFrame, path: Path) -> Path:
    df.to_csv(path, index=False, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
    return path


def measure(source: str, src: Path, work: Path, rate: float, rng: np.random.Generator, residents: Path | None
            ) -> dict:
    df = pd.read_csv(src, dtype=str, keep_default_na=False)
    base_out = work / f"{source}_baseline"
    audit(src, source, base_out, residents=residents, today=TODAY)
    baseline = _issues(base_out)
    planter = {"wanted": plant_wanted, "residents": plant_residents, "id_cards": plant_cards}[source](df.copy(), rate, rng)
    planted_df = pd.concat([planter.df, pd.DataFrame(planter.extra, columns=df.columns)], ignore_index=True)
    planted_path = _write(planted_df, work / f"{source}_planted.csv")
    out = work / f"{source}_planted"
    audit(planted_path, source, out, residents=residents, today=TODAY)
    got = _issues(out)
    per_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for kind, rid, f, rule in planter.expected:
        per_kind[kind][1] += 1
        per_kind[kind][0] += (rid, f, rule) in got
    # a copied record carries its original's genuine defects: compare it with the original's baseline
    new = {x for x in got if (planter.alias.get(x[0], x[0]), x[1], x[2]) not in baseline}
    false = {x for x in new if (x[0], x[1]) not in planter.cells}
    related = {x for x in new if (x[0], x[1]) in planter.cells} - {(r, f, u) for _k, r, f, u in planter.expected}
    found = sum(v[0] for v in per_kind.values())
    total = sum(v[1] for v in per_kind.values())
    return {"source": source, "records": len(df), "planted": total, "found": found, "baseline": len(baseline),
            "new": len(new), "false": len(false), "related": len(related), "per_kind": dict(per_kind),
            "false_examples": Counter(r for _i, _f, r in false).most_common(8),
            "related_rules": Counter(r for _i, _f, r in related).most_common(8),
            "cells": len(planted_df) * len(df.columns), "missed": [e for e in planter.expected
                                                                    if (e[1], e[2], e[3]) not in got][:8]}


def truth_check(wanted: Path, truth: Path, work: Path) -> list[tuple[str, str, int, int, int]]:
    """Baseline reports vs the generator's labels: (label, rule, labelled, labelled & reported,
    reported without the label)."""
    issues = pq.read_table(work / "wanted_baseline" / "issues.parquet").to_pandas()
    t = pd.read_csv(truth, dtype=str, keep_default_na=False)
    labels = t.set_index("wanted_id")["scenarios"].str.split("|")
    pairs = [(("nfd",), "sach.not_nfc", "full_name"),
             (("typo_telex", "typo_vni"), "sach.keystroke_residue", "full_name"),
             (("id_missing",), "song.wanted_no_id", "id_number"),
             (("date_year_only", "date_month_year", "date_missing"), "song.wanted_partial_birth_date", "birth_date")]
    out = []
    for label, rule, field in pairs:
        has = set(labels[labels.map(lambda ls: bool(set(label) & set(ls)))].index)
        rep = set(issues[(issues.rule == rule) & (issues.field == field)].record_id)
        out.append(("|".join(label), f"{rule} on {field}", len(has), len(has & rep), len(rep - has)))
    return out


def accuracy(args) -> None:
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    gen = work / "generated"
    t0 = time.perf_counter()
    paths = generate(args.accuracy_residents, args.accuracy_wanted, args.seed, gen)
    print(f"generated {args.accuracy_residents:,} residents, {args.accuracy_wanted:,} wanted in "
          f"{time.perf_counter() - t0:.1f} s ({gen})")
    rng = np.random.default_rng(args.seed)
    rows = []
    for source in ("wanted", "residents", "id_cards"):
        r = measure(source, paths[source], work, args.rate, rng, paths["residents"] if source == "wanted" else None)
        rows.append(r)
        print(f"\n{source}: {r['records']:,} records, baseline reports {r['baseline']:,}")
        print(f"  planted {r['planted']:,} ({args.rate:.1%} of records per kind), found {r['found']:,} "
              f"= {r['found'] / r['planted']:.2%}")
        print(f"  new reports {r['new']:,}: false {r['false']:,} = {r['false'] / max(r['new'], 1):.2%} of new reports "
              f"({r['false'] / r['cells']:.4%} of {r['cells']:,} cells); related (other rule, planted cell) "
              f"{r['related']:,}")
        for kind, (f, n) in sorted(r["per_kind"].items()):
            print(f"    {kind:<22} {f:>5}/{n:<5} {f / n:.0%}")
        if r["related_rules"]:
            print(f"  related reports by rule: {r['related_rules']}")
        if r["false_examples"]:
            print(f"  false reports by rule: {r['false_examples']}")
        if r["missed"]:
            print(f"  missed (first): {r['missed']}")
    planted = sum(r["planted"] for r in rows)
    found = sum(r["found"] for r in rows)
    new = sum(r["new"] for r in rows)
    false = sum(r["false"] for r in rows)
    print(f"\nALL: found {found:,}/{planted:,} = {found / planted:.2%}; false {false:,}/{new:,} new reports "
          f"= {false / max(new, 1):.2%}")
    print("\nbaseline vs generator labels (wanted): label, rule, labelled, labelled+reported, reported w/o label")
    for row in truth_check(paths["wanted"], paths["truth"], work):
        print("  ", row)


def speed(args) -> None:
    work = Path(args.work)
    if args.speed_file:
        src = Path(args.speed_file)
    else:
        gen = work / f"speed_{args.speed_rows}"
        src = gen / "residents.csv"
        if not src.is_file():
            t0 = time.perf_counter()
            generate(args.speed_rows, 100, args.seed + 1, gen)
            print(f"\ngenerated {args.speed_rows:,} residents in {time.perf_counter() - t0:.1f} s")
    for run in range(args.runs):
        t0 = time.perf_counter()
        r = audit(src, "residents", work / "speed_out", today=TODAY)
        took = time.perf_counter() - t0
        t = r.timings
        print(f"speed run {run + 1}: audit of {r.rows_read:,} residents in {took:.1f} s (read {t['read']:.1f} s, "
              f"checks {t['checks']:.1f} s, report {t['summary']:.1f} s); {r.issue_count:,} issues")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default=str(ROOT / "bench" / "out" / "audit"))
    ap.add_argument("--seed", type=int, default=20261126)
    ap.add_argument("--accuracy-residents", type=int, default=60_000)
    ap.add_argument("--accuracy-wanted", type=int, default=6_000)
    ap.add_argument("--rate", type=float, default=0.01, help="share of records planted per defect kind")
    ap.add_argument("--speed-rows", type=int, default=1_000_000)
    ap.add_argument("--speed-file", default=None, help="audit this residents file instead of generating one")
    ap.add_argument("--runs", type=int, default=1)
    args = ap.parse_args()
    if args.accuracy_residents:
        accuracy(args)
    if args.speed_rows or args.speed_file:
        speed(args)


if __name__ == "__main__":
    main()
