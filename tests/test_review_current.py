"""The review page states a change with the person's current value (the most recent record, on
which the run judged the flag), not the residents row's when a newer card says otherwise."""

from __future__ import annotations

from linkage.review.candidates import Row
from linkage.review.pages import Ctx, flag_lines


def row(flags: dict[str, bool], current: dict[str, str]) -> Row:
    return Row(pos=0, wanted_id="TN-1", person_id="001085012345", rank=1, danger=0, danger_level="", issuing_unit="",
               match_weight=20.0, match_probability=0.99, flags=flags, mw={}, explanation="", sources="residents+id_cards",
               evidence="", state="open", requeue_reason=None, decided_by=None, current=current)


def test_flag_lines_state_the_current_values():
    ctx = Ctx(lang="vi", rules=None, user="an", role="reviewer", blind=False, csrf="x")
    wanted = {"full_name": "Nguyễn Văn Tý", "permanent_address": "Xã Bình An, Tỉnh Đồng Nai"}
    resident = {"full_name": "Nguyễn Văn Tý", "current_address": "Xã Bình An, Tỉnh Đồng Nai"}  # the older record
    now = {"current_full_name": "Nguyễn Minh Quân", "current_address": "Phường Láng, Thành phố Hà Nội"}
    lines = flag_lines(ctx, row({"name_changed": True, "residence_changed": True}, now), wanted, resident)
    assert any("Nguyễn Minh Quân" in x for x in lines)
    assert any("Phường Láng, Thành phố Hà Nội" in x and "Xã Bình An" in x for x in lines)
    older = flag_lines(ctx, row({"residence_changed": True}, {}), wanted, resident)  # a run without current columns
    assert any(x.count("Xã Bình An") == 2 for x in older)
