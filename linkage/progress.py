"""Progress on long work: one bar per pipeline stage (spinner and elapsed time, with a count
where the stage knows its size), and plain messages; silent when nobody is watching."""

from __future__ import annotations

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
        self.console.print(message, highlight=False)

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
