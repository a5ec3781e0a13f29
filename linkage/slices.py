"""Work over an array's rows a slice at a time, in threads: numpy releases the GIL in its loops,
so two threads on two cores take about half the time, and no slice's temporaries (a pairs x
comparisons array of weights) are held for every row at once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable


def in_slices(n_rows: int, rows: int, threads: int, part: Callable[[int], None]) -> None:
    """`part(lo)` for each slice start lo (rows lo to lo + rows), in `threads` threads when there
    is more than one slice; `part` writes its slice of a shared output."""
    starts = range(0, n_rows, rows)
    if threads < 2 or n_rows <= rows:
        for lo in starts:
            part(lo)
    else:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(part, starts))
