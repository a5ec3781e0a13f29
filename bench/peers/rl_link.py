"""recordlinkage 0.16 on the benchmark inputs: its documented standard pipeline.

Index: a union of Block indexes (ids, name parts + birth year, full birth date) and a
SortedNeighbourhood index on the full name within the birth year; compare: Jaro-Winkler string
comparisons with thresholds and exact comparisons (binary features, as the ECM classifier needs);
classify: the unsupervised ECM classifier, whose probabilities rank the candidates.

FEBRL4: the pipeline of recordlinkage's own FEBRL4 examples (names, birth date, suburb, state,
address), with a union of blocks so that a typo in the given name does not hide the pair.

Same preparation as Splink (prep.py). Writes a candidates Parquet (wanted_id, person_id, rank,
match_probability) and prints the stage timings as one JSON line.
"""

from __future__ import annotations

import json
import time

import pandas as pd
import recordlinkage as rl
from recordlinkage.index import Block, SortedNeighbourhood

import prep

N_JOBS = 2
JW = 0.85  # the threshold in recordlinkage's examples


def generated_pipeline() -> tuple[rl.Index, rl.Compare]:
    index = rl.Index()
    index.add(Block("id12"))
    index.add(Block("cmnd"))
    index.add(Block(["family_name", "given_name", "birth_year"]))
    index.add(Block(["given_name", "middle_name", "birth_year"]))
    index.add(Block("dob"))
    index.add(SortedNeighbourhood("full_name_ascii", window=5, block_on=["birth_year"]))
    cmp = rl.Compare(n_jobs=N_JOBS)
    cmp.string("given_name", "given_name", method="jarowinkler", threshold=JW, label="given_name")
    cmp.string("family_name", "family_name", method="jarowinkler", threshold=JW, label="family_name")
    cmp.string("middle_name", "middle_name", method="jarowinkler", threshold=JW, label="middle_name")
    cmp.exact("dob", "dob", label="dob")
    cmp.exact("birth_year", "birth_year", label="birth_year")
    cmp.exact("gender", "gender", label="gender")
    cmp.exact("hometown_province", "hometown_province", label="hometown_province")
    cmp.exact("address_province", "address_province", label="address_province")
    cmp.exact("address_ward", "address_ward", label="address_ward")
    cmp.exact("id12", "id12", label="id12")
    cmp.exact("cmnd", "cmnd", label="cmnd")
    cmp.string("father_ascii", "father_ascii", method="jarowinkler", threshold=JW, label="father")
    cmp.string("mother_ascii", "mother_ascii", method="jarowinkler", threshold=JW, label="mother")
    return index, cmp


def febrl_pipeline() -> tuple[rl.Index, rl.Compare]:
    index = rl.Index()
    index.add(Block("given_name"))
    index.add(Block("surname"))
    index.add(Block("date_of_birth"))
    index.add(Block("postcode"))
    cmp = rl.Compare(n_jobs=N_JOBS)
    cmp.string("given_name", "given_name", method="jarowinkler", threshold=JW, label="given_name")
    cmp.string("surname", "surname", method="jarowinkler", threshold=JW, label="surname")
    cmp.exact("date_of_birth", "date_of_birth", label="date_of_birth")
    cmp.exact("suburb", "suburb", label="suburb")
    cmp.exact("state", "state", label="state")
    cmp.string("address_1", "address_1", method="jarowinkler", threshold=JW, label="address_1")
    cmp.exact("street_number", "street_number", label="street_number")
    cmp.exact("postcode", "postcode", label="postcode")
    return index, cmp


def main() -> None:
    args = prep.peer_args(__doc__.splitlines()[0])
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    con = prep.connect()
    prep.prepare(con, args)
    index, cmp = generated_pipeline() if args.dataset == "generated" else febrl_pipeline()
    wanted = con.execute("SELECT * FROM wanted_p").df().set_index("uid")
    register = con.execute("SELECT * FROM register_p").df().set_index("uid")
    timings["prepare"] = time.perf_counter() - t0

    t = time.perf_counter()
    pairs = index.index(wanted, register)
    timings["index"] = time.perf_counter() - t
    t = time.perf_counter()
    features = cmp.compute(pairs, wanted, register).fillna(0).astype(int)
    timings["compare"] = time.perf_counter() - t
    t = time.perf_counter()
    ecm = rl.ECMClassifier(binarize=None)
    ecm.fit(features)
    prob = ecm.prob(features)
    timings["classify"] = time.perf_counter() - t

    scored = pd.DataFrame({
        "wanted_id": pairs.get_level_values(0).astype(str),
        "person_id": register.loc[pairs.get_level_values(1), "person_id"].to_numpy(),
        "match_probability": prob.to_numpy(),
    })
    con.register("rl_scored", scored)
    n = prep.write_candidates(con, "SELECT * FROM rl_scored", args.out)
    timings["total"] = time.perf_counter() - t0
    print(json.dumps({"tool": "recordlinkage", "pairs": int(len(pairs)), "candidates": n,
                      "timings_s": {k: round(v, 2) for k, v in timings.items()}}))


if __name__ == "__main__":
    main()
