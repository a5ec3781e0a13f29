"""`linkage screen`: placeholder mount point (being built in this session)."""

import typer

screen_app = typer.Typer(help="Screen person records against the wanted list (at the desk).", rich_markup_mode=None,
                         no_args_is_help=True)
