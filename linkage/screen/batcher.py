"""Micro-batching for the server: the records of requests that arrive while a screening call runs
are screened together in the next call. A call's cost is mostly fixed (normalisation's set-up,
planning the comparison and explanation SQL), so under concurrent load this multiplies the records
screened per CPU-second; each record is still screened on its own (a probe of its own), so the
answers are those of separate calls. One call at a time per batcher: the GIL would serialise
the Python parts of parallel calls anyway."""

from __future__ import annotations

import asyncio
from typing import Any, Callable

from starlette.concurrency import run_in_threadpool


class Batcher:
    def __init__(self, screen: Callable[[list], tuple[list[dict[str, Any]], Any]], max_records: int) -> None:
        """`screen(records) -> (results, tag)`: one result per record; the tag (the index used)
        goes back with each request's share."""
        self.screen = screen
        self.max_records = max_records
        self._queue: asyncio.Queue | None = None
        self._worker: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.calls = 0

    async def submit(self, records: list) -> tuple[list[dict[str, Any]], Any]:
        loop = asyncio.get_running_loop()
        if self._queue is None or self._loop is not loop:  # a queue and worker per event loop
            self._queue, self._loop, self._worker = asyncio.Queue(), loop, None
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._run())
        done: asyncio.Future = asyncio.get_running_loop().create_future()
        await self._queue.put((records, done))
        return await done

    async def _run(self) -> None:
        assert self._queue is not None
        while True:
            batch = [await self._queue.get()]
            size = len(batch[0][0])
            while not self._queue.empty() and size + len(self._queue._queue[0][0]) <= self.max_records:  # type: ignore[attr-defined]
                batch.append(self._queue.get_nowait())
                size += len(batch[-1][0])
            records = [r for recs, _ in batch for r in recs]
            try:
                results, tag = await run_in_threadpool(self.screen, records)
            except Exception as exc:  # every waiting request gets the error
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            self.calls += 1
            at = 0
            for recs, fut in batch:
                if not fut.done():
                    fut.set_result((results[at:at + len(recs)], tag))
                at += len(recs)
