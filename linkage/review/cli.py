"""`linkage review ...`: the reviewer workbench's commands (serve, users add, export).

A Typer sub-app; the main CLI (cli.py) mounts it with `app.add_typer(review_app, name="review")`.
Like every command: arguments parsed here, one function called, a LinkageError printed as one
line with its exit code. Passwords are never arguments: read from the terminal (getpass) or,
when stdin is not a terminal, from its first line."""

from __future__ import annotations

import getpass
import logging
import sys
from pathlib import Path
from typing import Optional

import typer

from linkage.cli_support import RulesOpt, guard, threshold_value
from linkage.errors import UsageError
from linkage.matches_io import is_matches

review_app = typer.Typer(
    help="Reviewer workbench: the review web app, accounts and the export of decisions.",
    no_args_is_help=True, add_completion=False, rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
users_app = typer.Typer(help="Reviewer accounts.", no_args_is_help=True, add_completion=False, rich_markup_mode=None)
review_app.add_typer(users_app, name="users")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
STORE_NAME = "review.sqlite"

StoreOpt = typer.Option(..., "--store", help="Judgement store: SQLite file or postgresql:// URL.", metavar="STORE")


def default_store(run: Optional[Path], matches: Optional[Path]) -> str:
    """`review.sqlite` next to the matches (inside the run folder)."""
    base = run if run is not None else (matches.parent if matches is not None else Path("."))
    return str(Path(base) / STORE_NAME)


def _logging() -> None:
    """Ids and actions only: our access log (method, path, status) replaces uvicorn's, which
    would also write query strings."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@review_app.command()
def serve(
    run: Optional[Path] = typer.Option(None, "--run", help="A run folder (`linkage run --out`).", metavar="DIR"),
    matches: Optional[Path] = typer.Option(None, "--matches", help="matches.parquet (with --wanted ...).", metavar="FILE"),
    wanted: Optional[Path] = typer.Option(None, "--wanted", help="Wanted-persons file.", metavar="FILE"),
    residents: Optional[Path] = typer.Option(None, "--residents", help="Residents-register file.", metavar="FILE"),
    id_cards: Optional[Path] = typer.Option(None, "--id-cards", help="ID-card register file.", metavar="FILE"),
    store: Optional[str] = typer.Option(None, "--store", help="Judgement store: SQLite file or postgresql:// URL "
                                        "(default: review.sqlite next to the matches).", metavar="STORE"),
    host: str = typer.Option(DEFAULT_HOST, "--host", help="Address to listen on (default 127.0.0.1: this machine only)."),
    port: int = typer.Option(DEFAULT_PORT, "--port", help="Port to listen on."),
    threshold: Optional[float] = typer.Option(None, "--threshold", help="match_probability threshold of the queue "
                                              "(default: the rules')."),
    rules: Optional[Path] = RulesOpt,
) -> None:
    """Serve the review pages (queue, pair, decisions, history, settings) on this machine."""
    import uvicorn

    from linkage.review.app import create_app, load_config
    from linkage.review.store import Store

    with guard():
        if run is None and matches is None:
            raise UsageError("give --run DIR, or --matches FILE with --wanted (and --residents / --id-cards)")
        if run is not None and matches is not None:
            raise UsageError("give either --run or --matches, not both")
        if run is not None and not is_matches(run / "matches.parquet"):
            raise UsageError(f"--run {run}: not a run folder (no matches.parquet); give the --out of a `linkage run`")
        if matches is not None and not is_matches(matches):
            raise UsageError(f"--matches {matches}: file not found")
        t = threshold_value(threshold, rules)
        st = Store.open(store or default_store(run, matches), rules=rules)
        config = load_config(st, t, run=run, matches=matches, wanted=wanted, residents=residents,
                             id_cards=id_cards, rules=rules)
        if not st.users():
            typer.echo(f"warning: no accounts in {st.name}; add one with `linkage review users add NAME --store ...`",
                       err=True)
    _logging()
    typer.echo(f"review: http://{host}:{port}/ ({config.candidates.n} candidates, store {st.name})", err=True)
    uvicorn.run(create_app(config), host=host, port=port, access_log=False, log_config=None, server_header=False)


def read_password(prompt: str = "Password: ") -> str:
    if sys.stdin is not None and sys.stdin.isatty():
        first = getpass.getpass(prompt)
        if getpass.getpass("Again: ") != first:
            raise UsageError("the two passwords differ")
        return first
    line = sys.stdin.readline() if sys.stdin is not None else ""
    return line.rstrip("\r\n")


@users_app.command("add")
def users_add(
    name: str = typer.Argument(..., help="The user name (no spaces).", metavar="NAME"),
    role: str = typer.Option("reviewer", "--role", help="reviewer or supervisor.", metavar="reviewer|supervisor"),
    store: str = StoreOpt,
    rules: Optional[Path] = RulesOpt,
) -> None:
    """Add an account; the password is read from the terminal (or the first line of stdin)."""
    from linkage.review.store import Store

    with guard():
        if role not in ("reviewer", "supervisor"):
            raise UsageError(f"--role {role!r}: expected reviewer or supervisor")
        st = Store.open(store, rules=rules)
        try:
            password = read_password()
            user = st.add_user(name, password, role)
        finally:
            st.close()
    typer.echo(f"user {user.name} added ({user.role})")


@review_app.command()
def export(
    store: str = StoreOpt,
    out: Path = typer.Option(..., "--out", help="Output Parquet file.", metavar="FILE"),
    history: bool = typer.Option(False, "--history", help="Every state of every pair, not only the live decisions."),
    rules: Optional[Path] = RulesOpt,
) -> None:
    """Export the decisions (Splink's labels schema included) to Parquet."""
    from linkage.review.export import export_decisions
    from linkage.review.store import Store

    with guard():
        if out.is_dir():
            raise UsageError(f"--out {out}: is a folder; give a file such as {out / 'labels.parquet'}")
        st = Store.open(store, rules=rules)
        try:
            path = export_decisions(st, out, history=history)
        finally:
            st.close()
    import pyarrow.parquet as pq

    typer.echo(f"export: {path} ({pq.ParquetFile(path).metadata.num_rows} rows)")
