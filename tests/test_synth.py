"""Invariants of the synthetic population generator (linkage.synth)."""

from __future__ import annotations

import csv
import itertools
import re
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from linkage.errors import InputError
from linkage.rules import read_ref_csv
from linkage.synth import generate
from linkage.synth import rates as R
from linkage.synth import textnoise as tn
from linkage.synth.perturb import TRUTH_COLUMNS, WANTED_COLUMNS, draw_labels
from linkage.synth.registers import CARD_COLUMNS, RESIDENT_COLUMNS

N_RES, N_WANTED, SEED = 5000, 400, 7


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> dict[str, Path]:
    return generate(N_RES, N_WANTED, SEED, tmp_path_factory.mktemp("synth"))


@pytest.fixture(scope="module")
def data(out) -> dict[str, pd.DataFrame]:
    return {k: _read(p) for k, p in out.items()}


def _labels(truth: pd.DataFrame) -> pd.DataFrame:
    return truth.scenarios.str.get_dummies(sep="|").astype(bool)


def _key(s: str) -> str:
    """Name key insensitive to marks, case and spacing (what the allowed noise may change)."""
    return " ".join(tn.fold(unicodedata.normalize("NFC", s)).lower().replace("' ", "'").split())


# ------------------------------------------------------------------------------------ files
def test_files_and_columns(out, data):
    assert set(out) == {"residents", "id_cards", "wanted", "truth"}
    for name, path in out.items():
        assert path.is_file() and path.suffix == ".csv"
        assert not list(path.parent.glob(".*.tmp-*")), "temporary files left behind"
    assert tuple(data["residents"].columns) == RESIDENT_COLUMNS
    assert tuple(data["id_cards"].columns) == CARD_COLUMNS
    assert tuple(data["wanted"].columns) == WANTED_COLUMNS
    assert tuple(data["truth"].columns) == TRUTH_COLUMNS
    assert len(data["residents"]) == N_RES
    assert len(data["wanted"]) == len(data["truth"]) == N_WANTED
    assert data["wanted"].wanted_id.is_unique and data["residents"].person_id.is_unique
    assert data["id_cards"].card_number.is_unique
    assert (data["wanted"].wanted_id == data["truth"].wanted_id).all()
    # a standard CSV reader agrees with pandas (minimal quoting is valid CSV)
    with open(out["residents"], encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    assert len(rows) == N_RES + 1 and all(len(r) == len(RESIDENT_COLUMNS) for r in rows)


def test_bad_arguments(tmp_path):
    with pytest.raises(InputError):
        generate(0, 0, 1, tmp_path)
    with pytest.raises(InputError):
        generate(100, 90, 1, tmp_path)
    with pytest.raises(InputError):
        generate(100, -1, 1, tmp_path)


# ------------------------------------------------------------------------------------ ids
def _year(s: str) -> int:
    return int(s[-4:]) if len(s) >= 4 and s[-4:].isdigit() else int(s[:4])


def test_person_id_structure(data):
    res = data["residents"]
    assert res.person_id.str.fullmatch(r"\d{12}").all()
    codes = set(read_ref_csv("ref/ids/cccd_birth_province_codes.csv").cccd_code)
    assert res.person_id.str[:3].isin(codes).all()
    digit = res.person_id.str[3].astype(int)
    year = res.birth_date.map(_year)
    male = res.gender == "Nam"
    expected = np.where(year >= 2000, 2, 0) + np.where(male, 0, 1)
    assert (digit == expected).all()
    assert (res.person_id.str[4:6].astype(int) == year % 100).all()


def test_person_id_province_is_birth_province(data):
    """The first three digits are the (pre-2025) province of birth registration, which the
    register's birth place names; births after the 2025 reorganisation carry the new province."""
    res = data["residents"]
    prov = read_ref_csv("ref/admin/provinces_pre2025.csv")
    code_of = dict(zip(prov.province_name, prov.cccd_birth_code))
    old = res[res.birth_date.map(_year) < 2025]
    stated = old.birth_place.str.split(", ").str[-1].map(code_of)
    assert stated.notna().all()
    assert (stated == old.person_id.str[:3]).all()


def test_cmnd_on_cards(data):
    res, cards = data["residents"], data["id_cards"]
    assert cards.card_number.isin(res.person_id).all()
    has = cards[cards.old_id_number != ""]
    assert len(has) > 0.3 * len(cards)
    assert has.old_id_number.str.fullmatch(r"\d{9}").all()
    assert has.old_id_number.is_unique
    years = has.birth_date.map(_year)
    assert (years <= R.CMND_LAST_BIRTH_YEAR).all()
    prefixes = set(read_ref_csv("ref/ids/cmnd9_issuing_province_prefixes.csv").cmnd_prefix)
    assert has.old_id_number.map(lambda s: s[:2] in prefixes or s[:3] in prefixes).all()
    # card holders are 14+ except the few child cards issued after the 2023 law
    issue_year = cards.issue_date.str[:4].astype(int)
    young = cards.birth_date.map(_year) > issue_year - 14
    assert (cards.issue_date[young] >= str(R.CHILD_CARD_START)).all()
    assert len(cards) < len(res)


# ------------------------------------------------------------------------------------ names
def test_parents_share_the_family_name(data):
    res = data["residents"]
    kinh = res[(res.ethnicity == "Kinh") & (res.father_name != "")]
    assert len(kinh) > 0.7 * len(res)
    first = kinh.full_name.str.split().str[0]
    assert (kinh.father_name.str.split().str[0] == first).all()
    assert (kinh.mother_name.str.split().str[0] != first).all()
    ede = res[(res.ethnicity == "Ê Đê") & (res.mother_name != "")]
    if len(ede):  # matrilineal, family name last: Y Bih Niê, son of H'Hen Niê
        assert (ede.mother_name.str.split().str[-1] == ede.full_name.str.split().str[-1]).all()


def test_name_shapes(data):
    res = data["residents"]
    kinh = res[res.ethnicity == "Kinh"]
    first = kinh.full_name.str.split().str[0]
    assert 0.33 < (first == "Nguyễn").mean() < 0.44  # published share 38.4%
    words = kinh.full_name.str.split().str.len()
    assert words.between(2, 5).all() and 0.6 < (words == 3).mean() < 0.85
    men = kinh[kinh.gender == "Nam"].full_name.str.split()
    assert (men.str[1] == "Văn").mean() > 0.1
    women = kinh[kinh.gender == "Nữ"].full_name.str.split()
    assert (women.str[1] == "Thị").mean() > 0.3
    # namesakes: same full name and birth year, as in real registers
    key = res.full_name + "|" + res.birth_date.map(_year).astype(str)
    assert key.duplicated(keep=False).sum() > 20
    # minorities with their own patterns, in their provinces
    mong = res[res.ethnicity == "Mông"]
    assert len(mong) and (res.ethnicity != "Kinh").mean() > 0.08
    assert mong.hometown.str.contains("Hà Giang|Lào Cai|Điện Biên|Lai Châu|Sơn La|Tuyên Quang|Yên Bái|Cao Bằng|Nghệ An|Bắc Kạn|Đắk|Thanh Hóa").mean() > 0.8


def test_south_uses_huynh_and_vo(data):
    res = data["residents"]
    first = res.full_name.str.split().str[0]
    south = res.hometown.str.contains("Hồ Chí Minh|Cần Thơ|An Giang|Đồng Tháp|Vĩnh Long|Cà Mau|Tây Ninh|Long An|Bến Tre")
    north = res.hometown.str.contains("Hà Nội|Hải Phòng|Thái Bình|Nam Định|Hưng Yên|Bắc Ninh|Phú Thọ|Ninh Bình")
    assert (first[south] == "Huỳnh").sum() > (first[south] == "Hoàng").sum()
    assert (first[north] == "Vũ").sum() > (first[north] == "Võ").sum()


def test_text_is_nfc_unless_nfd_scenario(data):
    for name in ("residents", "id_cards"):
        df = data[name]
        for col in df.columns:
            assert df[col].map(lambda s: unicodedata.is_normalized("NFC", s)).all(), f"{name}.{col}"
    lab = _labels(data["truth"])
    w = data["wanted"]
    nfd = lab.get("nfd", pd.Series(False, index=w.index))
    for col in w.columns:
        ok = w[col].map(lambda s: unicodedata.is_normalized("NFC", s))
        assert (ok | nfd).all(), col
    if nfd.any():
        assert (~w.full_name[nfd].map(lambda s: unicodedata.is_normalized("NFC", s))).any()


# ------------------------------------------------------------------------------------ places
@pytest.fixture(scope="module")
def units():
    w = read_ref_csv("ref/admin/wards_pre2025.csv")
    w25 = read_ref_csv("ref/admin/wards_2025.csv")
    p = read_ref_csv("ref/admin/provinces_pre2025.csv")
    p25 = read_ref_csv("ref/admin/provinces_2025.csv")
    return {
        "pre": set(zip(w.ward_name, w.district_name if "district_name" in w else w.ward_name, w.province_name)),
        "new": set(zip(w25.ward_name, w25.province_name)),
        "prov": set(p.province_name) | set(p25.province_name),
    }


def _resolves(addr: str, units) -> bool:
    parts = addr.split(", ")
    if len(parts) >= 3 and tuple(parts[-3:]) in units["pre"]:
        return True
    if len(parts) >= 2 and tuple(parts[-2:]) in units["new"]:
        return True
    return len(parts) == 1 and parts[0] in units["prov"]


def test_addresses_use_real_units(data, units):
    res, cards = data["residents"], data["id_cards"]
    for df, cols in ((res, ("birth_place", "hometown", "permanent_address", "current_address")),
                     (cards, ("hometown", "permanent_address"))):
        for col in cols:
            vals = df[col][df[col] != ""]
            bad = vals[~vals.map(lambda a: _resolves(a, units))]
            assert bad.empty, f"{col}: {bad.head(3).tolist()}"
    # both regimes occur: the register is mostly rewritten with 2025 names, cards mostly not
    pre = res.permanent_address.map(lambda a: tuple(a.split(", ")[-3:]) in units["pre"])
    assert 0.05 < pre.mean() < 0.3
    card_pre = cards.permanent_address.map(lambda a: tuple(a.split(", ")[-3:]) in units["pre"])
    assert card_pre.mean() > 0.6
    # people move: a share of permanent addresses lie outside the hometown's province
    assert (res.permanent_address.str.split(", ").str[-1] != res.hometown.str.split(", ").str[-1]).mean() > 0.1


def test_wanted_addresses_use_real_units(data, units):
    lab = _labels(data["truth"])
    plain = ~(lab.get("diacritics_lost", False) | lab.get("tone_style", False) | lab.get("nfd", False))
    w = data["wanted"][plain]
    for col in ("birth_place", "hometown", "permanent_address", "current_address"):
        vals = w[col][w[col] != ""]
        assert vals.map(lambda a: _resolves(a, units)).all(), col


# ------------------------------------------------------------------------------------ determinism
def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    a = generate(1500, 100, 11, tmp_path / "a")
    b = generate(1500, 100, 11, tmp_path / "b")
    c = generate(1500, 100, 12, tmp_path / "c")
    for name in a:
        assert a[name].read_bytes() == b[name].read_bytes(), name
        assert a[name].read_bytes() != c[name].read_bytes(), name


def test_registers_written_in_slices_are_the_same_files(tmp_path, monkeypatch):
    """The registers are rendered and written a slice of people at a time (bounded memory at 10M
    people): many small slices write the same bytes as one."""
    import linkage.synth as synth

    one = generate(1500, 100, 11, tmp_path / "one", families=True)
    monkeypatch.setattr(synth, "SLICE_ROWS", 97)
    many = generate(1500, 100, 11, tmp_path / "many", families=True)
    assert set(one) == set(many)
    for name in one:
        assert one[name].read_bytes() == many[name].read_bytes(), name


def test_residents_do_not_depend_on_wanted_count(tmp_path):
    a = generate(1500, 100, 11, tmp_path / "a")
    b = generate(1500, 200, 11, tmp_path / "b")
    ra, rb = _read(a["residents"]), _read(b["residents"])
    assert (ra.drop(columns="other_names") == rb.drop(columns="other_names")).all().all()


# ------------------------------------------------------------------------------------ truth
def test_truth_references_and_absent(data):
    res, cards, w, truth = data["residents"], data["id_cards"], data["wanted"], data["truth"]
    lab = _labels(truth)
    assert set(lab.columns) <= set(R.SCENARIOS)
    present = truth.person_id != ""
    assert truth.person_id[present].isin(res.person_id).all()
    assert truth.person_id[present].is_unique
    absent = lab["absent"] | lab["absent_hard_negative"]
    assert (absent == ~present).all()
    n_abs = round(N_WANTED * R.ABSENT_SHARE)
    assert absent.sum() == n_abs
    assert lab["absent_hard_negative"].sum() == round(n_abs * R.HARD_NEGATIVE_SHARE_OF_ABSENT)
    ids = w.id_number[absent & (w.id_number != "")]
    assert len(ids) and not ids.isin(res.person_id).any() and not ids.isin(cards.old_id_number).any()
    assert ((truth.scenarios == "clean") == (lab.drop(columns="clean", errors="ignore").sum(axis=1) == 0)).all()


def test_hard_negatives_share_name_and_year_only(data):
    res, w, truth = data["residents"], data["wanted"], data["truth"]
    hard = w[truth.scenarios.str.startswith("absent_hard_negative")]
    assert len(hard)
    key = res.full_name.map(_key) + "|" + res.birth_date.map(_year).astype(str)
    by_key = res.assign(key=key).groupby("key")
    for _, row in hard.iterrows():
        k = _key(row.full_name) + "|" + str(_year(row.birth_date))
        assert k in by_key.groups, row.wanted_id
        same = by_key.get_group(k)
        assert row.id_number not in set(same.person_id)
        if re.fullmatch(r"\d\d/\d\d/\d{4}|\d{4}-\d\d-\d\d", row.birth_date):
            dmy = row.birth_date if "/" in row.birth_date else "/".join(reversed(row.birth_date.split("-")))
            assert dmy not in set(same.birth_date)


def test_perturbations_do_what_labels_say(data):
    res = data["residents"].set_index("person_id")
    cards = data["id_cards"].set_index("card_number")
    w, truth = data["wanted"], data["truth"]
    lab = _labels(truth)
    m = w.assign(pid=truth.person_id)
    spelled = lab.reindex(columns=["diacritics_lost", "tone_style", "nfd", "case_spacing", "typo_telex",
                                   "typo_vni", "typo_edit", "name_order", "middle_missing"], fill_value=False).any(axis=1)
    identity = lab.reindex(columns=["given_changed", "name_changed_alias", "name_changed"], fill_value=False).any(axis=1)
    def has(i, label):
        return label in lab.columns and bool(lab.at[i, label])

    context = {"units_old_vs_new", "id_missing", "parents_noise", "moved_district", "moved_province", "clean"}
    for i, row in m[m.pid != ""].iterrows():
        r = res.loc[row.pid]
        if not spelled[i] and not identity[i]:
            assert row.full_name == r.full_name, (row.wanted_id, truth.scenarios[i])
        if has(i, "name_changed"):
            assert _key(row.full_name) != _key(r.full_name)
        if has(i, "name_changed_alias") and not spelled[i]:
            assert row.full_name in r.other_names.split(";") or r.full_name in row.other_names.split(";")
        if has(i, "id_digit_wrong"):
            assert sum(a != b for a, b in zip(row.id_number, row.pid)) == 1
        if has(i, "id_old_cmnd"):
            assert row.id_number == cards.loc[row.pid].old_id_number
        if has(i, "id_missing"):
            assert row.id_number == ""
        elif not has(i, "id_old_cmnd") and not has(i, "id_digit_wrong"):
            assert row.id_number == row.pid
        if set(truth.scenarios[i].split("|")) <= context:
            assert _year(row.birth_date) == _year(r.birth_date)
        if has(i, "year_off_2"):
            assert abs(_year(row.birth_date) - _year(r.birth_date)) == 2
        if has(i, "diacritics_lost"):
            assert not tn.has_marks(row.full_name)
        if has(i, "date_missing"):
            assert row.birth_date == ""
        if has(i, "day_month_swapped") and "/" in row.birth_date:
            d, mth, y = row.birth_date.split("/")
            assert f"{mth}/{d}/{y}" == r.birth_date


# ------------------------------------------------------------------------------------ rates
def _expected_slot_rates() -> dict[str, float]:
    """Exact probability that each slot survives the cap, for all-eligible records."""
    names = list(R.SLOTS)
    p = np.array([R.SLOTS[s][0] for s in names])
    out = dict.fromkeys(names, 0.0)
    for bits in itertools.product([0, 1], repeat=len(names)):
        b = np.array(bits, dtype=bool)
        prob = np.prod(np.where(b, p, 1 - p))
        k = b.sum()
        for j in np.flatnonzero(b):
            out[names[j]] += prob * min(1.0, R.MAX_SLOTS / k)
    return out


def test_draw_labels_matches_rates():
    n = 200_000
    rng = np.random.default_rng(3)
    labels = [lab for _, (_, labs) in R.SLOTS.items() for lab in labs]
    eligible = {lab: np.ones(n, dtype=bool) for lab in labels}
    eligible["day_month_swapped"] = rng.random(n) < 0.4  # only some records can have it
    got = draw_labels(eligible, rng)
    expected = _expected_slot_rates()
    picked = np.zeros((n, len(R.SLOTS)), dtype=bool)
    for s, (slot, (_, labs)) in enumerate(R.SLOTS.items()):
        hit = np.any([got[lab] for lab in labs], axis=0)
        picked[:, s] = hit
        assert abs(hit.mean() - expected[slot]) < 0.005, slot
        if slot == "birth_date":
            continue
        total = sum(labs.values())
        for lab, w in labs.items():
            share = got[lab].sum() / hit.sum()
            assert abs(share - w / total) < 0.02, lab
    # day_month_swapped only where applicable, and with its share among the applicable ones
    assert not (got["day_month_swapped"] & ~eligible["day_month_swapped"]).any()
    labs = R.SLOTS["birth_date"][1]
    el = eligible["day_month_swapped"]
    hit = np.any([got[lab] for lab in labs], axis=0)
    assert abs(got["day_month_swapped"][el].sum() / hit[el].sum() - labs["day_month_swapped"] / sum(labs.values())) < 0.02
    assert picked.sum(axis=1).max() <= R.MAX_SLOTS


def test_generated_rates_within_tolerance(tmp_path):
    """Label rates of a generated wanted list against rates.py: the slot rates (after the cap),
    the id slot among records that state an id, contextual and absent shares."""
    truth = _read(generate(30000, 3000, 21, tmp_path)["truth"])
    lab = _labels(truth)
    present = truth.person_id != ""
    exp = _expected_slot_rates()

    def rate(slot, rows):
        return lab.reindex(columns=list(R.SLOTS[slot][1]), fill_value=False)[rows].any(axis=1).mean()

    def tol(p, rows):
        return 3.5 * np.sqrt(p * (1 - p) / rows.sum())

    for slot in ("name_spelling", "name_structure", "name_identity", "birth_date"):
        assert abs(rate(slot, present) - exp[slot]) < 0.1 * exp[slot] + tol(exp[slot], present), slot
    with_id = present & ~lab["id_missing"]
    assert abs(rate("id", with_id) - exp["id"]) < 0.1 * exp["id"] + tol(exp["id"], with_id)
    # residence: plus records copied from a card printed before a move; parents: needs a parent's name
    assert exp["residence"] * 0.9 < rate("residence", present) < exp["residence"] + 0.04 + tol(exp["residence"], present)
    assert exp["parents"] * 0.75 < rate("parents", present) < exp["parents"] * 1.05 + tol(exp["parents"], present)
    everyone = pd.Series(True, index=truth.index)
    assert abs(lab["id_missing"].mean() - R.ID_MISSING) < tol(R.ID_MISSING, everyone)
    assert (~present).sum() == round(3000 * R.ABSENT_SHARE)
    # within a slot, labels follow their weights where every label applies (name_identity)
    labs = R.SLOTS["name_identity"][1]
    hit = lab.reindex(columns=list(labs), fill_value=False)[present]
    for name, wgt in labs.items():
        share = hit[name].sum() / hit.any(axis=1).sum()
        assert abs(share - wgt / sum(labs.values())) < 0.12, name


# ------------------------------------------------------------------------------------ text noise
def test_text_noise_functions():
    assert tn.keystrokes("Nguyễn", vni=False, whole=True, pick=0) == "Nguyeenx"
    assert tn.keystrokes("Nguyễn", vni=True, whole=True, pick=0) == "Nguye64n"
    assert tn.keystrokes("Đặng", vni=False, whole=True, pick=0) == "Ddawngj"
    assert tn.keystrokes("Trương Hồ", vni=False, whole=False, pick=0.9) == "Trương Hoof"
    assert tn.tone_flip("Lê Thị Thúy Hòa") == "Lê Thị Thuý Hoà"
    assert tn.tone_flip("Hoà Quý") == "Hòa Quý"
    assert tn.fold("Đỗ Thị Ngọc Hường") == "Do Thi Ngoc Huong"
    for kind in ("drop", "swap", "mark", "double"):
        s = tn.typo("Nguyễn Văn Hùng", kind, 0.5, 0.3)
        assert s != "Nguyễn Văn Hùng" and unicodedata.is_normalized("NFC", s)
    assert tn.case_spacing("H'Hen Niê", "apostrophe_space", 0.1) == "H' Hen Niê"
    assert tn.case_spacing("Lê Văn An", "upper", 0.1) == "LÊ VĂN AN"


# ------------------------------------------------------------------------------------ committed sample
SAMPLE = Path(__file__).resolve().parent.parent / "data_samples" / "sample"


def test_sample_readme_documents_every_label():
    text = (SAMPLE / "README.md").read_text(encoding="utf-8")
    for label in R.SCENARIOS:
        assert f"`{label}`" in text, label
    assert "--residents 20000 --wanted 500 --seed 20251126 --out data_samples/sample" in text


def test_committed_sample_is_reproducible(tmp_path):
    """The committed files are what the documented command writes (regenerate with `make sample`)."""
    paths = generate(20000, 500, 20251126, tmp_path)
    for name, path in paths.items():
        assert (SAMPLE / f"{name}.csv").read_bytes() == path.read_bytes(), f"{name}.csv is stale: run make sample"
    total = sum(p.stat().st_size for p in SAMPLE.iterdir())
    assert total < 10 * 2**20  # 9.2 MiB since the cards print identifying marks (was 8.6)
