"""The worker processes that normalise a run's distinct values (linkage/normalize/distinct.py).

Normalisation is Python work, so threads would not run it in parallel: it goes to spawned
processes (forking a process that runs DuckDB's threads is unsafe). Two costs of a spawned worker
are avoidable, and both were on the normalise stage's critical path:
- spawn runs the parent's `__main__` again in each worker: for `linkage` that is the console
  script, hence `cli` and every command's modules (review, audit, screening: 0.25 s of CPU per
  worker, doubling its imports). The workers here start without it.
- a worker imported the normalisers and loaded their reference tables (the place index: 0.4 s)
  only when its first piece of values arrived, after the distinct-value queries. Here both workers
  start at once and load them while the run's process queries DuckDB.
"""

from __future__ import annotations

import sys
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from importlib.machinery import ModuleSpec
from multiprocessing import get_context
from pathlib import Path
from typing import Iterator


def warm(kinds: tuple[str, ...], rules: Path | None) -> None:
    """Import the normalisers and load the reference tables of these kinds (runs in a worker)."""
    import pyarrow as pa

    from linkage.normalize.distinct import normalise_values

    for kind in kinds:
        normalise_values(kind, pa.array([], pa.string()), rules)


@contextmanager
def _without_main() -> Iterator[None]:
    """While processes are spawned, `__main__` names itself: multiprocessing then sees nothing to
    run again in the child (`spawn._fixup_main_from_name` returns for "__main__"). What the workers
    are given to run must live in importable modules, as everything sent to them here does."""
    main = sys.modules["__main__"]
    spec = getattr(main, "__spec__", None)
    main.__spec__ = ModuleSpec("__main__", None)
    try:
        yield
    finally:
        main.__spec__ = spec


@contextmanager
def normaliser_pool(workers: int, kinds: tuple[str, ...], rules: Path | None) -> Iterator[ProcessPoolExecutor]:
    """`workers` spawned processes, started now and loading the kinds' reference tables."""
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"))
    with pool:
        with _without_main():  # ProcessPoolExecutor spawns a process per submit, up to max_workers
            for _ in range(workers):
                pool.submit(warm, kinds, rules)
        yield pool
