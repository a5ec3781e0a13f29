"""What a check hands back: the rows of one field that break one rule, with an optional
suggestion (a corrected value, or a short hint) per row."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class Found:
    field: str
    positions: np.ndarray  # row positions in the accepted table
    suggestion: np.ndarray | None = None  # object, one per position (None = no suggestion)
    value: np.ndarray | None = None  # object; default: the field's raw value
    # Rows that never reached the accepted table (quarantine): given directly instead of positions.
    record_id: np.ndarray | None = None
    row: np.ndarray | None = None
    fields: np.ndarray | None = None  # per row, when the rows concern different fields


def found(field: str, mask: np.ndarray, suggest=None) -> Found | None:
    """A Found from a per-row mask, None if empty. `suggest` is a per-row array, or (cheaper) a
    function of the flagged positions that returns their suggestions."""
    positions = np.flatnonzero(np.asarray(mask, dtype=bool))
    if len(positions) == 0:
        return None
    sugg = None
    if callable(suggest):
        sugg = np.asarray(suggest(positions), dtype=object)
    elif suggest is not None:
        s = suggest.to_numpy(dtype=object) if isinstance(suggest, pd.Series) else np.asarray(suggest, dtype=object)
        sugg = s[positions]
    return Found(field, positions, sugg)


def at(field: str, positions: np.ndarray, suggestion: np.ndarray | None = None) -> Found | None:
    positions = np.asarray(positions, dtype=np.int64)
    if len(positions) == 0:
        return None
    return Found(field, positions, None if suggestion is None else np.asarray(suggestion, dtype=object))


def bool_array(s: pd.Series | np.ndarray) -> np.ndarray:
    """A nullable boolean column as plain bools (missing = False)."""
    if isinstance(s, pd.Series):
        return s.fillna(False).to_numpy(dtype=bool)
    return np.asarray(s, dtype=bool)


def obj(s: pd.Series) -> np.ndarray:
    """A column as an object array with None for missing."""
    return s.astype(object).where(s.notna(), None).to_numpy(dtype=object)


def fmt_int(values: np.ndarray) -> np.ndarray:
    return pd.Series(values).astype("Int64").astype(str).to_numpy(dtype=object)


def txt(values) -> np.ndarray:
    """Any column or array as a numpy unicode array ("" for missing), ready for + with strings."""
    s = pd.Series(values.to_numpy(dtype=object) if isinstance(values, pd.Series) else np.asarray(values, dtype=object),
                  dtype=object)
    return s.where(s.notna(), "").astype(str).to_numpy(dtype=str)


def const(text: str):
    """A suggestion that is the same text for every flagged row."""
    return lambda pos: np.full(len(pos), text, dtype=object)
