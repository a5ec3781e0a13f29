"""`linkage dedupe` on real files: generated second records found, the decision-number rule,
no chaining of strangers through one weak link, the outputs' schema."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import cli
from linkage.dedupe.cluster import cluster, components
from linkage.dedupe.evaluate import evaluate_dedupe
from linkage.dedupe.rules import Clustering, load_dedupe_rules
from linkage.synth.duplicates import add_duplicates

SAMPLE = Path(__file__).resolve().parent.parent / "data_samples" / "sample"
runner = CliRunner()

COLUMNS = ["wanted_id", "full_name", "gender", "birth_date", "hometown", "permanent_address", "id_number",
           "father_name", "mother_name", "decision_number", "decision_date", "issuing_unit", "offence"]


def _run(wanted: Path, out: Path, *extra: str) -> dict:
    got = runner.invoke(cli.app, ["dedupe", "--wanted", str(wanted), "--out", str(out), "--json", *extra])
    assert got.exit_code == 0, got.output
    return json.loads(got.stdout)


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> tuple[Path, Path]:
    """The committed sample with 3 % of its wanted persons given a second record, deduplicated."""
    folder = tmp_path_factory.mktemp("dupes")
    for name in ("wanted.csv", "truth.csv", "residents.csv", "id_cards.csv"):
        shutil.copy(SAMPLE / name, folder / name)
    result = add_duplicates(folder, share=0.03, seed=7)
    assert result.added == 15 and result.pairs >= 15
    out = folder / "out"
    _run(folder / "wanted.csv", out)
    return folder, out


def test_generated_duplicates_are_found(generated) -> None:
    folder, out = generated
    scores = evaluate_dedupe(out, folder / "duplicates.csv")
    assert scores["clusters"]["true"] >= 15
    assert scores["clusters"]["precision"] >= 0.95
    assert scores["clusters"]["recall"] >= 0.95
    assert scores["impure"]["share"] <= 0.01
    # the input is read, never written
    assert (folder / "wanted.csv").read_bytes() != b""


def test_duplicate_generator_writes_other_units_and_truth(generated) -> None:
    folder, _ = generated
    wanted = pd.read_csv(folder / "wanted.csv", dtype=str, keep_default_na=False).set_index("wanted_id")
    pairs = pd.read_csv(folder / "duplicates.csv", dtype=str)
    truth = pd.read_csv(folder / "truth.csv", dtype=str, keep_default_na=False).set_index("wanted_id")
    assert len(wanted) == 515 and len(truth) == 515
    for a, b in zip(pairs["wanted_id_l"], pairs["wanted_id_r"]):
        assert wanted.loc[a, "issuing_unit"] != wanted.loc[b, "issuing_unit"]
        assert truth.loc[a, "person_id"] == truth.loc[b, "person_id"]


def test_outputs_schema(generated) -> None:
    _, out = generated
    pairs = pd.read_parquet(out / "pairs.parquet")
    for col in ("wanted_id_l", "wanted_id_r", "match_weight", "match_probability", "link", "explanation",
                "mw_full_name", "mw_birth_date", "mw_issuing_unit", "mw_offence", "mw_decision_number",
                "same_decision_number"):
        assert col in pairs.columns, col
    assert (pairs["wanted_id_l"] < pairs["wanted_id_r"]).all()  # each pair once, never a record with itself
    assert not pairs.duplicated(["wanted_id_l", "wanted_id_r"]).any()
    assert pairs["match_probability"].between(0, 1).all()
    assert pairs.loc[pairs["link"], "explanation"].str.len().gt(0).all()
    clusters = pd.read_parquet(out / "clusters.parquet")
    assert list(clusters.columns[:3]) == ["cluster_id", "wanted_id", "cluster_size"]
    assert "weakest_link_probability" in clusters.columns
    assert clusters["wanted_id"].is_unique
    assert (clusters.groupby("cluster_id").size() >= 2).all()
    sizes = clusters.groupby("cluster_id")["cluster_size"].agg(["first", "size"])
    assert (sizes["first"] == sizes["size"]).all()
    threshold = load_dedupe_rules().threshold
    assert (clusters["weakest_link_probability"] >= threshold).all()
    summary = json.loads((out / "dedupe_summary.json").read_text(encoding="utf-8"))
    assert summary["counts"]["records_in_clusters"] == len(clusters)


def _every_pair(tmp_path: Path, rows: list[dict[str, str]], columns: list[str] = COLUMNS) -> pd.DataFrame:
    """Dedupe the rows with every pair written (the floor lowered in a copy of the rules); the
    pairs indexed by (wanted_id_l, wanted_id_r)."""
    tmp_path.mkdir(exist_ok=True)
    path = tmp_path / "list.csv"
    pd.DataFrame(rows, columns=columns).to_csv(path, index=False)
    rules = tmp_path / "rules"
    shutil.copytree(Path(cli.__file__).resolve().parent / "rules", rules)
    text = (rules / "dedupe.yaml").read_text(encoding="utf-8").replace("floor_weight: -6.0", "floor_weight: -1000")
    (rules / "dedupe.yaml").write_text(text, encoding="utf-8")
    _run(path, tmp_path / "out", "--rules", str(rules))
    return pd.read_parquet(tmp_path / "out" / "pairs.parquet").set_index(["wanted_id_l", "wanted_id_r"])


def _person(i: str, name: str, **kw: str) -> dict[str, str]:
    row = {c: "" for c in COLUMNS}
    row.update(wanted_id=i, full_name=name, gender="Nam", birth_date="12/03/1990",
               hometown="Xã Tân Phước, Huyện Lai Vung, Tỉnh Đồng Tháp", decision_date="01/02/2020",
               issuing_unit="Công an tỉnh Đồng Tháp", offence="Trộm cắp tài sản")
    row.update(kw)
    return row


def _namesakes(tmp_path: Path, shared_number: bool) -> Path:
    """Two different men of one name and birth date (other parents, other ids), and a third
    record of the same unit; A and B carry the same decision number when `shared_number`."""
    rows = [
        _person("TN-1", "Trần Văn Hùng", father_name="Trần Văn Lộc", mother_name="Lê Thị Hoa",
                id_number="087090001234", decision_number="15/QĐ-CSĐT"),
        _person("TN-2", "Trần Văn Hùng", father_name="Trần Minh Tâm", mother_name="Phạm Thị Lan",
                id_number="087090567890", decision_number="15/QĐ-CSĐT" if shared_number else "16/QĐ-CSĐT"),
        _person("TN-3", "Ngô Quốc Bảo", birth_date="1975", decision_number="15 / qđ-csđt",
                issuing_unit="Công an tỉnh An Giang"),
    ]
    path = tmp_path / ("shared.csv" if shared_number else "distinct.csv")
    pd.DataFrame(rows, columns=COLUMNS).to_csv(path, index=False)
    return path


def test_same_decision_number_is_a_data_error_not_evidence(tmp_path: Path) -> None:
    _run(_namesakes(tmp_path, True), tmp_path / "shared")
    _run(_namesakes(tmp_path, False), tmp_path / "distinct")
    conflicts = pd.read_parquet(tmp_path / "shared" / "decision_conflicts.parquet")
    # one unit's number on two records is listed; the same number of another unit is not
    assert conflicts[["wanted_id_l", "wanted_id_r"]].values.tolist() == [["TN-1", "TN-2"]]
    assert len(pd.read_parquet(tmp_path / "distinct" / "decision_conflicts.parquet")) == 0
    shared = pd.read_parquet(tmp_path / "shared" / "pairs.parquet").set_index(["wanted_id_l", "wanted_id_r"])
    distinct = pd.read_parquet(tmp_path / "distinct" / "pairs.parquet").set_index(["wanted_id_l", "wanted_id_r"])
    pair = ("TN-1", "TN-2")
    assert bool(shared.loc[pair, "same_decision_number"]) and not bool(distinct.loc[pair, "same_decision_number"])
    assert shared.loc[pair, "mw_decision_number"] == 0.0
    assert shared.loc[pair, "match_weight"] == pytest.approx(distinct.loc[pair, "match_weight"])
    assert "lỗi dữ liệu" in shared.loc[pair, "explanation"]
    assert "số định danh mâu thuẫn" in shared.loc[pair, "explanation"]  # the evidence against is stated


def test_components_and_cluster_no_chaining() -> None:
    cfg = Clustering(cannot_link_weight=-4.0, average_link_weight=3.0, unblocked_weight=-10.0)
    # records 0-1 one person (strong), 1-2 a weak link just above the threshold, 0-2 strongly apart
    left, right = np.array([0, 1, 0, 3]), np.array([1, 2, 2, 4])
    weight = np.array([30.0, 7.0, -20.0, 12.0])
    assert components(5, left[weight >= 6.6], right[weight >= 6.6]).tolist() == [0, 0, 0, 3, 3]
    got = cluster(5, left, right, weight, 6.6, cfg)
    groups = sorted(sorted(got.record[got.label == lab].tolist()) for lab in np.unique(got.label))
    assert groups == [[0, 1], [3, 4]]  # single linkage would give [0, 1, 2]
    # the weakest link of {0, 1} is its only link
    assert got.weakest[got.record == 0][0] == 30.0
    # a true triple (every pair positive) stays one cluster; its weakest link is reported
    left3, right3, w3 = np.array([0, 1, 0]), np.array([1, 2, 2]), np.array([30.0, 9.0, 8.0])
    got3 = cluster(3, left3, right3, w3, 6.6, cfg)
    assert got3.record.tolist() == [0, 1, 2] and set(got3.label.tolist()) == {0}
    assert got3.weakest.tolist() == [9.0, 9.0, 9.0]
    # a chain whose ends no rule brought together: the unblocked pair pulls the average down
    got4 = cluster(3, np.array([0, 1]), np.array([1, 2]), np.array([30.0, 7.0]), 6.6, cfg)
    assert sorted(got4.record.tolist()) == [0, 1]


def test_bad_dedupe_rules_name_file_and_key(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(Path(cli.__file__).resolve().parent / "rules", rules)
    text = (rules / "dedupe.yaml").read_text(encoding="utf-8").replace("birth_date.else: 0.003", "birth_date.nosuch: 0.003")
    (rules / "dedupe.yaml").write_text(text, encoding="utf-8")
    got = runner.invoke(cli.app, ["dedupe", "--wanted", str(SAMPLE / "wanted.csv"), "--out", str(tmp_path / "o"),
                                  "--rules", str(rules)])
    assert got.exit_code == 3
    assert "dedupe.yaml" in got.output and "nosuch" in got.output


def test_siblings_with_alike_given_names_are_not_one_person(tmp_path: Path) -> None:
    """Brothers Hùng and Hưng (the same letters without diacritics), same parents and home, born a
    year apart, are not linked; a second notice of Hùng (no diacritics, year only) is."""
    home = "Phường Đồng Sơn, Thành phố Bắc Giang, Tỉnh Bắc Giang"
    family = dict(father_name="Trần Văn Tiến", mother_name="Đặng Thị Thuận Trinh", hometown=home,
                  permanent_address=f"Số 27 đường Nguyễn Văn Cừ, {home}")
    rows = [
        _person("TN-1", "Trần Minh Hùng", birth_date="05/07/2003", **family),
        _person("TN-2", "Trần Minh Hưng", birth_date="19/03/2002", id_number="024202696363", **family),
        _person("TN-3", "Tran Minh Hung", birth_date="2003", father_name="Tran Van Tien", hometown=home,
                issuing_unit="Công an tỉnh Bắc Ninh", offence="Cướp tài sản"),
    ]
    pairs = _every_pair(tmp_path, rows)  # to see the brothers' pair
    assert bool(pairs.loc[("TN-1", "TN-3"), "link"])
    brothers = pairs.loc[("TN-1", "TN-2")]
    assert not bool(brothers["link"])
    assert "anh chị em ruột?" in brothers["explanation"]
    assert brothers["mw_sibling_dates"] < -10  # the family's evidence taken back
    assert pairs.loc[("TN-1", "TN-3"), "mw_sibling_dates"] == 0.0
    clusters = pd.read_parquet(tmp_path / "out" / "clusters.parquet")
    assert sorted(clusters["wanted_id"]) == ["TN-1", "TN-3"]


def test_cannot_link_two_ids_two_genders_two_dates(tmp_path: Path) -> None:
    """One family's same-named men: whatever their names, parents and home share, two personal IDs
    (not one slip apart), two genders or two full birth dates years apart are two people: never a
    link, never one cluster, not even through a record that links to both. A one-digit slip in the
    ID is not two IDs, and the same personal ID outweighs two birth dates."""
    family = dict(father_name="Lê Văn Hiếu", mother_name="Hoàng Thị Trang")
    rows = [
        _person("TN-1", "Lê Hữu Phúc", birth_date="25/10/1974", id_number="087074615352", **family),
        _person("TN-2", "Lê Hữu Phúc", birth_date="21/11/1968", **family),
        _person("TN-3", "Lê Hữu Phúc", birth_date="25/10/1974", id_number="087074990137", **family),
        _person("TN-4", "Lê Hữu Phúc", birth_date="25/10/1974", gender="Nữ", **family),
        _person("TN-5", "Le Huu Phuc", birth_date="1974", id_number="087074615357", issuing_unit="Công an tỉnh An Giang",
                **family),
    ]
    pairs = _every_pair(tmp_path, rows)
    reasons = pairs["cannot_link"].dropna().to_dict()
    assert reasons[("TN-1", "TN-2")] == "two_birth_dates"
    assert reasons[("TN-1", "TN-3")] == "two_personal_ids"
    assert reasons[("TN-1", "TN-4")] == "two_genders"
    assert ("TN-1", "TN-5") not in reasons  # one digit apart: a slip, not two IDs
    assert bool(pairs.loc[("TN-1", "TN-5"), "link"])
    for pair in reasons:
        assert not bool(pairs.loc[pair, "link"])
        assert "hai người" in pairs.loc[pair, "explanation"]
    # without the rules, the family's agreements alone would have linked these pairs
    assert pairs.loc[("TN-1", "TN-3"), "match_probability"] >= 0.5
    assert pairs.loc[("TN-1", "TN-4"), "match_probability"] >= 0.5
    clusters = pd.read_parquet(tmp_path / "out" / "clusters.parquet").set_index("wanted_id")["cluster_id"]
    assert clusters.get("TN-1") == clusters.get("TN-5")
    members = clusters.groupby(clusters).groups
    for ids in members.values():
        ids = sorted(ids)
        for i, a in enumerate(ids):
            for b in ids[i + 1:]:
                assert (a, b) not in reasons, (a, b)  # never one cluster, through a third or not
    # the same personal ID on both records outweighs two birth dates
    same_id = [_person("TN-1", "Lê Hữu Phúc", birth_date="25/10/1974", id_number="087074615352", **family),
               _person("TN-2", "Lê Hữu Phúc", birth_date="21/11/1968", id_number="087074615352",
                       issuing_unit="Công an tỉnh An Giang", **family)]
    pair = _every_pair(tmp_path / "same_id", same_id).iloc[0]
    assert pd.isna(pair["cannot_link"]) and bool(pair["link"])


def test_two_given_names_unless_the_change_of_name_is_shown(tmp_path: Path) -> None:
    """Twins of one family (same parents, home and birth month, other given names) are two people,
    however much else agrees; a man renamed between two notices is one person when the records show
    the change: the same personal ID (then he is no sibling of himself), a recorded other name, or
    a mark at the same place."""
    family = dict(father_name="La Văn Nam", mother_name="Nguyễn Thị Thuý", hometown="Xã Ca Thành, Huyện Nguyên Bình, Tỉnh Cao Bằng")
    rows = [
        _person("TN-1", "La Văn Thoại", birth_date="04/1996", **family),
        _person("TN-2", "La Văn Trung", birth_date="30/04/1996", issuing_unit="Công an tỉnh Cao Bằng", **family),
        # renamed: the same personal ID on both notices
        _person("TN-3", "Hà Văn Sơn", birth_date="12/05/1990", id_number="004090123456", father_name="Hà Văn Tư",
                mother_name="Lò Thị Mai", hometown="Xã Minh Tâm, Huyện Nguyên Bình, Tỉnh Cao Bằng"),
        _person("TN-4", "Hà Văn Bảo", birth_date="12/05/1990", id_number="004090123456", father_name="Hà Văn Tư",
                mother_name="Lò Thị Mai", hometown="Xã Minh Tâm, Huyện Nguyên Bình, Tỉnh Cao Bằng",
                issuing_unit="Công an tỉnh Cao Bằng"),
        # renamed: the other name recorded on the second notice
        _person("TN-5", "Nông Văn Khải", birth_date="1988", other_names="Nông Văn Tám",
                hometown="Xã Hưng Đạo, Huyện Hòa An, Tỉnh Cao Bằng", issuing_unit="Công an tỉnh Cao Bằng"),
        _person("TN-6", "Nông Văn Tám", birth_date="03/03/1988", hometown="Xã Hưng Đạo, Huyện Hòa An, Tỉnh Cao Bằng"),
    ]
    pairs = _every_pair(tmp_path, rows, COLUMNS + ["other_names"])
    twins = pairs.loc[("TN-1", "TN-2")]
    assert twins["cannot_link"] == "two_given_names" and not bool(twins["link"])
    assert "hai tên khác nhau" in twins["explanation"]
    for renamed in (("TN-3", "TN-4"), ("TN-5", "TN-6")):
        row = pairs.loc[renamed]
        assert pd.isna(row["cannot_link"]) and bool(row["link"]), renamed
    assert pairs.loc[("TN-3", "TN-4"), "mw_kinship"] == 0.0  # the same ID: no sibling signature
    clusters = pd.read_parquet(tmp_path / "out" / "clusters.parquet")
    assert sorted(map(sorted, clusters.groupby("cluster_id")["wanted_id"].apply(list))) == [["TN-3", "TN-4"], ["TN-5", "TN-6"]]


def test_phrases_follow_the_language():
    """The dedupe phrases come from the string catalogue: Vietnamese by default, English on request."""
    from linkage.dedupe.rules import load_dedupe_rules

    vi, en = load_dedupe_rules(), load_dedupe_rules(lang="en")
    two_ids = {c.name: c.text for c in vi.cannot_link}["two_personal_ids"]
    assert two_ids.endswith("hai người")
    assert {c.name: c.text for c in en.cannot_link}["two_personal_ids"].endswith("two people")
    assert "lỗi dữ liệu" in vi.decision_text and "data error" in en.decision_text
    assert vi.lang == "vi" and en.lang == "en"


def test_summary_speaks_the_officers_language(tmp_path):
    from linkage.dedupe.cli import summary_text

    counts = {"rows_read": 2000, "rows_accepted": 1998, "rows_quarantined": 2, "blocked_pairs": 12345,
              "pairs_written": 310, "links": 42, "cannot_link_pairs": 7, "clusters": 40, "records_in_clusters": 83,
              "decision_conflicts": 1}
    vi, en = summary_text(counts, tmp_path, "vi"), summary_text(counts, tmp_path, "en")
    assert vi.splitlines()[0] == "hồ sơ truy nã: 1.998 trong 2.000 đã đọc (2 bị cách ly)"
    assert "cặp ứng viên: 12.345" in vi and "nhóm: 40, gồm 83 hồ sơ" in vi
    assert en.splitlines()[0] == "wanted records: 1,998 of 2,000 read (2 quarantined)"
    assert str(tmp_path) in vi.splitlines()[-1] and str(tmp_path) in en.splitlines()[-1]
