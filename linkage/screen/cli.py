"""`linkage screen`: screen person records against a workspace's wanted list (JSON Lines in, one
JSON line out per record), `linkage screen serve` (the HTTP API) and `linkage screen keys add`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Iterator, Optional

import typer
from typer.core import TyperGroup

from linkage.cli_support import RulesOpt, checked_threshold, err, guard
from linkage.errors import UsageError


class ScreenGroup(TyperGroup):
    """`linkage screen [FILE]` screens; `linkage screen serve|keys ...` runs a sub-command: a first
    word naming a sub-command is not taken for the FILE argument."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] in self.commands:
            saved = self.params
            self.params = [p for p in saved if getattr(p, "param_type_name", "") != "argument"]
            try:
                rest = super().parse_args(ctx, args)
            finally:
                self.params = saved
            ctx.params.setdefault("file", None)
            return rest
        ctx.allow_interspersed_args = True  # a screening call: options may follow FILE
        return super().parse_args(ctx, args)


screen_app = typer.Typer(cls=ScreenGroup, help="Screen person records against the wanted list (at the desk).",
                         rich_markup_mode=None, no_args_is_help=True, invoke_without_command=True)
keys_app = typer.Typer(help="API keys of the clients of `linkage screen serve`.", rich_markup_mode=None,
                       no_args_is_help=True)
screen_app.add_typer(keys_app, name="keys")


@keys_app.callback()
def keys() -> None:
    """API keys of the clients of `linkage screen serve` (stored hashed in the workspace)."""

WorkspaceOpt = typer.Option(None, "--workspace", help="Workspace folder built by `linkage nightly`.", metavar="DIR")


def _lines(file: Optional[str]) -> tuple[Iterator[str], str]:
    if file is None or file == "-":
        return iter(sys.stdin), "stdin"
    path = Path(file)
    if not path.is_file():
        raise UsageError(f"{path}: no such file (give a JSON Lines file of person records, or - for stdin)")
    return iter(path.read_text(encoding="utf-8-sig").splitlines()), str(path)


def _open(workspace: Optional[Path], wanted: Optional[Path], model: Optional[Path], rules: Optional[Path]):
    """The screening the options name: a workspace, or a wanted file and a model (not both)."""
    from linkage.screen.service import open_screening, open_wanted_screening

    if workspace is not None and (wanted is not None or model is not None):
        raise UsageError("give either --workspace DIR or --wanted FILE --model FILE, not both")
    if workspace is not None:
        return open_screening(workspace, rules)
    if wanted is None and model is None:
        raise UsageError("--workspace DIR (the workspace built by `linkage nightly`), or --wanted FILE --model FILE")
    if wanted is None or model is None:
        raise UsageError(f"{'--model' if model is None else '--wanted'} is needed with "
                         f"{'--wanted' if model is None else '--model'} (or give --workspace DIR)")
    if not Path(wanted).is_file():
        raise UsageError(f"--wanted {wanted}: no such file")
    return open_wanted_screening(wanted, model, rules)


@screen_app.callback()
def screen(
    ctx: typer.Context,
    workspace: Optional[Path] = WorkspaceOpt,
    wanted: Optional[Path] = typer.Option(None, "--wanted", help="Without a workspace: the wanted list (CSV, "
                                          "Parquet or JSON Lines), with --model.", metavar="FILE"),
    model: Optional[Path] = typer.Option(None, "--model", help="Without a workspace: the model file to score "
                                         "with (`linkage train`), with --wanted.", metavar="FILE"),
    file: Optional[str] = typer.Argument(None, help="JSON Lines of residents or id_cards records; - or none: stdin.",
                                         metavar="FILE|-"),
    threshold: Optional[float] = typer.Option(None, "--threshold", help="Return candidates at or above this "
                                              "match probability (default: rules/screen.yaml, else scoring.threshold).",
                                              metavar="P"),
    rules: Optional[Path] = RulesOpt,
) -> None:
    """Screen person records (JSON Lines: the residents or id_cards columns) against the workspace's
    wanted list (or, without a workspace, a wanted file scored with a model: the wanted list's own
    name shares and rules/screen.yaml's register_persons stand in for the register); prints one
    JSON line per record: its person_id and its candidates (wanted_id, match_probability, mw_
    columns, flags, explanation, alert). Exit code 0 also when nobody matches."""
    if ctx.invoked_subcommand is not None:
        return
    with guard():
        from linkage.screen.records import parse_lines

        checked_threshold(threshold)
        lines, name = _lines(file)
        records = list(parse_lines(lines, name))  # every record checked before any is screened
        screening = _open(workspace, wanted, model, rules)
        size = screening.screener.config.cli_chunk_records
        for lo in range(0, len(records), size):
            for result in screening.screen(records[lo:lo + size], threshold):
                sys.stdout.write(json.dumps(result, ensure_ascii=False, default=_json) + "\n")
        sys.stdout.flush()


def _json(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    return str(value)


@screen_app.command("serve")
def serve(
    workspace: Path = typer.Option(..., "--workspace", help="Workspace folder built by `linkage nightly`.", metavar="DIR"),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (default: this machine only)."),
    port: int = typer.Option(8765, "--port", help="Port to listen on."),
    rules: Optional[Path] = RulesOpt,
) -> None:
    """The HTTP JSON API: POST /screen (one record or a list), GET /healthz. Every client needs an
    API key (`linkage screen keys add NAME`); every answer is written to the audit log."""
    with guard():
        import uvicorn

        from linkage.screen.api import create_app

        app = create_app(workspace, rules)
        err.print(f"screening on http://{host}:{port} (workspace {workspace}); audit log {app.state.audit.path}",
                  markup=False)
        uvicorn.run(app, host=host, port=port, access_log=False, log_level="warning")


@keys_app.command("add")
def keys_add(
    name: str = typer.Argument(..., help="The client's name (a desk, an office), as the audit log shows it."),
    workspace: Path = typer.Option(..., "--workspace", help="Workspace folder the server screens against.",
                                   metavar="DIR"),
) -> None:
    """Create an API key for a client and print it once (only its hash is stored)."""
    with guard():
        from linkage.screen.keys import add_key

        key = add_key(workspace, name)
        sys.stdout.write(key + "\n")
        err.print(f"key for '{name}' created; it is shown only now (stored hashed in "
                  f"{workspace}/screen/keys.json)", markup=False)
