"""A run folder always holds one whole run. A run writes into a fresh staging folder inside
`--out` and, only when every output is written, swaps its files in place of the previous run's;
an interrupted or killed run leaves the previous run untouched (its staging folder is removed at
once, or by the next run after a kill -9). Files in `--out` that no run writes are never touched."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

STAGING_PREFIX = ".run-partial-"
INCOMPLETE = "RUN_INCOMPLETE"  # present only while files are being swapped in
# What a run writes: replaced or removed together, so no file of an older run survives beside a new one.
RUN_FILES = ("matches.parquet", "manifest.json", "model.json", "report.html", "ingest_summary.json",
             "quarantine", "repairs", "workspace.duckdb", "workspace.duckdb.wal",
             "relatives.parquet", "identity_excluded.parquet", "relatives_summary.json")  # run --relatives


def clear_stale(out_dir: Path) -> list[Path]:
    """Remove staging folders left by killed runs; returns what was removed."""
    stale = sorted(p for p in out_dir.glob(f"{STAGING_PREFIX}*") if p.is_dir())
    for p in stale:
        shutil.rmtree(p, ignore_errors=True)
    return stale


@contextmanager
def staging(out_dir: Path) -> Iterator[Path]:
    """A fresh folder beside the outputs (same filesystem, so the swap is a rename); removed when
    the run fails or is interrupted, swapped in by `swap_in` when it succeeds."""
    out_dir.mkdir(parents=True, exist_ok=True)
    clear_stale(out_dir)
    stage = out_dir / f"{STAGING_PREFIX}{os.getpid()}"
    stage.mkdir()
    try:
        yield stage
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def swap_in(stage: Path, out_dir: Path, files: tuple[str, ...] = RUN_FILES) -> None:
    """Replace the previous run's files by the staged ones. A marker file says the folder is
    mixed while this runs (a few renames); the manifest moves last, so a manifest always
    describes the files beside it."""
    for name in files:
        if name.endswith(".json") and (stage / name).is_file():
            relocate(stage / name, str(stage), str(out_dir))
    marker = out_dir / INCOMPLETE
    marker.write_text("a run was being swapped into this folder; run it again\n", encoding="utf-8")
    order = sorted(files, key=lambda n: n == "manifest.json")
    for name in order:
        old, new = out_dir / name, stage / name
        if new.exists():
            if (old.is_dir() and not old.is_symlink()) or new.is_dir():  # a folder output (matches parts) over a file
                _remove(old)
            os.replace(new, old)
        else:
            _remove(old)
    marker.unlink()


def _moved(value: object, old: str, new: str) -> object:
    if isinstance(value, str):
        return new + value[len(old):] if value.startswith(old) else value
    if isinstance(value, list):
        return [_moved(v, old, new) for v in value]
    if isinstance(value, dict):
        return {k: _moved(v, old, new) for k, v in value.items()}
    return value


def relocate(path: Path, old: str, new: str) -> None:
    """Paths inside a staged JSON file named the staging folder; make them name the final one."""
    data = json.loads(path.read_text(encoding="utf-8"))
    moved = _moved(data, old, new)
    if moved != data:
        path.write_text(json.dumps(moved, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8")
