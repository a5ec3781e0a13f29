"""`linkage audit --dedupe`: the wanted list's duplicate check lists `linkage dedupe`'s clusters
(the matcher's links) instead of the exact-key groups, on the committed sample given generated
second records (another unit's spelling, dates and ids)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import cli
from linkage.synth.duplicates import add_duplicates

SAMPLE = Path(__file__).resolve().parent.parent / "data_samples" / "sample"
RULE = "sach.duplicate_person"
runner = CliRunner()


@pytest.fixture(scope="module")
def audited(tmp_path_factory) -> tuple[Path, Path, Path]:
    folder = tmp_path_factory.mktemp("audit_dedupe")
    for name in ("wanted.csv", "truth.csv", "residents.csv", "id_cards.csv"):
        shutil.copy(SAMPLE / name, folder / name)
    add_duplicates(folder, share=0.03, seed=7)
    outs = []
    for flag, name in ((["--dedupe"], "with"), ([], "without")):
        out = folder / name
        got = runner.invoke(cli.app, ["audit", "--source", "wanted", str(folder / "wanted.csv"), "--out", str(out),
                                      "--json", *flag])
        assert got.exit_code == 0, got.output
        outs.append(out)
    return folder, outs[0], outs[1]


def _groups(out: Path) -> pd.DataFrame:
    issues = pd.read_parquet(out / "issues.parquet")
    return issues[issues["rule"] == RULE]


def test_duplicate_check_lists_the_dedupe_clusters(audited) -> None:
    _, out, _ = audited
    clusters = pd.read_parquet(out / "dedupe" / "clusters.parquet")
    several = clusters[clusters["cluster_size"] >= 2]
    dup = _groups(out)
    # exactly the records dedupe put in a cluster with another record, each naming its cluster
    assert set(dup["record_id"]) == set(several["wanted_id"])
    cid = dict(zip(several["wanted_id"], several["cluster_id"]))
    for rid, sugg in zip(dup["record_id"], dup["suggestion"]):
        assert sugg.startswith(f"dedupe cluster {cid[rid]} (weakest link p=")
        mates = set(several.loc[several["cluster_id"] == cid[rid], "wanted_id"]) - {rid}
        assert any(m in sugg for m in mates)
    meta = json.loads((out / "audit.json").read_text(encoding="utf-8"))
    assert meta["duplicates"]["method"] == "linkage dedupe"
    assert meta["wanted_overview"]["duplicate_groups"] == several["cluster_id"].nunique()
    assert "linkage dedupe" in (out / "report.html").read_text(encoding="utf-8")


def test_dedupe_finds_second_records_the_exact_keys_miss(audited) -> None:
    folder, with_dedupe, without = audited
    pairs = pd.read_csv(folder / "duplicates.csv", dtype=str)
    truth = set(pairs["wanted_id_l"]) | set(pairs["wanted_id_r"])

    def found(out: Path) -> int:
        return len(truth & set(_groups(out)["record_id"]))

    assert found(with_dedupe) >= 0.9 * len(truth)
    assert found(with_dedupe) > found(without)  # another unit's spelling and dates defeat exact keys
    meta = json.loads((without / "audit.json").read_text(encoding="utf-8"))
    assert meta["duplicates"]["method"].startswith("exact keys")
    assert not (without / "dedupe").exists()


def test_dedupe_is_for_wanted_lists_only(tmp_path) -> None:
    got = runner.invoke(cli.app, ["audit", "--source", "residents", str(SAMPLE / "residents.csv"),
                                  "--out", str(tmp_path / "o"), "--dedupe"])
    assert got.exit_code == 2 and "--dedupe" in got.output
