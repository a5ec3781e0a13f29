"""Small column helpers for the audit: distinct values of a column, the fold used to compare
vocabulary words, and positions <-> flags. Every check works on distinct values and maps back."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from linkage.normalize.fields import fold_text


def fold_words(words: list[str]) -> list[str]:
    """The fold the date and ID readers use (no marks, lower case, single spaces)."""
    if not words:
        return []
    return fold_text(pd.Series(words, dtype=object)).tolist()


@dataclass(frozen=True)
class Distinct:
    """A column as (codes, distinct values): codes[i] = -1 for a missing value."""

    codes: np.ndarray  # int64, one per row
    values: np.ndarray  # object, the distinct non-null values

    def rows(self, flags: np.ndarray) -> np.ndarray:
        """Row positions whose distinct value is flagged."""
        if len(self.values) == 0 or not flags.any():
            return np.array([], dtype=np.int64)
        per_row = np.append(np.asarray(flags, dtype=bool), False)[self.codes]
        return np.flatnonzero(per_row)

    def take(self, per_value: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """Per-distinct values (object) at the given row positions."""
        return np.append(np.asarray(per_value, dtype=object), None)[self.codes[positions]]

    @property
    def present(self) -> np.ndarray:
        return self.codes >= 0


def distinct(column: pa.ChunkedArray | pa.Array, blank_is_missing: bool = True) -> Distinct:
    """Distinct values of a text column; empty (and unless told otherwise, blank) strings count
    as missing."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if not pa.types.is_string(arr.type) and not pa.types.is_large_string(arr.type):
        arr = pc.cast(arr, pa.string())
    enc = arr.dictionary_encode()
    values = np.asarray(enc.dictionary.to_numpy(zero_copy_only=False), dtype=object)
    codes = enc.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    if len(values):
        probe = pc.utf8_trim_whitespace(enc.dictionary) if blank_is_missing else enc.dictionary
        blank = np.asarray(pc.equal(probe, "").to_numpy(zero_copy_only=False),
                           dtype=bool)
        if blank.any():
            remap = np.where(blank, -1, np.cumsum(~blank) - 1)
            codes = np.where(codes >= 0, np.append(remap, -1)[codes], -1)
            values = values[~blank]
    return Distinct(codes, values)


def token_any(values: np.ndarray, predicate) -> np.ndarray:
    """For each value, whether any of its whitespace-separated tokens satisfies `predicate`
    (called once on the array of distinct tokens, returning a bool array)."""
    out = np.zeros(len(values), dtype=bool)
    if len(values) == 0:
        return out
    lists = pc.utf8_split_whitespace(pa.array(values, pa.string()))
    flat = pc.list_flatten(lists)
    if len(flat) == 0:
        return out
    parent = pc.list_parent_indices(lists).to_numpy()
    enc = flat.dictionary_encode()
    tokens = np.asarray(enc.dictionary.to_numpy(zero_copy_only=False), dtype=object)
    hit = np.asarray(predicate(tokens), dtype=bool)
    per_token = hit[enc.indices.to_numpy()]
    out[parent[per_token]] = True
    return out


def regex_flags(values: np.ndarray, pattern: str) -> np.ndarray:
    """RE2 search over an object array of strings (Arrow, vectorised)."""
    if len(values) == 0:
        return np.zeros(0, dtype=bool)
    hit = pc.match_substring_regex(pa.array(values, pa.string()), pattern)
    return np.asarray(hit.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)
