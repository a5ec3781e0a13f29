"""The input contract (DESIGN.md): the canonical columns of each source, which are required,
which one is the record's id, and which ids must have 12 digits.

This is the binding interface between the files we receive and every later stage, so it lives in
code; how other headers map onto it is steward-editable (`rules/sources.yaml`)."""

from __future__ import annotations

SOURCES: tuple[str, ...] = ("wanted", "residents", "id_cards")

COLUMNS: dict[str, tuple[str, ...]] = {
    "wanted": (
        "wanted_id", "full_name", "other_names", "gender", "birth_date", "birth_place", "hometown",
        "permanent_address", "current_address", "ethnicity", "id_number", "father_name",
        "mother_name", "decision_number", "decision_date", "issuing_unit", "offence", "danger_level",
        "identifying_marks",
    ),
    "residents": (
        "person_id", "full_name", "other_names", "gender", "birth_date", "birth_place", "hometown",
        "permanent_address", "current_address", "ethnicity", "father_name", "mother_name",
        "status", "updated_at",
    ),
    "id_cards": (
        "card_number", "old_id_number", "full_name", "gender", "birth_date", "hometown",
        "permanent_address", "issue_date", "identifying_marks",
    ),
}

REQUIRED: dict[str, tuple[str, ...]] = {
    "wanted": ("wanted_id", "full_name"),
    "residents": ("person_id", "full_name"),
    "id_cards": ("card_number", "full_name"),
}

KEY: dict[str, str] = {"wanted": "wanted_id", "residents": "person_id", "id_cards": "card_number"}

# Ids that must be exactly 12 digits once spaces, dots and dashes are removed (stored stripped).
ID12: dict[str, tuple[str, ...]] = {"wanted": (), "residents": ("person_id",), "id_cards": ("card_number",)}

# Every id column and the digit counts it may hold: a value a spreadsheet turned into a number
# ("72205055449.0", "7.22050554E+10") is repaired or rejected by these (docs/ingest.md).
ID_WIDTHS: dict[str, dict[str, tuple[int, ...]]] = {
    "wanted": {"id_number": (12, 9)},
    "residents": {"person_id": (12,)},
    "id_cards": {"card_number": (12,), "old_id_number": (9,)},
}

ROW = "_row"  # 1-based data row number in the source file (header and blank lines not counted)


def check_source(source: str) -> None:
    """Raise ValueError for a source name outside the contract (a programming error, not input)."""
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; known: {', '.join(SOURCES)}")
