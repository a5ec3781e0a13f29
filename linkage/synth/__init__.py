"""Synthetic Vietnamese population: residents register, ID-card register, wanted list and truth.

`generate` is the only public entry point (the `linkage synth` command calls it). The same seed
gives byte-identical files. Rates live in `linkage/synth/rates.py`, tables in
`data_samples/generator/` and `rules/ref/`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkage.errors import InputError
from linkage.ingest.atomic import atomic_path
from linkage.synth import rates as R

__all__ = ["generate"]

FILES = ("residents", "id_cards", "wanted", "truth")
RELATIVES_FILE = "truth_relatives"
SLICE_ROWS = 200_000  # people rendered to register text at a time (bounds the generator's memory)


def _quote(col: pa.Array) -> pa.Array:
    """RFC 4180 minimal quoting: only fields holding a comma, quote or line break are quoted."""
    col = pc.fill_null(col.cast(pa.large_string()), "")
    needs = pc.match_substring_regex(col, '[",\r\n]')
    q, empty = pa.scalar('"', pa.large_string()), pa.scalar("", pa.large_string())
    quoted = pc.binary_join_element_wise(q, pc.replace_substring(col, '"', '""'), q, empty)
    return pc.if_else(needs, quoted, col)


def csv_lines(table: pa.Table, header: bool = True) -> tuple[bytes, pa.Buffer | None]:
    """The table as UTF-8 CSV text ("\n" line ends), built column-wise: the header line (b"" for
    a slice after the first) and the rows' text, a view of the Arrow buffer (not copied)."""
    head = ",".join(_quote(pa.array([c])).to_pylist()[0] for c in table.column_names) + "\n" if header else ""
    if table.num_rows == 0:
        return head.encode("utf-8"), None
    cols = [_quote(table[c].combine_chunks()) for c in table.column_names]
    lines = pc.binary_join_element_wise(*cols, pa.scalar(",", pa.large_string()))
    lines = pc.binary_join_element_wise(lines, pa.scalar("", pa.large_string()), pa.scalar("\n", pa.large_string()))
    lines = lines.combine_chunks() if isinstance(lines, pa.ChunkedArray) else lines
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)[lines.offset:lines.offset + len(lines) + 1]
    return head.encode("utf-8"), lines.buffers()[2].slice(int(offsets[0]), int(offsets[-1] - offsets[0]))


def _write_csv(parts: Iterable[pa.Table], path: Path) -> None:
    """UTF-8 CSV with a header, from one table or from slices rendered one at a time (only one
    slice's text is in memory), written under a temporary name then renamed into place."""
    with atomic_path(path) as tmp, tmp.open("wb") as f:
        for i, part in enumerate(parts):
            head, body = csv_lines(part, header=i == 0)
            f.write(head)
            if body is not None:
                f.write(body)


def _slices(rows: np.ndarray) -> list[np.ndarray]:
    """`rows` cut into consecutive slices of SLICE_ROWS (one empty slice when there are no rows,
    so the file still gets its header)."""
    size = SLICE_ROWS
    return [rows[i:i + size] for i in range(0, max(len(rows), 1), size)]


def rows_of(pid: np.ndarray, person_ids: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """The row in `pid` (int64 ids) of each 12-digit person_id text, -1 where empty or absent:
    a sorted search, not an index of every id as a Python string."""
    text = pc.fill_null(person_ids, "")
    given = pc.not_equal(text, "").to_numpy(zero_copy_only=False)
    vals = pc.cast(pc.if_else(given, text, "0"), pa.int64()).to_numpy(zero_copy_only=False)
    order = np.argsort(pid, kind="stable")
    pos = np.minimum(np.searchsorted(pid, vals, sorter=order), max(len(pid) - 1, 0))
    hit = given & (pid[order[pos]] == vals)
    return np.where(hit, order[pos], -1).astype(np.int64)


def _streams(seed: int, k: int) -> list[np.random.Generator]:
    """Independent random streams per stage, so the residents do not depend on the wanted count."""
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(k)]


def add_notice_marks(wanted: pa.Table, truth: pa.Table, res, res_marks, seed: int) -> pa.Table:
    """The wanted table with `identifying_marks` last: a present person's own marks (those their
    card prints) in the notice's words; an absent person's (a namesake's too) drawn for them."""
    from linkage.synth.marks import draw_marks, notice_texts
    from linkage.synth.marks import stream as marks_stream

    idx = rows_of(res.pid, truth.column("person_id"))
    n = len(idx)
    absent = np.flatnonzero(idx < 0)
    own = res_marks.take(np.maximum(idx, 0))
    if len(absent):
        drawn = draw_marks(len(absent), marks_stream(seed, 1))
        for f in own.__dataclass_fields__:
            getattr(own, f)[absent] = getattr(drawn, f)
    fresh = draw_marks(n, marks_stream(seed, 2))
    texts = notice_texts(own, marks_stream(seed, 3), fresh)
    return wanted.append_column("identifying_marks", pa.array(texts, type=pa.string()))


