"""Register normalisation in chunks and in worker processes gives the same run as one chunk in one
process: record numbering, candidates and scores do not depend on chunking or timing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow.parquet as pq

from linkage.model import default_model, save_model
from linkage.pipeline import run
from linkage.rules import rules_hash
from linkage.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data_samples" / "sample"


def rules_with(tmp: Path, name: str, chunk: int, parallel_min: int) -> Path:
    d = tmp / name
    shutil.copytree(ROOT / "rules", d)
    p = d / "matching.yaml"
    text = p.read_text(encoding="utf-8")
    text = text.replace("normalise_chunk_rows: 500000", f"normalise_chunk_rows: {chunk}")
    text = text.replace("parallel_min_rows: 200000", f"parallel_min_rows: {parallel_min}")
    p.write_text(text, encoding="utf-8")
    return d


def matches_of(tmp: Path, rules: Path):
    model = save_model(default_model(load_settings(rules), rules_hash(rules)), tmp / f"{rules.name}.json")
    res = run(SAMPLE / "wanted.csv", SAMPLE / "residents.csv", SAMPLE / "id_cards.csv", tmp / f"out_{rules.name}",
              rules=rules, model_path=model)
    return pq.read_table(res.matches).drop_columns(["run_id"])


def test_chunked_parallel_normalisation_gives_the_same_matches(tmp_path):
    whole = matches_of(tmp_path, rules_with(tmp_path, "whole", 500000, 10**9))
    chunked = matches_of(tmp_path, rules_with(tmp_path, "chunked", 4000, 1))  # 8 + 4 chunks, 2 processes
    assert whole.num_rows > 100
    assert chunked.equals(whole)
