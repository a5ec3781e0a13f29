"""Change flags judged on the person's current state (issue 11 item 4): the most recent record
(residents updated_at, card issue_date) decides name_changed / residence_changed /
birth_date_changed, while identity evidence and probabilities stay those of all the records.

Planted persons on a slice of the committed sample, run through `linkage run`'s pipeline."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from linkage.evaluate import evaluate, flags_table
from linkage.pipeline import run
from linkage.synth import generate
from linkage.synth import rates as R
from linkage.synth.perturb import AFTER_CARD_SCENARIOS

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data_samples" / "sample"
REF = "2026-06-01"
OLD_ADDR = "Ấp Tân Hòa, Xã Bình An, Huyện Long Thành, Tỉnh Đồng Nai"
NEW_ADDR = "Số 5 đường Láng, Phường Láng, Thành phố Hà Nội"
NEAR_ADDR = "Ấp 3, Xã Tam An, Huyện Long Thành, Tỉnh Đồng Nai"
DISTRICT_ONLY = "Huyện Long Thành, Tỉnh Đồng Nai"
MERGED_OLD = "Xóm 11, Xã Tiên Dược, Huyện Sóc Sơn, Thành phố Hà Nội"
SAME_HOUSE_OLD = "So 20 duong Tran Phu, Phuong Ben Thanh, Quan 1, Thanh pho Ho Chi Minh"

# person_id, wanted name, register (residents) name, card name, birth, resident address, card address,
# wanted address, updated_at, issue_date, status
PLANTED = [
    ("001085000101", "Nguyễn Văn Thắng", "Nguyễn Văn Thắng", "Nguyễn Văn Thắng", "12/03/1985",
     NEW_ADDR, OLD_ADDR, OLD_ADDR, "2024-08-01", "2021-05-10", "alive"),  # moved after the card
    ("001190000202", "Lê Thị Hoa", "Lê Thị Mai Anh", "Lê Thị Hoa", "05/07/1990",
     OLD_ADDR, OLD_ADDR, OLD_ADDR, "2023-02-01", "2020-01-15", "alive"),  # renamed after the card
    ("001040000303", "Trần Văn Lộc", "Trần Văn Lộc", "Trần Văn Lộc", "01/02/1940",
     OLD_ADDR, OLD_ADDR, OLD_ADDR, "2025-01-01", "2016-03-01", "Đã chết"),  # deceased, 86 at REF
    ("001088000404", "Phạm Văn Dũng", "Phạm Văn Dũng", "Phạm Văn Dũng", "20/10/1988",
     OLD_ADDR, NEW_ADDR, OLD_ADDR, "", "2022-04-04", "alive"),  # undated resident: the card is current
    ("001092000505", "Võ Thị Lan", "Võ Thị Lan", "Võ Thị Lan", "14/11/1992",
     NEW_ADDR, OLD_ADDR, OLD_ADDR, "2022-09-09", "2022-09-09", "alive"),  # same date: residents win
    ("001079000606", "Mai Văn Tài", "Mai Văn Tài", "Mai Văn Tài", "08/08/1979",
     "Phường Hòa Xuân, Thành phố Đà Nẵng", "Xã Hòa Phước, Huyện Hòa Vang, Thành phố Đà Nẵng",
     "Xã Hòa Phước, Huyện Hòa Vang, Thành phố Đà Nẵng", "2026-01-01", "2021-01-01", "alive"),  # one commune, 2 regimes
    ("001087000707", "Nguyễ Văn Hồng", "Nguyễn Văn Hồng", "Nguyễn Văn Hồng", "03/04/1987",
     OLD_ADDR, OLD_ADDR, OLD_ADDR, "2024-01-01", "2021-01-01", "alive"),  # a letter dropped from the family name
    ("001086000808", "Kiều Văn Nm", "Kiều Văn Nam", "Kiều Văn Nam", "09/09/1986",
     OLD_ADDR, OLD_ADDR, OLD_ADDR, "2024-01-01", "2021-01-01", "alive"),  # a letter dropped from the given name
    ("001089000909", "Đặng Văn Thiện", "Đặng Văn Hoàn", "Đặng Văn Hoàn", "17/06/1989",
     OLD_ADDR, OLD_ADDR, OLD_ADDR, "2024-01-01", "2021-01-01", "alive"),  # given name changed
    ("001084001010", "Lý Văn Phúc", "Lý Văn Phúc", "Lý Văn Phúc", "21/12/1984",
     NEAR_ADDR, OLD_ADDR, OLD_ADDR, "2024-01-01", "2021-01-01", "alive"),  # another commune, same district
    ("001083001111", "Tạ Văn Khánh", "Tạ Văn Khánh", "Tạ Văn Khánh", "11/11/1983",
     OLD_ADDR, OLD_ADDR, DISTRICT_ONLY, "2024-01-01", "2021-01-01", "alive"),  # notice says the district only
    ("001082001212", "Cao Văn Tín", "Cao Văn Tín", "Cao Văn Tín", "02/02/1982",
     "Khu phố 3, Xã Sóc Sơn, Thành phố Hà Nội", MERGED_OLD, MERGED_OLD,
     "2025-10-01", "2021-01-01", "alive"),  # moved house inside one 2025 commune (old Tiên Dược in new Sóc Sơn)
    ("001081001313", "Hà Văn Lực", "Hà Văn Lực", "Hà Văn Lực", "03/03/1981",
     "Số 20 đường Trần Phú, Phường Bến Thành, Thành phố Hồ Chí Minh", SAME_HOUSE_OLD, SAME_HOUSE_OLD,
     "2025-10-01", "2021-01-01", "alive"),  # same house, written the old way and without diacritics
]


def _write(tmp: Path, swap_dates: bool = False) -> dict[str, Path]:
    res = pd.read_csv(SAMPLE / "residents.csv", dtype=str, keep_default_na=False).head(1500)
    cards = pd.read_csv(SAMPLE / "id_cards.csv", dtype=str, keep_default_na=False)
    cards = cards[cards.card_number.isin(res.person_id)]
    rr, cc, ww = [], [], []
    for k, (pid, wname, rname, cname, birth, raddr, caddr, waddr, upd, iss, status) in enumerate(PLANTED):
        if swap_dates and upd:  # the same records, the resident now older than the card
            upd = "2015-01-01"
        rr.append({"person_id": pid, "full_name": rname, "gender": "Nữ" if "Thị" in rname else "Nam",
                   "birth_date": birth, "hometown": "Xã Bình An, Tỉnh Đồng Nai", "permanent_address": raddr,
                   "current_address": raddr, "ethnicity": "Kinh", "father_name": f"Cha {k} Văn Hùng",
                   "mother_name": f"Mẹ {k} Thị Huệ", "status": status, "updated_at": upd})
        cc.append({"card_number": pid, "full_name": cname, "gender": "Nữ" if "Thị" in cname else "Nam",
                   "birth_date": birth, "hometown": "Xã Bình An, Tỉnh Đồng Nai", "permanent_address": caddr,
                   "issue_date": iss})
        ww.append({"wanted_id": f"TN-9{k:05d}", "full_name": wname, "gender": "Nữ" if "Thị" in wname else "Nam",
                   "birth_date": birth, "hometown": "Xã Bình An, Tỉnh Đồng Nai", "permanent_address": waddr,
                   "current_address": waddr, "ethnicity": "Kinh", "id_number": pid,
                   "father_name": f"Cha {k} Văn Hùng", "mother_name": f"Mẹ {k} Thị Huệ"})
    res = pd.concat([res, pd.DataFrame(rr)], ignore_index=True).fillna("")
    cards = pd.concat([cards, pd.DataFrame(cc)], ignore_index=True).fillna("")
    wanted = pd.DataFrame(ww).reindex(columns=pd.read_csv(SAMPLE / "wanted.csv", nrows=0).columns).astype(object).fillna("")
    tmp.mkdir(parents=True, exist_ok=True)
    paths = {"wanted": tmp / "wanted.csv", "residents": tmp / "residents.csv", "id_cards": tmp / "id_cards.csv"}
    wanted.to_csv(paths["wanted"], index=False)
    res.to_csv(paths["residents"], index=False)
    cards.to_csv(paths["id_cards"], index=False)
    return paths


def rules_with_reference_date(tmp: Path) -> Path:
    """A copy of the project's rules whose reference date (ages) is fixed."""
    rules = tmp / "rules"
    shutil.copytree(ROOT / "rules", rules)
    dates = yaml.safe_load((rules / "dates.yaml").read_text(encoding="utf-8"))
    text = (rules / "dates.yaml").read_text(encoding="utf-8")
    assert "reference_date: null" in text and dates["reference_date"] is None
    (rules / "dates.yaml").write_text(text.replace("reference_date: null", f"reference_date: {REF}"), encoding="utf-8")
    return rules


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, pd.DataFrame]:
    tmp = tmp_path_factory.mktemp("flags")
    rules = rules_with_reference_date(tmp)
    out = {}
    for name, swap in (("current", False), ("swapped", True)):
        p = _write(tmp / name, swap)
        run(p["wanted"], p["residents"], p["id_cards"], tmp / name / "out", rules=rules)
        m = pd.read_parquet(tmp / name / "out" / "matches.parquet")
        out[name] = m[m["rank"] == 1].set_index("wanted_id")
        out[name].attrs["dir"] = tmp / name / "out"
    return out


