"""Every rate, share and probability the synthetic population uses, in one readable place.

Tables of names, places and codes live in `data_samples/generator/` and `rules/ref/`; this file
only holds the knobs. Change a number here and the generator (and its tests) follow.
Shares are fractions (0..1). "Scenario" labels are documented in `SCENARIOS` below and in
`data_samples/sample/README.md`.
"""

from __future__ import annotations

import datetime as _dt

# --------------------------------------------------------------------------------------------
# The synthetic world's calendar
# --------------------------------------------------------------------------------------------
REFERENCE_DATE = _dt.date(2026, 11, 26)  # "today": nothing happens after it
REORG_DATE = _dt.date(2025, 7, 1)  # 63 -> 34 provinces, districts abolished
REGISTER_START = _dt.date(2021, 7, 1)  # national population register in service (updated_at from here)
CCCD_START = _dt.date(2016, 1, 1)  # first 12-digit chip/barcode cards
CHILD_CARD_START = _dt.date(2024, 7, 1)  # Luật Căn cước 2023: cards for children under 14
CARD_CAMPAIGN_YEAR = 2021  # the nationwide chip-card campaign
CARD_CAMPAIGN_SHARE = 0.45  # share of card issue dates falling in the campaign year (if eligible)

# --------------------------------------------------------------------------------------------
# Age structure: relative number of births per calendar year, by band (first year, weight).
# Shaped on the 2019 census pyramid (flat 1980-2019, thinning above 55, small cohorts pre-1945).
# --------------------------------------------------------------------------------------------
BIRTH_YEAR_BANDS: tuple[tuple[int, float], ...] = (
    (1925, 0.02), (1930, 0.08), (1935, 0.15), (1940, 0.28), (1945, 0.45), (1950, 0.62),
    (1955, 0.78), (1960, 0.98), (1965, 1.10), (1970, 1.30), (1975, 1.42), (1980, 1.55),
    (1985, 1.60), (1990, 1.60), (1995, 1.50), (2000, 1.42), (2005, 1.45), (2010, 1.55),
    (2015, 1.55), (2020, 1.30),
)
LAST_BIRTH_YEAR = 2026  # bands run up to this year (births stop at REFERENCE_DATE)
MALE_SHARE = 0.497  # 2019 census: 49.8% male overall, fewer men among the old

# Families: the register is built family by family so siblings share parents, hometown and
# family name (hard near-duplicates for the matcher). Children per family = 1 + Poisson(lambda),
# lambda by the first child's birth year; gaps between siblings 1..6 years.
CHILDREN_LAMBDA_BY_COHORT: tuple[tuple[int, float], ...] = ((0, 2.2), (1960, 1.5), (1980, 0.9), (2000, 0.7))
MAX_CHILDREN = 7
SIBLING_GAP_YEARS = (1, 6)  # inclusive range of years between consecutive siblings
TWIN_SHARE = 0.012  # a sibling born on the same day as the previous one
SIBLING_SAME_MIDDLE = 0.45  # same-gender siblings sharing their middle name
FATHER_AGE_AT_BIRTH = (21, 42)  # uniform, years
MOTHER_AGE_AT_BIRTH = (18, 38)
# Register rows with no parents' names (old records), by birth year.
PARENTS_UNKNOWN_BY_COHORT: tuple[tuple[int, float], ...] = ((0, 0.30), (1950, 0.10), (1970, 0.02))

# --------------------------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------------------------
# Kinh surnames: published national shares for the top 14 (Nguyễn 38.4%, ...); the remaining mass
# is spread over the DKL01 long tail, then (a smaller part) over rarer surnames seen in the ngxson
# aggregates. Hoàng/Huỳnh and Vũ/Võ are one surname each in the published table: the variant is
# chosen by the region of the family's hometown.
SURNAME_TAIL_DKL01_SHARE = 0.80  # share of the non-top-14 mass given to DKL01 surnames
SURNAME_TAIL_MIN_COUNT = 8  # ngxson surnames with fewer observations are ignored
HUYNH_SHARE_BY_REGION = {"north": 0.03, "centre": 0.45, "south": 0.85}  # of Hoàng+Huỳnh
VO_SHARE_BY_REGION = {"north": 0.08, "centre": 0.65, "south": 0.80}  # of Vũ+Võ