def generate(n_residents: int, n_wanted: int, seed: int, out_dir: Path, families: bool = False) -> dict[str, Path]:
    """Write residents.csv, id_cards.csv, wanted.csv and truth.csv into `out_dir`; return their paths.

    With `families`, some families' parents and some persons' children are register persons too
    (linkage/synth/kin.py, on a stream of its own: without it the files are unchanged), and
    truth_relatives.csv lists each wanted person's father, mother, siblings and children."""
    from linkage.synth.marks import card_texts, draw_marks
    from linkage.synth.marks import stream as marks_stream
    from linkage.synth.names import vocab_array
    from linkage.synth.perturb import build_drafts, perturb_and_render, subset
    from linkage.synth.places import load_places
    from linkage.synth.population import add_aliases, add_cards, add_register_rows, assign_ids, make_people
    from linkage.synth.registers import card_order, id_cards_table, residents_table
    from linkage.synth.tables import load_tables

    if n_residents < 1:
        raise InputError(f"--residents must be at least 1 (got {n_residents})")
    if n_wanted < 0:
        raise InputError(f"--wanted must not be negative (got {n_wanted})")
    n_present = n_wanted - int(round(n_wanted * R.ABSENT_SHARE))
    n_hard = int(round(int(round(n_wanted * R.ABSENT_SHARE)) * R.HARD_NEGATIVE_SHARE_OF_ABSENT))
    if n_present + n_hard > n_residents // 3:
        raise InputError(f"--wanted {n_wanted} is too large for {n_residents} residents "
                         f"(at most about a third of the residents can be wanted)")
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create output directory {out_dir}: {exc}") from None

    places = load_places()
    codes = tuple(places.prov_code)
    tables = load_tables(codes)
    vocab = vocab_array(tables)
    (s_res, s_pool, s_ids, s_pool_ids, s_alias, s_pool_alias, s_reg, s_pool_reg, s_cards, s_pool_cards,
     s_wanted, s_perturb, s_order, s_kin) = _streams(seed, 14)

    res = make_people(n_residents, tables, places, s_res)
    if families:
        from linkage.synth.kin import add_kin
        res, kin_father, kin_mother = add_kin(res, tables, places, s_kin)
    assign_ids(res, places, s_ids)
    add_aliases(res, tables, places, s_alias)
    add_register_rows(res, s_reg)
    add_cards(res, places, codes, s_cards)

    n_easy = int(round(n_wanted * R.ABSENT_SHARE)) - n_hard
    pool = make_people(max(R.ABSENT_POOL_FACTOR * n_easy, 20), tables, places, s_pool)  # people in neither register
    assign_ids(pool, places, s_pool_ids, taken=res.pid)
    add_aliases(pool, tables, places, s_pool_alias)
    add_register_rows(pool, s_pool_reg)
    add_cards(pool, places, codes, s_pool_cards, taken_cmnd=res.cmnd[res.cmnd >= 0])

    drafts = build_drafts(res, pool, n_wanted, tables, places, s_wanted)
    wanted, truth = perturb_and_render(drafts, res, tables, places, vocab, s_perturb)
    res_marks = draw_marks(res.n, marks_stream(seed, 0))
    wanted = add_notice_marks(wanted, truth, res, res_marks, seed)
    # the registers are rendered and written a slice of people at a time: their text is what
    # would not fit in memory at 10M people, the people's codes do
    parts = {
        "residents": (residents_table(subset(res, rows), tables, places, vocab)
                      for rows in _slices(s_order.permutation(res.n))),
        "id_cards": (id_cards_table(subset(res, rows), tables, places, vocab, card_texts(res_marks.take(rows)))
                     for rows in _slices(card_order(res))),
        "wanted": [wanted],
        "truth": [truth],
    }
    paths = {}
    for name in FILES:
        path = out_dir / f"{name}.csv"
        _write_csv(parts[name], path)
        paths[name] = path
    if families:
        from linkage.synth.ids import fmt
        from linkage.synth.kin import relatives_truth
        pid_text = np.array(fmt(res.pid, 12).to_pylist(), dtype=object)
        idx = rows_of(res.pid, truth.column("person_id"))
        rel = relatives_truth(np.array(truth.column("wanted_id").to_pylist(), dtype=object), idx, res,
                              pid_text, kin_father, kin_mother)
        path = out_dir / f"{RELATIVES_FILE}.csv"
        _write_csv([pa.Table.from_pandas(rel, preserve_index=False)], path)
        paths[RELATIVES_FILE] = path
    return paths