def _address_weight(run_dir: Path, rules: Path, level: str) -> float:
    """mw_address of a pair with the same full name and hometown commune as TN-900000, the address
    at `level`, under the run's own model (its conditions included)."""
    from linkage.model import load_model, match_weights
    from linkage.settings import load_settings

    settings = load_settings(rules)
    model = load_model(run_dir / "model.json", settings)
    names = [c.name for c in settings.comparisons]
    row = np.full((1, len(names)), -1, dtype=np.int8)
    for comp, lv in (("full_name", "exact"), ("hometown", "ward"), ("address", level)):
        row[0, names.index(comp)] = settings.comparison(comp).level_ids().index(lv)
    return float(match_weights(row, model)[0, names.index("address")])


def test_move_after_card_is_flagged_and_explained(runs):
    row = runs["current"].loc["TN-900000"]
    assert row.person_id == "001085000101"
    assert bool(row.residence_changed)
    assert row.current_address == NEW_ADDR and row.current_source == "residents"
    assert "thẻ CCCD cấp 2021 ghi địa chỉ như lệnh truy nã; sổ cư trú cập nhật 2024 ghi " + NEW_ADDR in row.explanation
    # identity evidence still counts the card's agreeing address (its commune), not the current
    # record's other province
    rules = runs["current"].attrs["dir"].parent.parent / "rules"
    assert row.mw_address == pytest.approx(_address_weight(runs["current"].attrs["dir"], rules, "ward"))
    assert row.mw_address > _address_weight(runs["current"].attrs["dir"], rules, "else")