# Number of words in a Kinh full name by gender and birth cohort: the SG01 distribution (born
# ~2007-2011) for the youngest, the ngxson one (mostly born 1985-2005) for the middle cohorts, and
# ngxson with 4-word names shrunk for the old (two-word middles were rare before ~1975).
WORD_COUNT_SG01_FROM_YEAR = 2005
FOUR_WORD_SHRINK_BY_COHORT: tuple[tuple[int, float], ...] = ((0, 0.25), (1960, 0.45), (1975, 0.75), (1985, 1.0))
# A one-word middle of an older person is "Văn"/"Thị" with at least this probability.
CLASSIC_MIDDLE_BY_COHORT: tuple[tuple[int, float], ...] = ((0, 0.80), (1960, 0.65), (1975, 0.40), (1990, 0.0))
# Surnames of the DKL01/ngxson tails that are mainly minority names (kept for minorities only).
KINH_SURNAME_EXCLUDE = ("Nông", "Lục", "Ma", "Bế", "Mông", "Sầm", "Lò", "Vy", "Vi", "Lăng", "Y", "Ka",
                        "Thạch", "Danh", "Sơn", "Kim", "Ksor", "Siu", "Niê", "H", "A", "Rơ", "Điểu")
GIVEN_NAME_MIN_COUNT = 3  # ngxson given names seen fewer times are ignored
PUBLISHED_GIVEN_WEIGHT = 0.6  # mass taken from the published top lists; rest from ngxson shape

PREFIX_APOSTROPHE_ATTACHED = 0.6  # "H'Hen" (attached) vs "H' Hen" for prefixes ending in '
RESIDENT_NICKNAME_SHARE = 0.01  # residents with a nickname in other_names
RESIDENT_NAME_CHANGE_SHARE = 0.006  # residents who changed name: old name kept in other_names

# --------------------------------------------------------------------------------------------
# Places
# --------------------------------------------------------------------------------------------
# Province weights: 2019 census populations (data_samples/generator/province_population_2019.csv).
# Within a province, wards are weighted by type: city wards hold more people than rural communes.
WARD_TYPE_WEIGHT = {"Phường": 2.5, "Thị trấn": 1.5, "Xã": 1.0}
# Hometown (quê quán, the father's origin) in the family's province of residence, else another
# province (same region with REGION_AFFINITY, weighted by population). The big cities attract migrants.
HOMETOWN_SAME_PROVINCE = 0.87
HOMETOWN_SAME_PROVINCE_BIG_CITY = 0.50
BIG_CITY_CODES = ("01", "79", "74", "75", "48", "31", "92")  # Hà Nội, HCMC, Bình Dương, Đồng Nai, ...
REGION_AFFINITY = 0.65  # a hometown elsewhere: same region as the family's province
ORIGIN_BIG_CITY_WEIGHT = 0.5  # big cities are less often an origin (weight multiplier)
MIGRANT_REGION_AFFINITY = 0.5  # movers and temporary residents: destination in the same region
MIGRANT_DESTINATION_BIG_CITY_BOOST = 3.0  # weight multiplier of big cities as destinations
HOMETOWN_SAME_WARD = 0.55  # family living in the very commune of its hometown (if same province)
HOMETOWN_PROVINCE_ONLY = 0.30  # hometown written with the province only
BIRTH_IN_HOME_PROVINCE = 0.85  # born in the province where the family lived (else the hometown's)
BIRTH_PLACE_PROVINCE_ONLY = 0.50  # birth place written with the province only
# Adults leaving the family home (permanent address elsewhere), by age at REFERENCE_DATE.
MOVE_OUT_BY_AGE: tuple[tuple[int, float], ...] = ((0, 0.0), (18, 0.15), (23, 0.40), (30, 0.55))
MOVE_DESTINATION = {"same_district": 0.35, "same_province": 0.35, "other_province": 0.30}
CURRENT_ADDRESS_DIFFERS = 0.18  # current address (nơi ở hiện tại) not the permanent one
CURRENT_ADDRESS_OTHER_PROVINCE = 0.55  # of those, share in another province
REGISTER_CURRENT_BLANK_IF_SAME = 0.5  # register rows leaving nơi ở hiện tại empty when it is the permanent one

