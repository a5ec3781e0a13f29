"""Synthetic Vietnamese population: residents register, ID-card register, wanted list and truth.

`generate` is the only public entry point (the `linkage synth` command calls it). The same seed
gives byte-identical files. Rates live in `linkage/synth/rates.py`, tables in
`data_samples/generator/` and `rules/ref/`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkage.errors import InputError
from linkage.synth import rates as R

__all__ = ["generate"]

FILES = ("residents", "id_cards", "wanted", "truth")
RELATIVES_FILE = "truth_relatives"


def _quote(col: pa.Array) -> pa.Array:
    """RFC 4180 minimal quoting: only fields holding a comma, quote or line break are quoted."""
    col = pc.fill_null(col.cast(pa.large_string()), "")
    needs = pc.match_substring_regex(col, '[",\r\n]')
    q, empty = pa.scalar('"', pa.large_string()), pa.scalar("", pa.large_string())
    quoted = pc.binary_join_element_wise(q, pc.replace_substring(col, '"', '""'), q, empty)
    return pc.if_else(needs, quoted, col)


def csv_bytes(table: pa.Table) -> bytes:
    """The table as UTF-8 CSV text with a header line ("\n" line ends), built column-wise."""
    header = ",".join(_quote(pa.array([c])).to_pylist()[0] for c in table.column_names) + "\n"
    if table.num_rows == 0:
        return header.encode("utf-8")
    cols = [_quote(table[c].combine_chunks()) for c in table.column_names]
    lines = pc.binary_join_element_wise(*cols, pa.scalar(",", pa.large_string()))
    lines = pc.binary_join_element_wise(lines, pa.scalar("", pa.large_string()), pa.scalar("\n", pa.large_string()))
    lines = lines.combine_chunks() if isinstance(lines, pa.ChunkedArray) else lines
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)[lines.offset:lines.offset + len(lines) + 1]
    body = lines.buffers()[2].to_pybytes()[offsets[0]:offsets[-1]]
    return header.encode("utf-8") + body


def _write_csv(table: pa.Table, path: Path) -> None:
    """UTF-8 CSV with a header, written to a temporary file then renamed into place."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_bytes(csv_bytes(table))
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _streams(seed: int, k: int) -> list[np.random.Generator]:
    """Independent random streams per stage, so the residents do not depend on the wanted count."""
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(k)]


def add_notice_marks(wanted: pa.Table, truth: pa.Table, res, res_marks, seed: int) -> pa.Table:
    """The wanted table with `identifying_marks` last: a present person's own marks (those their
    card prints) in the notice's words; an absent person's (a namesake's too) drawn for them."""
    from linkage.synth.ids import fmt
    from linkage.synth.marks import draw_marks, notice_texts
    from linkage.synth.marks import stream as marks_stream

    import pandas as pd
    pid_text = pd.Index(fmt(res.pid, 12).to_pylist())
    t_pid = pd.Series(truth.column("person_id").to_pylist(), dtype=object).fillna("")
    idx = pid_text.get_indexer(t_pid).astype(np.int64)
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
    from linkage.synth.perturb import build_drafts, perturb_and_render
    from linkage.synth.places import load_places
    from linkage.synth.population import add_aliases, add_cards, add_register_rows, assign_ids, make_people
    from linkage.synth.registers import id_cards_table, residents_table
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
    tables_out = {
        "residents": residents_table(res, tables, places, vocab, s_order.permutation(res.n)),
        "id_cards": id_cards_table(res, tables, places, vocab, card_texts(res_marks)),
        "wanted": wanted,
        "truth": truth,
    }
    paths = {}
    for name in FILES:
        path = out_dir / f"{name}.csv"
        _write_csv(tables_out[name], path)
        paths[name] = path
    if families:
        from linkage.synth.ids import fmt
        from linkage.synth.kin import relatives_truth
        pid_text = np.array(fmt(res.pid, 12).to_pylist(), dtype=object)
        import pandas as pd
        t_pid = pd.Series(truth.column("person_id").to_pylist(), dtype=object).fillna("")
        idx = pd.Index(pid_text).get_indexer(t_pid).astype(np.int64)
        rel = relatives_truth(np.array(truth.column("wanted_id").to_pylist(), dtype=object), idx, res,
                              pid_text, kin_father, kin_mother)
        path = out_dir / f"{RELATIVES_FILE}.csv"
        _write_csv(pa.Table.from_pandas(rel, preserve_index=False), path)
        paths[RELATIVES_FILE] = path
    return paths