def test_identity_evidence_unchanged_when_only_the_current_state_changes(runs):
    cur, old = runs["current"], runs["swapped"]
    assert list(cur.index) == list(old.index)
    mw = [c for c in cur.columns if c.startswith("mw_")] + ["match_probability", "match_weight"]
    np.testing.assert_array_equal(cur[mw].to_numpy(), old[mw].to_numpy())
    # with the resident older than the card, the card (the wanted record's address) is current
    assert not bool(old.loc["TN-900000", "residence_changed"])
    assert old.loc["TN-900000", "current_source"] == "id_cards"
    assert not bool(old.loc["TN-900001", "name_changed"])


def test_rename_after_card_is_flagged(runs):
    row = runs["current"].loc["TN-900001"]
    assert bool(row.name_changed)
    assert row.current_full_name == "Lê Thị Mai Anh"
    assert "ghi họ tên như lệnh truy nã; sổ cư trú cập nhật 2023 ghi Lê Thị Mai Anh" in row.explanation


def test_status_and_age_at_the_reference_date(runs):
    m = runs["current"]
    assert m.loc["TN-900002", "person_status"] == "deceased"
    assert int(m.loc["TN-900002", "age"]) == 86  # born 01/02/1940, reference date 01/06/2026
    assert int(m.loc["TN-900000", "age"]) == 41  # born 12/03/1985
    assert int(m.loc["TN-900004", "age"]) == 33  # born 14/11/1992: birthday not yet reached
    assert set(m["person_status"].dropna()) <= {"alive", "deceased"}


def test_missing_date_and_tie_rules(runs):
    m = runs["current"]
    undated = m.loc["TN-900003"]  # resident without updated_at: the dated card is the current record
    assert undated.current_source == "id_cards" and undated.current_address == NEW_ADDR
    assert bool(undated.residence_changed)
    tie = m.loc["TN-900004"]  # same date on both: the residents record is the current one
    assert tie.current_source == "residents" and bool(tie.residence_changed)


def test_same_commune_in_two_regimes_is_no_move(runs):
    row = runs["current"].loc["TN-900005"]  # Xã Hòa Phước (pre-2025) lies in Phường Hòa Xuân (2025)
    assert row.current_source == "residents" and row.current_address == "Phường Hòa Xuân, Thành phố Đà Nẵng"
    assert not bool(row.residence_changed)