# Unit-name regime of each source (pre-2025 "Xã, Huyện, Tỉnh" vs 2025 "Xã, Tỉnh").
REGISTER_2025_NAMES = 0.85  # residents rows already rewritten with 2025 names
CARD_2025_NAMES_AFTER_REORG = 0.95  # cards issued after REORG_DATE printed with 2025 names
WANTED_2025_NAMES_AFTER_REORG = 0.70  # decisions after REORG_DATE written with 2025 names

# --------------------------------------------------------------------------------------------
# Register rows
# --------------------------------------------------------------------------------------------
DECEASED_BY_AGE: tuple[tuple[int, float], ...] = ((0, 0.002), (40, 0.012), (60, 0.05), (75, 0.14), (85, 0.30))
BIRTH_DATE_YEAR_ONLY_BY_COHORT: tuple[tuple[int, float], ...] = ((0, 0.20), (1950, 0.03), (1976, 0.0))
BIRTH_DATE_MONTH_YEAR_BY_COHORT: tuple[tuple[int, float], ...] = ((0, 0.10), (1950, 0.02), (1976, 0.0))

# ID cards (căn cước): holders among residents, by age at REFERENCE_DATE.
CARD_SHARE_ADULT = 0.90  # 14 and over, alive
CARD_SHARE_CHILD = 0.06  # under 14 (cards possible since CHILD_CARD_START)
CARD_SHARE_DECEASED = 0.35
# 9-digit CMND: people 14+ before CCCD replaced it, born up to CMND_LAST_BIRTH_YEAR.
CMND_LAST_BIRTH_YEAR = 2004
CMND_SHARE = 0.85  # of eligible card holders, the card row keeps their old CMND number
MOVE_YEARS = (2012, 2026)  # moves happen uniformly in these years (a card issued before shows the old address)

# --------------------------------------------------------------------------------------------
# Wanted list
# --------------------------------------------------------------------------------------------
ABSENT_SHARE = 0.10  # wanted persons in neither register
HARD_NEGATIVE_SHARE_OF_ABSENT = 0.5  # of those: same full name and birth year as a resident
WANTED_MALE_WEIGHT = 8.0  # relative odds of a man vs a woman being wanted
WANTED_AGE_WEIGHT: tuple[tuple[int, float], ...] = (
    (0, 0.0), (16, 0.4), (18, 1.0), (26, 1.3), (36, 1.0), (46, 0.55), (56, 0.25), (66, 0.08), (76, 0.0))
WANTED_DECEASED_WEIGHT = 0.1
WANTED_FROM_CARD = 0.20  # wanted record copied from the ID card (name/address as printed on it)
DECISION_FIRST_YEAR = 2006
DECISION_RECENCY_POWER = 0.6  # u**power on [first, REFERENCE_DATE]: favours recent decisions
DECISION_MIN_AGE = 16
ISSUED_BY_DISTRICT_POLICE = 0.55  # before 2025-03-01 (district police abolished)
DISTRICT_POLICE_END = _dt.date(2025, 3, 1)

