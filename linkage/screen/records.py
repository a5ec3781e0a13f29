"""Person records sent to the desk: JSON objects with the residents or id_cards columns of the input
contract, checked as ingest checks a file (required fields, 12-digit ids, "" = no value) so the
record is normalised exactly as the nightly job would normalise it. A bad record is an InputError
naming its line (or place in the list) and the field."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Iterable

from linkage.errors import InputError
from linkage.ingest.contract import COLUMNS, ID12, KEY, REQUIRED

REGISTERS = ("residents", "id_cards")
_SEPARATORS = re.compile(r"[\s.\-\u00a0]+")
_TWELVE = re.compile(r"^[0-9]{12}$")
_DECODER = json.JSONDecoder(parse_int=str, parse_float=str, parse_constant=str)


class RecordError(InputError):
    """A record that cannot be screened: `where` (line or item), `field` and why."""

    def __init__(self, where: str, field: str | None, why: str) -> None:
        self.where, self.field, self.why = where, field, why
        super().__init__(f"{where}: {'field ' + repr(field) + ': ' if field else ''}{why}")


@dataclass
class Record:
    """One record to screen: its source, person id and contract values (None = no value)."""

    source: str
    person_id: str
    values: dict[str, str | None]
    where: str


def _text(value: Any, where: str, field: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise RecordError(where, field, "expected text, got true/false")
    if isinstance(value, (int, float)):
        value = str(value)
    if not isinstance(value, str):
        raise RecordError(where, field, f"expected text, got a JSON {type(value).__name__}")
    return value if value.strip() != "" else None


def _source(obj: dict, where: str) -> str:
    given = obj.get("source")
    if given is not None:
        name = str(given).replace("-", "_")
        if name not in REGISTERS:
            raise RecordError(where, "source", f"expected 'residents' or 'id_cards', got {given!r}")
        return name
    return "id_cards" if "card_number" in obj else "residents"


def check_record(obj: Any, where: str) -> Record:
    """A JSON value -> a Record, or RecordError naming the field."""
    if not isinstance(obj, dict):
        raise RecordError(where, None, f"expected a JSON object (a person record), got a JSON {type(obj).__name__}")
    source = _source(obj, where)
    allowed = set(COLUMNS[source]) | {"source"}
    for field in obj:
        if field not in allowed:
            raise RecordError(where, field, f"not a column of the {source} register (columns: "
                              f"{', '.join(COLUMNS[source])})")
    values = {c: _text(obj.get(c), where, c) for c in COLUMNS[source]}
    for col in ID12[source]:
        if values[col] is not None:
            values[col] = _SEPARATORS.sub("", values[col])
            if not _TWELVE.match(values[col]):
                raise RecordError(where, col, "expected a 12-digit personal id number")
    key = KEY[source]
    if values[key] is not None:
        values[key] = values[key].strip()
    for col in REQUIRED[source]:
        if values[col] is None:
            raise RecordError(where, col, "required, missing or empty")
    return Record(source, values[key], values, where)


def parse_lines(lines: Iterable[str], name: str = "stdin", start: int = 1) -> Iterable[Record]:
    """JSON Lines -> records, blank lines skipped; `name` and the line number name a bad one."""
    for number, line in enumerate(lines, start=start):
        if not line.strip():
            continue
        where = f"{name}: line {number}"
        try:
            obj = _DECODER.decode(line.strip())
        except json.JSONDecodeError as exc:
            raise RecordError(where, None, f"not valid JSON ({exc.msg}, column {exc.colno})") from None
        yield check_record(obj, where)
