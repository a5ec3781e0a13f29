"""What every command line of the project shares (the main `linkage` app and its sub-apps such as
`linkage review`): consoles that never wrap a line at the terminal's width, one error line and an
exit code for what a user can act on, progress for a terminal or a log, `--quiet`/`--json`, the
checks of common arguments. One place, so every command behaves the same."""

from __future__ import annotations

import json
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from typer.core import TyperCommand

from linkage.errors import LinkageError, UsageError

SOURCES = ("wanted", "residents", "id_cards")


class Command(TyperCommand):
    """Usage lines in the usual form (`PATH`, not typer's `{path}`)."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return [p.strip("{}").upper() if p.startswith("{") else p for p in super().collect_usage_pieces(ctx)]


def console(stderr: bool) -> Console:
    """soft_wrap: lines are never broken at the terminal's width (a log is not a terminal);
    no highlighting; rich drops colour codes itself when the stream is not a terminal."""
    return Console(stderr=stderr, soft_wrap=True, highlight=False)


err = console(stderr=True)
out = console(stderr=False)

RulesOpt = typer.Option(None, "--rules", help="Rules directory (default: the project's rules/).", metavar="DIR")
QuietOpt = typer.Option(False, "--quiet", "-q", help="No progress and no summary; errors and warnings only.")
JsonOpt = typer.Option(False, "--json", help="Print a machine-readable summary (JSON) on stdout.")


def fail(message: str, code: int) -> None:
    err.print(f"error: {message}", markup=False)
    raise typer.Exit(code)


_interrupted = threading.Event()


def _on_sigint(signum: int, frame: Any) -> None:
    """Remember the Ctrl-C before raising it: DuckDB turns a KeyboardInterrupt raised during a
    query into its own error ("Query interrupted", or one our code wraps), which must still
    end the command as an interruption."""
    _interrupted.set()
    signal.default_int_handler(signum, frame)


@contextmanager
def guard() -> Iterator[None]:
    """One line and an exit code for what a user can act on; a traceback only for bugs."""
    _interrupted.clear()  # a command is not interrupted by a Ctrl-C another one had
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _on_sigint)
    try:
        yield
    except (typer.Exit, typer.Abort):
        raise
    except (KeyboardInterrupt, Exception) as exc:
        if isinstance(exc, KeyboardInterrupt) or _interrupted.is_set():
            fail("interrupted; outputs of this command were not written (earlier outputs are unchanged)", 130)
        if isinstance(exc, LinkageError):
            fail(str(exc), exc.exit_code)
        if isinstance(exc, OSError) and exc.filename is not None:
            fail(f"{exc.filename}: {exc.strerror or exc}", 2)
        raise


def reporter(quiet: bool = False):
    from linkage.progress import reporter_for

    return reporter_for(err, quiet)


def source_name(value: str) -> str:
    """`id-cards` and `id_cards` are the same source (the option is spelled `--id-cards`)."""
    name = value.strip().lower().replace("-", "_")
    if name not in SOURCES:
        raise typer.BadParameter(f"unknown source {value!r}: expected one of wanted, residents, id_cards (or id-cards)")
    return name


def emit(summary: dict[str, Any], text: str | None, quiet: bool, as_json: bool) -> None:
    """The command's result: JSON on stdout when asked, else the text unless quiet."""
    if as_json:
        sys.stdout.write(json.dumps(summary, ensure_ascii=False, default=str, indent=2) + "\n")
    elif not quiet and text:
        out.print(text, markup=False)


def out_dir(path: Path) -> Path:
    from linkage import paths

    return paths.out_dir(path)


def out_file(path: Path) -> Path:
    from linkage import paths

    return paths.out_file(path)


LangOpt = typer.Option("vi", "--lang", help="Language of the reports and of the explanations: vi (default) or en.", metavar="vi|en")


def lang_code(value: str) -> str:
    if value not in ("vi", "en"):
        raise UsageError(f"--lang {value!r}: expected vi or en")
    return value


def checked_threshold(value: Optional[float]) -> Optional[float]:
    """A --threshold given on the command line is a probability; None (not given) stays None,
    for commands whose default comes from their own rules file."""
    if value is not None and not 0.0 <= value <= 1.0:
        raise UsageError(f"--threshold {value}: a match probability threshold lies between 0 and 1")
    return value


def threshold_value(value: Optional[float], rules: Optional[Path]) -> float:
    """The --threshold given, else the rules' scoring threshold, checked."""
    from linkage.settings import load_settings

    return checked_threshold(value if value is not None else load_settings(rules).threshold)