# Fields a wanted record carries (unlabelled missingness: a null compares as nothing).
WANTED_FIELD_PRESENT = {
    "birth_place": 0.55,
    "hometown": 0.90,
    "permanent_address": 0.97,
    "current_address": 0.45,
    "ethnicity": 0.80,
    "father_name": 0.70,
    "mother_name": 0.65,
}
WANTED_PLACE_PROVINCE_ONLY = 0.15  # hometown / birth place stated with the province only (coarser than the register)
WANTED_NICKNAME = 0.12  # other_names carries a nickname ("Tèo", "Hùng Sẹo"): not a register value
WANTED_GENDER_MF = 0.20  # gender written "M"/"F" instead of "Nam"/"Nữ"
WANTED_GENDER_EMPTY = 0.02
WANTED_DATE_ISO = 0.20  # full birth dates written yyyy-mm-dd instead of dd/mm/yyyy
WANTED_ETHNIC_ALT_SPELLING = 0.25  # minorities: "H'Mông", "Ê-đê" ... (alternative spellings)

# Contextual condition (labelled, drawn independently of the slots below).
ID_MISSING = 0.45  # wanted record has no id number at all

# Perturbation slots: each slot is drawn independently with its probability; a record keeps at
# most MAX_SLOTS of them (extra ones dropped at random). Within a slot one label is chosen by
# weight among the labels applicable to the record (e.g. day_month_swapped needs day <= 12).
MAX_SLOTS = 3
SLOTS: dict[str, tuple[float, dict[str, float]]] = {
    "name_spelling": (0.30, {
        "diacritics_lost": 0.30, "tone_style": 0.25, "nfd": 0.08, "case_spacing": 0.20,
        "typo_telex": 0.10, "typo_vni": 0.07, "typo_edit": 0.15}),
    "name_structure": (0.08, {"name_order": 0.45, "middle_missing": 0.55}),
    "name_identity": (0.10, {"given_changed": 0.35, "name_changed_alias": 0.40, "name_changed": 0.25}),
    "birth_date": (0.25, {
        "date_year_only": 0.30, "date_month_year": 0.12, "year_off_1": 0.25, "year_off_2": 0.10,
        "day_month_swapped": 0.15, "date_missing": 0.08}),
    "residence": (0.15, {"moved_district": 0.45, "moved_province": 0.55}),
    "id": (0.10, {"id_old_cmnd": 0.50, "id_digit_wrong": 0.50}),  # only if the id is present
    "parents": (0.15, {"parents_noise": 1.0}),  # only if a parent's name is present
}
# Absent wanted persons get the same noise, restricted to labels that keep name and birth year
# (so hard negatives keep sharing them with their resident namesake).
ABSENT_ALLOWED = ("diacritics_lost", "tone_style", "nfd", "case_spacing", "date_year_only",
                  "date_month_year")

# Details inside a label.
NAME_ORDER_KINDS = {"family_last": 0.5, "given_first": 0.3, "middle_given_swapped": 0.2}
MIDDLE_MISSING_ALL = 0.7  # drop the whole middle (else one word of a two-word middle)
NAME_CHANGE_KEEP_FAMILY = 0.6  # a changed name keeps the family name
NAME_CHANGE_REGISTER_HOLDS_NEW = 0.5  # alias case: register has the new name (old one in other_names)
ALIAS_CARD_SHOWS_OLD_NAME = 0.5  # ... and the card, issued before the change, shows the old one
CASE_SPACING_KINDS = {"upper": 0.45, "lower": 0.15, "double_space": 0.15, "edge_space": 0.10,
                      "apostrophe_space": 0.15}