def test_flags_table_with_and_without_change():
    hits = pd.DataFrame({
        "scenarios": ["moved_after_card", "moved_province|typo_edit", "clean", "typo_edit", "clean"],
        "residence_changed": [True, True, False, True, False],
    })
    t = flags_table(hits, {"residence_changed": ["moved_province", "moved_after_card"]}).set_index("scenario")
    assert t.loc["with change", "records"] == 2 and t.loc["with change", "flagged"] == 1.0
    assert t.loc["without change", "records"] == 3 and t.loc["without change", "flagged"] == pytest.approx(1 / 3)
    # typo_edit counts only its record without the change: a false flag rate of 1.0 on one record
    assert t.loc["typo_edit", "records"] == 1 and t.loc["typo_edit", "flagged"] == 1.0


def test_generator_names_after_card_changes(tmp_path):
    assert set(AFTER_CARD_SCENARIOS) <= set(R.SCENARIOS)  # in the truth's vocabulary (and the sample's README)
    paths = generate(4000, 300, 3, tmp_path)  # seed 3: both labels occur (renaming after the card is rare)
    truth = pd.read_csv(paths["truth"], dtype=str, keep_default_na=False)
    cards = pd.read_csv(paths["id_cards"], dtype=str, keep_default_na=False).set_index("card_number")
    res = pd.read_csv(paths["residents"], dtype=str, keep_default_na=False).set_index("person_id")
    moved = truth[truth.scenarios.str.contains("moved_after_card")]
    renamed = truth[truth.scenarios.str.contains("renamed_after_card")]
    assert len(moved) >= 3 and len(renamed) >= 1
    for r in moved.itertuples():
        assert ("moved_district" in r.scenarios) or ("moved_province" in r.scenarios)
        card, resident = cards.loc[r.person_id], res.loc[r.person_id]
        assert card.issue_date < resident.updated_at  # the card predates the register's update
        assert card.permanent_address != resident.permanent_address
    for r in renamed.itertuples():
        assert "name_changed_alias" in r.scenarios
        assert cards.loc[r.person_id].full_name != res.loc[r.person_id].full_name


def test_a_slip_of_the_pen_is_no_name_change(runs):
    """`unless_slip: 1`: a name one letter away from the current one is a slip; a wholly different
    given name is a change, and the flag needs no other evidence than the match itself."""
    m = runs["current"]
    assert m.loc["TN-900006", "person_id"] == "001087000707" and not bool(m.loc["TN-900006", "name_changed"])
    assert m.loc["TN-900007", "person_id"] == "001086000808" and not bool(m.loc["TN-900007", "name_changed"])
    changed = m.loc["TN-900008"]
    assert changed.person_id == "001089000909" and bool(changed.name_changed)
    assert changed.current_full_name == "Đặng Văn Hoàn"


@pytest.mark.parametrize("old,new,key", [("unless_slip: 1", "unless_slip: yes", "unless_slip"),
                                          ("ward_known_for: [district]", "ward_known_for: [distrikt]", "ward_known_for"),
                                          ("street_moves: true", "street_moves: 1", "street_moves")])
def test_flag_rules_are_checked(tmp_path, old, new, key):
    from linkage.errors import RulesError
    from linkage.settings import load_settings

    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    text = (rules / "matching.yaml").read_text(encoding="utf-8")
    assert old in text
    (rules / "matching.yaml").write_text(text.replace(old, new), encoding="utf-8")
    with pytest.raises(RulesError, match=key):
        load_settings(rules)


def test_another_commune_of_the_district_is_a_move_when_both_are_known(runs):
    m = runs["current"]
    moved = m.loc["TN-900009"]  # Xã Bình An -> Xã Tam An, both in Huyện Long Thành
    assert moved.person_id == "001084001010" and bool(moved.residence_changed)
    vague = m.loc["TN-900010"]  # the notice names only Huyện Long Thành: no commune to compare
    assert vague.person_id == "001083001111" and not bool(vague.residence_changed)


def test_a_new_house_inside_one_commune_is_a_move(runs):
    """`street_moves`: the commune levels cannot see a move between two old communes merged into
    one in 2025; the house or hamlet part can. The same house written another way is no move."""
    m = runs["current"]
    moved = m.loc["TN-900011"]
    assert moved.person_id == "001082001212" and bool(moved.residence_changed)
    same = m.loc["TN-900012"]
    assert same.person_id == "001081001313" and not bool(same.residence_changed)
    assert not bool(m.loc["TN-900005", "residence_changed"])  # one commune in two regimes, no house part
