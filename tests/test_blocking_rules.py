"""The project's blocking rules on crafted records: which pairs each rule proposes. The two name
rules that made most of the candidate pairs (family and given name; a parent's name) keep what
only they find and leave out the namesakes and siblings that only they would propose."""

from __future__ import annotations

import pytest

from engine_helpers import workspace
from linkage.block import block
from linkage.settings import load_settings

# The wanted person: Nguyễn Văn Hùng, 12/05/1985 (engine_helpers.WANTED_BASE), father Nguyễn Văn Tư.
# Register persons that share the family and the given name, born within two years, on another
# day (so that no date rule finds them) and with other parents (so no parent rule does).
OTHER_PARENTS = {"father_name": "Trần Văn Bảy", "mother_name": "Phạm Thị Hoa", "birth_date": "03/10/1986"}
NAME_CASES = {
    "001086000001": ("Nguyễn Hùng", True),          # middle name dropped
    "001086000002": ("Nguyễn Vnă Hùng", True),      # middle mistyped (two letters swapped)
    "001086000003": ("Nguyễn Văn Minh Hùng", True),  # a middle word shared
    "001086000004": ("Nguyễn Mạnh Hùng", False),    # a namesake with another middle name
    "001086000005": ("Nguyễn Thị Hùng", False),
}


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("blocking_rules")
    residents = [{"person_id": pid, "full_name": name, **OTHER_PARENTS} for pid, (name, _) in NAME_CASES.items()]
    residents += [
        # same father and mother, born the same year: a sister and a brother with other names
        {"person_id": "001085000010", "full_name": "Nguyễn Thị Lan", "gender": "Nữ", "birth_date": "1985"},
        {"person_id": "001085000011", "full_name": "Nguyễn Quốc Bảo", "gender": "Nam", "birth_date": "1985"},
    ]
    con = workspace(tmp, [{}], residents)
    settings = load_settings()
    block(con, settings)
    bits = {r.name: 1 << i for i, r in enumerate(settings.blocking)}
    rows = con.execute("SELECT r.uid, p.rules FROM pairs p JOIN (SELECT DISTINCT uid, person_idx FROM reg) r "
                       "USING (person_idx)").fetchall()
    return {uid: {name for name, bit in bits.items() if rules & bit} for uid, rules in rows}


@pytest.mark.parametrize("pid", sorted(NAME_CASES))
def test_family_given_year_keeps_a_dropped_or_mistyped_middle_name(pairs, pid):
    name, kept = NAME_CASES[pid]
    assert ("family_given_year" in pairs.get(pid, set())) is kept, name


def test_a_namesake_with_another_middle_name_is_no_candidate(pairs):
    assert "001086000004" not in pairs  # no other rule proposes him either


def test_parent_and_year_rules_leave_out_a_sibling_of_the_other_sex(pairs):
    # (both parents' names, the `parents` rule, still propose her: a small rule, kept whole)
    assert not {"father_year", "mother_year"} & pairs["001085000010"]
    assert {"father_year", "mother_year"} <= pairs["001085000011"]