TYPO_WHOLE_NAME = 0.3  # Telex/VNI keystrokes for the whole name (else one word)
TYPO_EDIT_KINDS = {"drop": 0.30, "swap": 0.25, "mark": 0.30, "double": 0.15}
PARENT_NOISE_PER_PARENT = 0.7  # each present parent's name is hit with this probability
PARENT_NOISE_KINDS = {"missing": 0.35, "diacritics": 0.35, "typo": 0.30}
HARD_NEGATIVE_SAME_PROVINCE = 0.3  # hometown in the namesake's province (other district)
HARD_NEGATIVE_LIVES_AT_HOMETOWN = 0.6  # permanent address in the hometown commune (else same province)
YEAR_OFF_LATER = 0.5  # year_off_*: the wanted year is later (else earlier) than the register's
NICKNAME_WITH_GIVEN = 0.5  # "Hùng Sẹo" rather than "Sẹo"
SECURITY_INVESTIGATION = 0.10  # decisions by the security investigation body (ANĐT) rather than CSĐT
ISSUING_UNIT_LONG_FORM = 0.5  # "Cơ quan Cảnh sát điều tra Công an tỉnh X" rather than "Công an tỉnh X"
ABSENT_POOL_FACTOR = 4  # absent wanted persons are drawn from a pool this many times larger

# The fixed vocabulary of truth labels (truth.csv `scenarios`, '|'-joined, in this order).
SCENARIOS: dict[str, str] = {
    "clean": "no label applies: the wanted record carries the register's values (formats may differ)",
    "absent": "wanted person in neither register (person_id empty)",
    "absent_hard_negative": "absent, and shares full name and birth year with a resident",
    "diacritics_lost": "name, parents and addresses typed without Vietnamese marks",
    "tone_style": "tone marks placed in the other style (hòa/hoà, thúy/thuý) in name and places",
    "nfd": "name, parents and addresses in Unicode NFD (decomposed)",
    "case_spacing": "name in upper/lower case, doubled or edge spaces, H' spacing",
    "typo_telex": "name (or one word) as raw Telex keystrokes: Nguyeenx",
    "typo_vni": "name (or one word) as raw VNI keystrokes: Nguye64n",
    "typo_edit": "one letter dropped, swapped, doubled, or one vowel mark/tone wrong",
    "name_order": "name parts reordered (family last, given first, middle/given swapped)",
    "middle_missing": "middle name (or a prefix such as Y / H') missing",
    "given_changed": "given name different",
    "name_changed_alias": "whole name different; the other name is recorded as an alias "
                          "(register other_names or wanted other_names)",
    "name_changed": "whole name different, no trace in either register",
    "date_year_only": "birth date reduced to the year",
    "date_month_year": "birth date reduced to month/year",
    "year_off_1": "birth year one off",
    "year_off_2": "birth year two off",
    "day_month_swapped": "day and month swapped",
    "date_missing": "birth date empty",
    "moved_district": "wanted addresses are an old one elsewhere in the same province (another district; "
                      "for a record copied from an ID card printed before a move, possibly another ward)",
    "moved_province": "wanted addresses are an old one in another province",
    "units_old_vs_new": "a place the wanted record states reads differently in the register's unit regime "
                        "(pre-2025 'Xã, Huyện, Tỉnh' vs 2025 'Xã, Tỉnh'; register birth places are pre-2025)",
    "id_missing": "wanted record has no id number",
    "id_old_cmnd": "id number is the 9-digit CMND (found as old_id_number on the card)",
    "id_digit_wrong": "one digit of the 12-digit id wrong",
    "parents_noise": "a parent's name missing, without marks, or with a typo",
    "moved_after_card": "moved after the ID card was issued: the wanted record has the card's (old) address, "
                        "the residents register the new one",
    "renamed_after_card": "renamed after the ID card was issued: the wanted record has the card's (old) name, "
                          "the residents register the new one",
}

