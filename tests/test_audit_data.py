"""Small synthetic registers for the audit and clean tests: one clean base person per source, and
a helper that writes records as a real CSV file. (No tests here: shared by test_audit*.py and
test_clean.py.)"""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

from linkage.ingest.contract import COLUMNS

TODAY = date(2026, 11, 26)

WANTED_BASE = {
    "wanted_id": "W00",
    "full_name": "Nguyễn Văn Hùng",
    "other_names": "",
    "gender": "Nam",
    "birth_date": "12/05/1985",
    "birth_place": "Tỉnh Long An",
    "hometown": "Xã Tân Phú, Huyện Đức Hòa, Tỉnh Long An",
    "permanent_address": "Phường Bến Nghé, Quận 1, Thành phố Hồ Chí Minh",
    "current_address": "",
    "ethnicity": "Kinh",
    "id_number": "080085001234",
    "father_name": "Nguyễn Văn Tư",
    "mother_name": "Lê Thị Lan",
    "decision_number": "12/QĐ-CSĐT",
    "decision_date": "01/02/2020",
    "issuing_unit": "Công an tỉnh Long An",
    "offence": "Giết người",
    "danger_level": "nguy hiểm",
    "identifying_marks": "Nốt ruồi C 2cm trên trước đuôi mắt phải",
}

RESIDENT_BASE = {
    "person_id": "080085001234",
    "full_name": "Nguyễn Văn Hùng",
    "other_names": "",
    "gender": "Nam",
    "birth_date": "12/05/1985",
    "birth_place": "Tỉnh Long An",
    "hometown": "Xã Tân Phú, Huyện Đức Hòa, Tỉnh Long An",
    "permanent_address": "Phường Bến Nghé, Quận 1, Thành phố Hồ Chí Minh",
    "current_address": "",
    "ethnicity": "Kinh",
    "father_name": "Nguyễn Văn Tư",
    "mother_name": "Lê Thị Lan",
    "status": "alive",
    "updated_at": "2025-03-20",
}

CARD_BASE = {
    "card_number": "080085001234",
    "old_id_number": "300123456",  # CMND prefix 30: Long An
    "full_name": "Nguyễn Văn Hùng",
    "gender": "Nam",
    "birth_date": "12/05/1985",
    "hometown": "Xã Tân Phú, Huyện Đức Hòa, Tỉnh Long An",
    "permanent_address": "Phường Bến Nghé, Quận 1, Thành phố Hồ Chí Minh",
    "issue_date": "2021-04-01",
}

BASE = {"wanted": WANTED_BASE, "residents": RESIDENT_BASE, "id_cards": CARD_BASE}

# Distinct given names, so the records of one file are not probable duplicates of each other.
GIVEN = ["Hùng", "Dũng", "Tuấn", "Minh", "Long", "Nam", "Phúc", "Quang", "Sơn", "Thắng", "Trung", "Việt",
         "Bình", "Cường", "Đức", "Giang", "Hải", "Hiếu", "Hòa", "Huy", "Khánh", "Kiên", "Lâm", "Lộc", "Mạnh",
         "Nghĩa", "Phong", "Quân", "Tài", "Tâm", "Thành", "Thịnh", "Toàn", "Trí", "Tùng", "Vinh", "Vũ", "Xuân",
         "An", "Bắc", "Chiến", "Định", "Hậu", "Khang", "Lợi", "Nhân", "Phát", "Sang", "Tiệp", "Uy", "Vương",
         "Yên", "Đạt", "Hưởng", "Kha", "Luận", "Ngọc", "Quyết", "Thuyên", "Triều"]


def variant(source: str, i: int, **changes: str) -> dict:
    """The base record of `source` as person number i (own id, own given name), with changes."""
    rec = dict(BASE[source])
    key = {"wanted": "wanted_id", "residents": "person_id", "id_cards": "card_number"}[source]
    serial = f"{i:06d}"
    if source == "wanted":
        rec["wanted_id"] = f"W{i:02d}"
        rec["id_number"] = "080085" + serial
    else:
        rec[key] = "080085" + serial
    if source == "id_cards":
        rec["old_id_number"] = "300" + serial
    rec["full_name"] = f"Nguyễn Văn {GIVEN[i % len(GIVEN)]}"
    rec.update(changes)
    return rec


def write_csv(path: Path, source: str, records: list[dict], columns: tuple[str, ...] | None = None) -> Path:
    cols = list(columns or COLUMNS[source])
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        for r in records:
            w.writerow({c: r.get(c, "") for c in cols})
    return path
