"""Second wanted records of one person, for `linkage dedupe`'s tests and benchmark.

Takes a folder written by `linkage synth` (wanted.csv, truth.csv, residents.csv, id_cards.csv)
and gives a share of wanted persons a second record as another issuing unit would write it:
often copied from the population register rather than from the first notice, with its own
spelling slips, date precision, id (missing, one digit wrong, the old CMND), addresses and
parents left out, a decision of its own and sometimes another offence. Writes the longer
wanted.csv and truth.csv and `duplicates.csv` (every pair of records of one person).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from linkage.ingest.atomic import atomic_path
from linkage.synth.perturb import _digit_wrong
from linkage.synth.textnoise import fold, keystrokes, tone_flip, typo

DUPLICATES = "duplicates.csv"
MARKS_STREAM = 0x6D61726B  # as linkage/synth/marks.py: the marks' own random stream
MARKS_LEFT_OUT = 0.15  # second records without identifying marks
_COPY_FROM_REGISTER = ("full_name", "other_names", "gender", "birth_date", "birth_place", "hometown",
                       "permanent_address", "current_address", "ethnicity", "father_name", "mother_name")


@dataclass
class DuplicateResult:
    folder: Path
    added: int
    pairs: int


def _name_noise(name: str, rng: np.random.Generator) -> str:
    """One of the slips a second unit makes in a name (or none)."""
    u = rng.random()
    if not isinstance(name, str) or not name:
        return name
    if u < 0.25:
        return name
    if u < 0.45:
        return typo(name, str(rng.choice(["drop", "swap", "double", "mark"])), rng.random(), rng.random())
    if u < 0.60:
        return fold(name)
    if u < 0.72:
        return tone_flip(name)
    if u < 0.82:
        return keystrokes(name, bool(rng.random() < 0.5), False, rng.random())
    if u < 0.92:
        return name.upper()
    words = name.split()  # middle name left out
    return " ".join([words[0], words[-1]]) if len(words) >= 3 else name


def _date_noise(date: str, rng: np.random.Generator) -> str:
    """Less precise (year only, month and year) or left out; ISO for a few units."""
    if not isinstance(date, str) or not date:
        return date
    u = rng.random()
    parts = date.replace("-", "/").split("/")
    if len(parts) == 3 and len(parts[0]) == 4:  # yyyy-mm-dd
        parts = parts[::-1]
    year = parts[-1]
    if u < 0.35:
        return year
    if u < 0.50 and len(parts) >= 2:
        return "/".join(parts[-2:])
    if u < 0.55:
        return ""
    if u < 0.65 and len(parts) == 3:
        return f"{parts[2]}-{parts[1]}-{parts[0]}"
    return date


def _id_noise(id_number: str, cmnd: str | None, rng: np.random.Generator) -> str:
    u = rng.random()
    if u < 0.35:
        return ""
    if u < 0.50 and isinstance(id_number, str) and id_number.isdigit():
        return _digit_wrong(id_number, rng.random(), rng.random())
    if u < 0.65 and cmnd:
        return cmnd
    return id_number if isinstance(id_number, str) else ""


def _marks_of_second(notice: str, card: str, rng: np.random.Generator) -> str:
    """The second record's identifying marks: the card's text when the unit copied the register
    (the person's card prints them), else the first notice's; left out by some units."""
    u = rng.random()
    if u < MARKS_LEFT_OUT:
        return ""
    return card or notice


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def duplicate_records(wanted: pd.DataFrame, truth: pd.DataFrame, residents: pd.DataFrame | None,
                      cards: pd.DataFrame | None, share: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(new wanted rows, their truth rows) for round(share * persons) wanted persons."""
    rng = np.random.default_rng(seed)
    marks_rng = np.random.default_rng([seed, MARKS_STREAM])  # its own stream: the other columns stay as they were
    card_marks = (dict(zip(cards["card_number"], cards["identifying_marks"]))
                  if cards is not None and "identifying_marks" in cards.columns else {})
    n_new = int(round(share * len(wanted)))
    picked = np.sort(rng.choice(len(wanted), size=n_new, replace=False))
    person = dict(zip(truth["wanted_id"], truth["person_id"]))
    res = residents.set_index("person_id") if residents is not None else None
    cmnd = dict(zip(cards["card_number"], cards["old_id_number"])) if cards is not None else {}
    units = wanted["issuing_unit"].replace("", np.nan).dropna().unique()
    offences = wanted["offence"].replace("", np.nan).dropna().unique()
    width = max(len(x) for x in wanted["wanted_id"])
    prefix = "TN-"
    start = max(int(x[len(prefix):]) for x in wanted["wanted_id"] if x.startswith(prefix) and x[len(prefix):].isdigit())
    rows, truth_rows = [], []
    for k, i in enumerate(picked):  # a few hundred records: one row of text at a time
        rec = wanted.iloc[i].to_dict()
        pid = person.get(rec["wanted_id"], "")
        copied = res is not None and pid and pid in res.index and rng.random() < 0.5
        if copied:
            reg = res.loc[pid]
            for col in _COPY_FROM_REGISTER:
                if col in reg.index:
                    rec[col] = reg[col]
        if "identifying_marks" in rec:
            rec["identifying_marks"] = _marks_of_second(rec["identifying_marks"], card_marks.get(pid, "") if copied else "",
                                                        marks_rng)
        rec["full_name"] = _name_noise(rec["full_name"], rng)
        rec["birth_date"] = _date_noise(rec["birth_date"], rng)
        rec["id_number"] = _id_noise(rec.get("id_number", ""), cmnd.get(pid) or None, rng)
        for col, p in (("current_address", 0.3), ("permanent_address", 0.2), ("father_name", 0.3),
                       ("mother_name", 0.3), ("other_names", 0.5), ("birth_place", 0.3)):
            if rng.random() < p:
                rec[col] = ""
        others = units[units != rec["issuing_unit"]]
        rec["issuing_unit"] = str(rng.choice(others)) if len(others) else rec["issuing_unit"]
        rec["decision_number"] = f"{int(rng.integers(1, 2000))}/QĐ-CSĐT"
        year = int(rng.integers(2005, 2026))
        rec["decision_date"] = f"{int(rng.integers(1, 29)):02d}/{int(rng.integers(1, 13)):02d}/{year}"
        if rng.random() < 0.4 and len(offences):
            rec["offence"] = str(rng.choice(offences))
        new_id = f"{prefix}{start + k + 1:0{width - len(prefix)}d}"
        truth_rows.append({"wanted_id": new_id, "person_id": pid, "scenarios": f"duplicate_of:{wanted.iloc[i]['wanted_id']}",
                           "_key": pid or wanted.iloc[i]["wanted_id"]})
        rec["wanted_id"] = new_id
        rows.append(rec)
    return pd.DataFrame(rows, columns=wanted.columns), pd.DataFrame(truth_rows)


def duplicate_pairs(keys: pd.DataFrame) -> pd.DataFrame:
    """Every pair (wanted_id_l < wanted_id_r) of records with the same person key."""
    m = keys.merge(keys, on="_key", suffixes=("_l", "_r"))
    m = m[m["wanted_id_l"] < m["wanted_id_r"]]
    return m[["wanted_id_l", "wanted_id_r"]].sort_values(["wanted_id_l", "wanted_id_r"]).reset_index(drop=True)


def _write_csv(frame: pd.DataFrame, target: Path) -> None:
    with atomic_path(target) as tmp:
        pacsv.write_csv(pa.Table.from_pandas(frame.astype(str), preserve_index=False), tmp)


def add_duplicates(folder: Path | str, out: Path | str | None = None, share: float = 0.03, seed: int = 7) -> DuplicateResult:
    """Add second records for `share` of the wanted persons of a `linkage synth` folder; writes
    wanted.csv, truth.csv (the new records with the person's id) and duplicates.csv into `out`
    (default: the folder itself; residents and id_cards are not copied)."""
    folder = Path(folder)
    out = Path(out) if out else folder
    wanted, truth = _read(folder / "wanted.csv"), _read(folder / "truth.csv")
    residents = _read(folder / "residents.csv") if (folder / "residents.csv").is_file() else None
    cards = _read(folder / "id_cards.csv") if (folder / "id_cards.csv").is_file() else None
    new, new_truth = duplicate_records(wanted, truth, residents, cards, share, seed)
    keys = pd.concat([
        pd.DataFrame({"wanted_id": truth["wanted_id"], "_key": truth["person_id"].where(truth["person_id"] != "", truth["wanted_id"])}),
        new_truth[["wanted_id", "_key"]] if len(new_truth) else pd.DataFrame(columns=["wanted_id", "_key"]),
    ])
    pairs = duplicate_pairs(keys)
    _write_csv(pd.concat([wanted, new], ignore_index=True), out / "wanted.csv")
    _write_csv(pd.concat([truth, new_truth.drop(columns="_key", errors="ignore")], ignore_index=True), out / "truth.csv")
    _write_csv(pairs, out / DUPLICATES)
    return DuplicateResult(out, len(new), len(pairs))