# --------------------------------------------------------------------------------------------
# Identifying marks (đặc điểm nhận dạng, linkage/synth/marks.py; written forms from rules/marks.yaml)
# --------------------------------------------------------------------------------------------
# Every person has one mark, some a second; every ID card prints them (CCCD "đặc điểm nhận dạng").
# Namesakes draw their marks independently, so they rarely share one.
MARKS_SECOND = 0.30  # a person with a second mark
MARK_KIND_WEIGHT = {"not_ruoi": 0.44, "seo": 0.40, "bot": 0.05, "hinh_xam": 0.07, "mun_coc": 0.02, "tan_nhang": 0.02}
# Where each kind sits (landmark keys of rules/marks.yaml, weight); face marks are measured from a
# landmark ("C 1cm dưới sau cánh mũi trái"), body marks are placed only ("ở cánh tay trái").
MARK_FACE_LANDMARKS = {
    "canh_mui": 1.2, "dau_mui": 0.3, "song_mui": 0.3, "duoi_mat": 1.2, "dau_mat": 0.6, "mi_mat": 0.3, "mat": 0.8,
    "duoi_may": 1.0, "dau_may": 0.6, "long_may": 0.5, "go_ma": 0.6, "ma": 0.8, "mep": 1.0, "moi": 0.4,
    "nhan_trung": 0.3, "cam": 0.8, "tran": 1.0, "thai_duong": 0.5, "tai": 0.6, "co": 0.5,
}
MARK_BODY_LANDMARKS = {
    "vai": 0.8, "canh_tay": 1.5, "cang_tay": 1.0, "co_tay": 0.6, "ban_tay": 0.8, "ngon_tay": 0.3, "nguc": 0.8,
    "bung": 0.4, "lung": 0.8, "gay": 0.4, "dui": 0.5, "cang_chan": 0.5, "ban_chan": 0.3,
}
MARK_BODY_KINDS = ("hinh_xam", "bot")  # kinds placed on the body (others on the face)
MARK_UNSIDED = ("dau_mui", "song_mui", "nhan_trung", "cam", "tran", "co", "gay", "nguc", "bung", "lung", "moi")
MARK_SHAPES = {"seo": ("chấm", "lồi", "dài", "lõm"), "not_ruoi": ("đen", "nâu"), "bot": ("thâm", "nâu", "đỏ")}
MARK_SHAPE_SHARE = 0.55  # a scar, mole or birthmark whose look is written
MARK_DISTANCE_CM = (0.5, 1.0, 1.0, 1.5, 2.0, 2.0, 2.5, 3.0, 4.0)  # a face mark's distance (drawn uniformly)
MARK_TATTOO_MOTIFS = ("rồng", "hoa hồng", "chữ Mẹ", "đại bàng", "chữ Nhẫn", "con hổ", "mỏ neo", "chữ Tâm")

# A wanted notice describes the person's marks in its own words (the same marks as the card).
WANTED_MARKS_PRESENT = 0.85  # notices with marks (others leave the field empty)
WANTED_MARKS_ALL = 0.55  # a person with two marks: both described (else one of them)
WANTED_MARK_EXTRA = 0.04  # a mark the card does not show (a tattoo made later), added
WANTED_MARK_OTHER = 0.03  # the notice describes another mark altogether (a witness's account)
WANTED_MARK_FORM_FIRST = 0.75  # kinds and places written with rules/marks.yaml's first form (else another form)
WANTED_MARK_DROP = {"shape": 0.40, "distance": 0.20, "directions": 0.15, "side": 0.08}  # parts left out
WANTED_MARK_DISTANCE_OFF = 0.20  # the distance measured differently (half a centimetre off)
WANTED_MARK_CACH = {"C": 0.45, "C:": 0.15, "cách": 0.40}  # how "at a distance of" is written
WANTED_MARK_UNIT = {"cm": 0.65, "phân": 0.25, "mm": 0.10}
WANTED_MARK_SIDE_FORM = {"full": 0.72, "letter": 0.16, "bên": 0.12}  # trái / T / bên trái
WANTED_MARK_ORDER = {"card": 0.70, "place_first": 0.20, "at_place": 0.10}  # word orders (linkage/synth/marks.py)
WANTED_MARK_DIRECTIONS_SWAPPED = 0.30  # "sau dưới" for "dưới sau"
WANTED_MARK_FOLDED = 0.10  # typed without diacritics
WANTED_MARK_UPPER = 0.05  # in capitals
WANTED_MARK_SEPARATOR = {", ": 0.45, "; ": 0.30, " và ": 0.15, " + ": 0.10}
