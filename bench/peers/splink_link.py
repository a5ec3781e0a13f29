"""Splink 5 (DuckDB backend) on the benchmark inputs, configured from its documentation.

Generated data: link_only between the wanted list and the register (residents + ID cards, see
prep.py); names split and ASCII-folded; comparisons from Splink's comparison library (NameComparison
with term-frequency adjustments on the name parts, a date comparison built from its level library
so that year-only birth dates still count, ExactMatch on gender and provinces, a commune level on
the address, ids with one-typo tolerance, parents' names); prior from deterministic rules; u by
random sampling; m by EM on two blocking rules; prediction blocking rules that give it a fair
recall (ids, name + year, name parts + year, full birth date).

FEBRL4: the documented FEBRL4 example (splink docs, examples/duckdb/febrl4) without soc_sec_id.

Writes a candidates Parquet (wanted_id, person_id, rank, match_probability) and prints the stage
timings as one JSON line.
"""

from __future__ import annotations

import json
import logging
import time

import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on

import prep

U_MAX_PAIRS = 1e7  # the docs: 1e7 "often adequate", 1e8-1e9 best but slow
SEED = 42
FLOOR = 0.5


def _birth_date() -> cl.CustomComparison:
    """DateOfBirthComparison needs full dates; the wanted list often has the year only, so a user
    builds the same ladder from the level library with year levels after the date levels."""
    return cl.CustomComparison(
        output_column_name="birth_date",
        comparison_levels=[
            cll.NullLevel("birth_year"),
            cll.ExactMatchLevel("dob"),
            cll.DamerauLevenshteinLevel("dob", 1),
            cll.And(cll.ExactMatchLevel("birth_year"), cll.ExactMatchLevel("birth_month")),
            cll.ExactMatchLevel("birth_year"),
            cll.AbsoluteDifferenceLevel("birth_year", 1),
            cll.AbsoluteDifferenceLevel("birth_year", 2),
            cll.ElseLevel(),
        ],
    )


def _id_number() -> cl.CustomComparison:
    return cl.CustomComparison(
        output_column_name="id_number",
        comparison_levels=[
            cll.CustomLevel("(id12_l IS NULL OR id12_r IS NULL) AND (cmnd_l IS NULL OR cmnd_r IS NULL)",
                            label_for_charts="id null").configure(is_null_level=True),
            cll.CustomLevel("id12_l = id12_r OR cmnd_l = cmnd_r", label_for_charts="id exact"),
            cll.Or(cll.DamerauLevenshteinLevel("id12", 1), cll.DamerauLevenshteinLevel("cmnd", 1)),
            cll.ElseLevel(),
        ],
    )


def _address() -> cl.CustomComparison:
    return cl.CustomComparison(
        output_column_name="address",
        comparison_levels=[
            cll.NullLevel("address_province"),
            cll.ExactMatchLevel("address_ward"),
            cll.ExactMatchLevel("address_province"),
            cll.ElseLevel(),
        ],
    )


