"""The `gan` application: registers the commands and turns UserError into a short message."""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.markup import escape

from gancli import __version__
from gancli.errors import UserError
from gancli.fsutil import write_error

app = typer.Typer(
    name="gan",
    help="Train GANs from a folder of images or a public dataset, draw samples, and score them.\n\n"
    "Start with: gan train --preset quick",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
err_console = Console(stderr=True)
state = {"debug": False}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"gan (gancli) {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    debug: bool = typer.Option(
        False, "--debug", help="Show full tracebacks instead of short error messages."
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """gan: DCGAN-class training, sampling and scoring from the command line."""
    state["debug"] = debug


def _register() -> None:
    # one module per command; each exposes a plain function with typer annotations
    from gancli.cli import data as data_cli
    from gancli.cli import presets as presets_cli
    from gancli.cli import sample as sample_cli
    from gancli.cli import train as train_cli

    app.command("train")(train_cli.train_command)
    app.command("sample")(sample_cli.sample_command)
    app.command("presets")(presets_cli.presets_command)
    app.add_typer(data_cli.data_app, name="data")
    # -- more commands are registered below --
    from gancli.cli.download import download_command

    app.command("download")(download_command)
    from gancli.cli.score import score_command

    app.command("score")(score_command)
    from gancli.cli.export import export_command
    from gancli.cli.runs_cli import runs_command

    app.command("export")(export_command)
    app.command("runs")(runs_command)


_register()


def _normalise_argv(argv: list[str]) -> list[str]:
    """`--resume` may be given without a value: it then means the latest run."""
    out = list(argv)
    for i, arg in enumerate(out):
        if arg == "--resume" and (i + 1 == len(out) or out[i + 1].startswith("-")):
            out.insert(i + 1, "latest")
            break
    return out


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    args = _normalise_argv(sys.argv[1:] if argv is None else argv)
    try:
        app(args=args, prog_name="gan", standalone_mode=True)
    except UserError as exc:
        if state["debug"]:
            raise
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except (
        OSError
    ) as exc:  # a file or folder the commands did not expect to fail (the rest name it themselves)
        error = write_error(exc.filename or "a file", exc) if exc.errno is not None else None
        if state["debug"] or error is None:
            raise
        err_console.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
        sys.exit(error.exit_code)
