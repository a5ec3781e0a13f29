"""A screening service over one workspace: the current index and the screener, and the swap to a
new index when a night has finished. The new index is loaded aside (in a thread for the server)
while requests go on with the old one; the swap is one reference assignment, so a request
screens against one whole index, never half of two."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from linkage.screen.config import load_screen_config
from linkage.screen.engine import Screener
from linkage.screen.index import ScreenIndex, generation, load_index
from linkage.screen.records import Record
from linkage.settings import load_settings
from linkage.workspace import store


@dataclass
class Screening:
    workspace: Path
    screener: Screener
    index: ScreenIndex
    reloads: int = 0
    last_error: str = ""
    _loading: threading.Lock = field(default_factory=threading.Lock)
    _checked: float = 0.0

    def screen(self, records: list[Record], threshold: float | None = None) -> list[dict[str, Any]]:
        return self.screener.screen(self.index, records, threshold)

    def check(self, background: bool = True, on_swap: Callable[[ScreenIndex], None] | None = None) -> bool:
        """Between requests: when the workspace has a new generation (a finished night) and no
        load is under way, load it aside and swap it in; True when a load was started. Checked at
        most every reload_check_seconds."""
        now = time.monotonic()
        if now - self._checked < self.screener.config.reload_check_seconds:
            return False
        self._checked = now
        stamp = generation(self.workspace)
        if stamp is None or stamp == self.index.stamp or not self._loading.acquire(blocking=False):
            return False

        def load() -> None:
            try:
                with store.locked(self.workspace):  # a night waits (exit 5, the holder named) while this reads
                    fresh = load_index(self.workspace, self.screener.settings, locked=True)
                self.index = fresh  # the swap
                self.reloads += 1
                self.last_error = ""
                if on_swap:
                    on_swap(fresh)
            except Exception as exc:  # a night started meanwhile, say: keep the old index, retry later
                self.last_error = f"{type(exc).__name__}: {exc}"
            finally:
                self._loading.release()

        if background:
            threading.Thread(target=load, name="screen-reload", daemon=True).start()
        else:
            load()
        return True


def open_wanted_screening(wanted: Path, model: Path, rules: Path | None = None) -> Screening:
    """A screening of a wanted file with a model, without a workspace (never reloaded: its
    `workspace` is the wanted file, which holds no workspace database)."""
    from linkage.screen.wanted_index import load_wanted_index

    settings = load_settings(rules)
    config = load_screen_config(settings, rules)
    index = load_wanted_index(Path(wanted), Path(model), settings, config.register_persons, rules)
    return Screening(Path(wanted), Screener(settings, config, rules), index)


def open_screening(workspace: Path, rules: Path | None = None) -> Screening:
    settings = load_settings(rules)
    screener = Screener(settings, load_screen_config(settings, rules), rules)
    index = load_index(Path(workspace), settings, value_columns=screener.config.prewarm_columns)
    screener.warm(index.register_values)
    return Screening(Path(workspace), screener, index)
