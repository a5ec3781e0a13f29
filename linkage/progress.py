"""Progress on long work. On a terminal: one bar per pipeline stage (spinner and elapsed time,
with a count where the stage knows its size). In a log (stdout/stderr not a terminal): one plain
line per finished stage with its time and count, no redraws and no escape codes. Silent when
nobody is watching (the library default, and `--quiet`)."""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn


class Reporter:
    """Silent reporter: the library default, and the base for the console one."""

    def say(self, message: str) -> None:  # noqa: D401 - a message for the operator
        pass

    @contextmanager
    def stage(self, name: str, total: int | None = None) -> Iterator["Reporter"]:
        yield self

    def advance(self, n: int = 1) -> None:
        pass


class ConsoleReporter(Reporter):
    """Rich progress bars on stderr, one per stage, kept on screen when the stage ends."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.progress: Progress | None = None
        self._task = None

    def say(self, message: str) -> None:
        self.console.print(message, highlight=False, markup=False)

    @contextmanager
    def stage(self, name: str, total: int | None = None) -> Iterator["Reporter"]:
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description:<10}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
        )
        with self.progress:
            self._task = self.progress.add_task(name, total=total)
            try:
                yield self
            finally:
                done = self.progress.tasks[0].completed
                self.progress.update(self._task, total=done or 1, completed=done or 1)
                self._task = None
        self.progress = None

    def advance(self, n: int = 1) -> None:
        if self.progress is not None and self._task is not None:
            self.progress.advance(self._task, n)


class Renaming(Reporter):
    """Passes everything to `inner`, with a staging folder's path in messages shown as the folder
    the files will end up in (a run writes into a staging folder, see linkage.rundir)."""

    def __init__(self, inner: Reporter, old: str, new: str) -> None:
        self.inner, self.old, self.new = inner, old, new

    def say(self, message: str) -> None:
        self.inner.say(message.replace(self.old, self.new))

    def stage(self, name: str, total: int | None = None):
        return self.inner.stage(name, total)

    def advance(self, n: int = 1) -> None:
        self.inner.advance(n)


class LogReporter(Reporter):
    """One line per stage when it ends ("normalise  12.3 s  35,553 rows"): what a nightly job's
    log needs, with nothing that only makes sense on a live screen."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._done = 0

    def say(self, message: str) -> None:
        self.console.print(message, highlight=False, markup=False)

    @contextmanager
    def stage(self, name: str, total: int | None = None) -> Iterator["Reporter"]:
        self._done = 0
        t0 = time.perf_counter()
        yield self
        self.console.print(stage_line(name, time.perf_counter() - t0, self._done), highlight=False, markup=False)

    def advance(self, n: int = 1) -> None:
        self._done += n


def stage_line(name: str, seconds: float, count: int) -> str:
    """The log line of a finished stage; the count is left out when the stage counted nothing."""
    line = f"{name:<10} {seconds:7.1f} s"
    return f"{line}  {count:,}" if count else line


def reporter_for(console: Console, quiet: bool = False) -> Reporter:
    """Bars for a person at a terminal, lines for a log, nothing when asked to be quiet."""
    if quiet:
        return Reporter()
    return ConsoleReporter(console) if console.is_terminal else LogReporter(console)