def generated_settings() -> SettingsCreator:
    years = "coalesce(abs(l.birth_year - r.birth_year) <= 2, TRUE)"
    return SettingsCreator(
        link_type="link_only",
        unique_id_column_name="uid",
        comparisons=[
            cl.NameComparison("given_name").configure(term_frequency_adjustments=True),
            cl.NameComparison("family_name").configure(term_frequency_adjustments=True),
            cl.NameComparison("middle_name").configure(term_frequency_adjustments=True),
            _birth_date(),
            cl.ExactMatch("gender"),
            cl.ExactMatch("hometown_province").configure(term_frequency_adjustments=True),
            cl.ExactMatch("birth_province").configure(term_frequency_adjustments=True),
            _address(),
            _id_number(),
            cl.NameComparison("father_ascii"),
            cl.NameComparison("mother_ascii"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("id12"),
            block_on("cmnd"),
            f"l.full_name_ascii = r.full_name_ascii AND {years}",
            f"l.family_name = r.family_name AND l.given_name = r.given_name AND {years}",
            "l.given_name = r.given_name AND l.middle_name = r.middle_name AND l.birth_year = r.birth_year",
            block_on("dob"),
        ],
        retain_matching_columns=False,
        additional_columns_to_retain=["person_id"],
    )


def febrl_settings() -> SettingsCreator:
    return SettingsCreator(
        link_type="link_only",
        unique_id_column_name="uid",
        comparisons=[
            cl.NameComparison("given_name").configure(term_frequency_adjustments=True),
            cl.NameComparison("surname").configure(term_frequency_adjustments=True),
            cl.DateOfBirthComparison("date_of_birth", input_is_string=True, datetime_format="%Y%m%d",
                                     invalid_dates_as_null=True),
            cl.ExactMatch("street_number").configure(term_frequency_adjustments=True),
            cl.DamerauLevenshteinAtThresholds("postcode", [1, 2]).configure(term_frequency_adjustments=True),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("given_name", "surname"),
            "l.given_name = r.surname AND l.surname = r.given_name",
            block_on("date_of_birth"),
            block_on("state", "address_1"),
            block_on("street_number", "address_1"),
            block_on("postcode"),
        ],
        retain_matching_columns=False,
        additional_columns_to_retain=["person_id"],
    )


def train(linker: Linker, dataset: str) -> None:
    t = linker.training
    if dataset == "generated":
        t.estimate_probability_two_random_records_match(
            [block_on("id12"), block_on("full_name_ascii", "dob")], recall=0.7
        )
        t.estimate_u_using_random_sampling(max_pairs=U_MAX_PAIRS, seed=SEED)
        t.estimate_parameters_using_expectation_maximisation(block_on("dob"), estimate_without_term_frequencies=True)
        t.estimate_parameters_using_expectation_maximisation(
            block_on("full_name_ascii", "birth_year"), estimate_without_term_frequencies=True
        )
    else:
        t.estimate_probability_two_random_records_match(
            [block_on("given_name", "surname", "date_of_birth")], recall=0.8
        )
        t.estimate_u_using_random_sampling(max_pairs=U_MAX_PAIRS, seed=SEED)
        t.estimate_parameters_using_expectation_maximisation(block_on("date_of_birth"),
                                                             estimate_without_term_frequencies=True)
        t.estimate_parameters_using_expectation_maximisation(block_on("postcode"),
                                                             estimate_without_term_frequencies=True)


def main() -> None:
    args = prep.peer_args(__doc__.splitlines()[0])
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    con = prep.connect()
    prep.prepare(con, args)
    settings = generated_settings() if args.dataset == "generated" else febrl_settings()
    timings["prepare"] = time.perf_counter() - t0
    db_api = DuckDBAPI(connection=con)
    inputs = [db_api.register("wanted_p", dataset_display_name="wanted"),
              db_api.register("register_p", dataset_display_name="register")]
    linker = Linker(inputs, settings,
                    log_level=logging.WARNING)
    t1 = time.perf_counter()
    train(linker, args.dataset)
    timings["train"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    # Candidates below the floor (probability 0.5) are not written, as in our engine.
    predictions = linker.inference.predict(threshold_match_probability=FLOOR, warning_mode="never")
    timings["predict"] = time.perf_counter() - t2
    name = predictions.physical_name
    n = prep.write_candidates(
        con,
        f"""SELECT CASE WHEN source_dataset_l = 'wanted' THEN uid_l ELSE uid_r END AS wanted_id,
                   CASE WHEN source_dataset_l = 'wanted' THEN person_id_r ELSE person_id_l END AS person_id,
                   match_probability FROM {name}""",
        args.out,
    )
    timings["total"] = time.perf_counter() - t0
    print(json.dumps({"tool": "splink", "candidates": n, "timings_s": {k: round(v, 2) for k, v in timings.items()}}))


if __name__ == "__main__":
    main()
