"""`linkage synth --families --wanted-duplicates`: the generator's extras for `linkage relatives`
and `linkage dedupe`, reachable from the command line, with their truth files."""

from __future__ import annotations

import pandas as pd
from typer.testing import CliRunner

from cli import app


def test_families_and_duplicates_from_the_command_line(tmp_path):
    out = tmp_path / "gen"
    res = CliRunner().invoke(app, ["synth", "--residents", "2000", "--wanted", "100", "--seed", "3", "--out", str(out),
                                   "--families", "--wanted-duplicates", "0.05", "--json"])
    assert res.exit_code == 0, res.output
    kin = pd.read_csv(out / "truth_relatives.csv", dtype=str)
    assert set(kin["relation"]) <= {"father", "mother", "sibling", "child"} and len(kin) > 0
    dup = pd.read_csv(out / "duplicates.csv", dtype=str)
    wanted = pd.read_csv(out / "wanted.csv", dtype=str)
    assert len(wanted) == 100 + 5 and len(dup) >= 5
    assert set(dup.iloc[:, 0]) | set(dup.iloc[:, 1]) <= set(wanted["wanted_id"])


def test_duplicate_share_out_of_range_is_refused(tmp_path):
    res = CliRunner().invoke(app, ["synth", "--residents", "2000", "--wanted", "100", "--out", str(tmp_path / "g"),
                                   "--wanted-duplicates", "0.9"])
    assert res.exit_code == 2 and "--wanted-duplicates" in res.output
