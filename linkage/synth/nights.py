"""A sequence of synthetic nights after a generated population (`linkage synth`): each night a
day's new ID cards (some for wanted persons' register records), changed residents (moves, name
changes with the old name kept in other_names, deaths), new and withdrawn wanted records.

Each night is written both ways, for tests and benchmarks of `linkage nightly`:
`<out>/<YYYY-MM-DD>/snapshot/{wanted,residents,id_cards}.csv` (the whole files after the night)
and `<out>/<YYYY-MM-DD>/delta/{wanted,residents,id_cards}_delta.csv` (added or changed rows) plus
`removed_{wanted,residents,id_cards}.csv` (ids). Vectorised over the rows of each kind of change."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from linkage.errors import InputError

KEYS = {"wanted": "wanted_id", "residents": "person_id", "id_cards": "card_number"}
DANGER = np.array(["đặc biệt nguy hiểm", "nguy hiểm", "thường"])


@dataclass
class NightSizes:
    new_cards: int = 200
    wanted_share_of_cards: float = 0.05  # of the new cards, the share issued to wanted persons' register records
    changed_residents: int = 100
    new_wanted: int = 10
    withdrawn_wanted: int = 3


def _read(base_dir: Path, name: str) -> pd.DataFrame:
    path = Path(base_dir) / f"{name}.csv"
    if not path.is_file():
        raise InputError(f"{path}: not found (generate a population first: linkage synth --out {base_dir})")
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def new_cards(res: pd.DataFrame, cards: pd.DataFrame, wanted_pids: np.ndarray, n: int, share: float, day: str,
              rng: np.random.Generator) -> pd.DataFrame:
    """Cards for residents without one; a share of them for persons some wanted record points at."""
    without = res[~res.person_id.isin(cards.card_number)]
    hot = without[without.person_id.isin(wanted_pids)]
    k_hot = min(len(hot), int(round(n * share)))
    chosen = pd.concat([hot.sample(k_hot, random_state=rng) if k_hot else hot.head(0),
                        without[~without.person_id.isin(hot.person_id)].sample(
                            min(n - k_hot, len(without) - len(hot)), random_state=rng)])
    return pd.DataFrame({
        "card_number": chosen.person_id.to_numpy(), "old_id_number": "", "full_name": chosen.full_name.to_numpy(),
        "gender": chosen.gender.to_numpy(), "birth_date": chosen.birth_date.to_numpy(),
        "hometown": chosen.hometown.to_numpy(), "permanent_address": chosen.permanent_address.to_numpy(),
        "issue_date": day,
    }).reindex(columns=cards.columns, fill_value="")  # identifying_marks: not known from the residents file


def change_residents(res: pd.DataFrame, n: int, rng: np.random.Generator) -> pd.DataFrame:
    """n residents changed: a third move (another resident's address), a third change their given
    name (the old name kept in other_names), a third die. Returns the changed rows."""
    idx = rng.choice(len(res), size=min(n, len(res)), replace=False)
    rows = res.iloc[idx].copy()
    kind = np.arange(len(rows)) % 3
    donors = res.iloc[rng.integers(0, len(res), len(rows))]
    move = kind == 0
    rows.loc[rows.index[move], "permanent_address"] = donors.permanent_address.to_numpy()[move]
    rename = kind == 1
    given = donors.full_name.str.split().str[-1].to_numpy()[rename]
    old = rows.full_name.to_numpy()[rename]
    rows.loc[rows.index[rename], "other_names"] = old
    rows.loc[rows.index[rename], "full_name"] = [o.rsplit(" ", 1)[0] + " " + g for o, g in zip(old, given)]
    rows.loc[rows.index[kind == 2], "status"] = "deceased"
    return rows


def new_wanted(res: pd.DataFrame, wanted: pd.DataFrame, n: int, night_no: int, rng: np.random.Generator) -> pd.DataFrame:
    """New wanted records drawn from residents (birth date cut to the year for a third of them)."""
    src = res.iloc[rng.choice(len(res), size=min(n, len(res)), replace=False)]
    out = pd.DataFrame({c: "" for c in wanted.columns}, index=range(len(src)))
    for c in ("full_name", "gender", "birth_date", "hometown", "permanent_address", "ethnicity", "father_name",
              "mother_name"):
        if c in src.columns and c in out.columns:
            out[c] = src[c].to_numpy()
    year_only = np.arange(len(src)) % 3 == 0
    out.loc[year_only, "birth_date"] = out.birth_date[year_only].str[-4:]
    out["wanted_id"] = [f"TN-N{night_no:03d}-{i:05d}" for i in range(len(src))]
    out["id_number"] = np.where(np.arange(len(src)) % 2 == 0, src.person_id.to_numpy(), "")
    out["danger_level"] = DANGER[rng.integers(0, len(DANGER), len(src))]
    return out[wanted.columns]


def _write(frame: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    frame.to_csv(tmp, index=False)
    tmp.replace(path)
    return path


def generate_nights(base_dir: Path, n_nights: int, seed: int, out_dir: Path, start: str = "2026-01-01",
                    sizes: NightSizes | None = None) -> list[Path]:
    """Write `n_nights` nights after the population in `base_dir`; returns the night folders."""
    sizes = sizes or NightSizes()
    if n_nights < 1:
        raise InputError(f"--nights must be at least 1 (got {n_nights})")
    rng = np.random.default_rng(seed)
    wanted, res, cards = (_read(base_dir, s) for s in ("wanted", "residents", "id_cards"))
    truth = Path(base_dir) / "truth.csv"
    linked = pd.read_csv(truth, dtype=str).person_id.dropna().to_numpy() if truth.is_file() else np.array([], str)
    day0 = date.fromisoformat(start)
    out_dir = Path(out_dir)
    folders = []
    for k in range(n_nights):
        day = (day0 + timedelta(days=k)).isoformat()
        pids = np.union1d(linked, wanted.id_number.to_numpy())
        added_cards = new_cards(res, cards, pids, sizes.new_cards, sizes.wanted_share_of_cards, day, rng)
        changed = change_residents(res, sizes.changed_residents, rng)
        added_w = new_wanted(res, wanted, sizes.new_wanted, k + 1, rng)
        gone_w = wanted.wanted_id.sample(min(sizes.withdrawn_wanted, len(wanted)), random_state=rng)
        res = res.set_index("person_id")
        res.loc[changed.person_id, changed.columns.drop("person_id")] = changed.set_index("person_id")
        res = res.reset_index()
        cards = pd.concat([cards, added_cards], ignore_index=True)
        wanted = pd.concat([wanted[~wanted.wanted_id.isin(gone_w)], added_w], ignore_index=True)
        night = out_dir / day
        for name, frame in (("wanted", wanted), ("residents", res), ("id_cards", cards)):
            _write(frame, night / "snapshot" / f"{name}.csv")
        _write(added_w, night / "delta" / "wanted_delta.csv")
        _write(changed, night / "delta" / "residents_delta.csv")
        _write(added_cards, night / "delta" / "id_cards_delta.csv")
        _write(pd.DataFrame({"wanted_id": gone_w.to_numpy()}), night / "delta" / "removed_wanted.csv")
        _write(pd.DataFrame({"person_id": []}), night / "delta" / "removed_residents.csv")
        _write(pd.DataFrame({"card_number": []}), night / "delta" / "removed_id_cards.csv")
        folders.append(night)
    return folders
