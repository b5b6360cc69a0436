"""The `gan` application: registers the commands and turns UserError into a short message."""

from __future__ import annotations

import errno
import os
import sys
from typing import Annotated

import typer
from rich.console import Console

from gancli import __version__
from gancli.cli import helpfmt
from gancli.cli.fmt import escape
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
helpfmt.install()  # two-column option panels: readable at 80 columns
err_console = Console(stderr=True)
state = {"debug": False}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"gan (gancli) {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show full tracebacks instead of short error messages.")
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
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


# What to do about an OS error that no command expected, by errno (the message names the path)
_OS_ADVICE = {
    errno.ENAMETOOLONG: "a name in it is longer than the file system allows (255 bytes per name, "
    "4,096 per path): choose a shorter path",
    errno.ELOOP: "it goes through a symbolic link that leads back to itself (directly or through "
    "other links): fix or remove the link, or choose another path",
    errno.EMFILE: "too many files are open: raise the limit (`ulimit -n`) and run the command again",
    errno.EIO: "the device reported a read or write error: check the disk or network file system",
}


def os_error_message(exc: OSError) -> str:
    """One paragraph for an OSError that reached the top: the path, the errno's meaning, what to do."""
    error = (
        write_error(exc.filename, exc) if exc.filename is not None and exc.errno not in _OS_ADVICE else None
    )
    if error is not None:  # disk full, not writable, missing: the messages the commands use
        return str(error)
    path = f"{exc.filename}" if exc.filename is not None else "A file or folder"
    if exc.filename2 is not None:
        path += f" -> {exc.filename2}"
    name = errno.errorcode.get(exc.errno or 0, "")
    meaning = f"{exc.strerror or os.strerror(exc.errno or 0)}{f' ({name})' if name else ''}"
    advice = _OS_ADVICE.get(exc.errno, "check the path and the permissions, and run the command again")
    return f"{path}: {meaning}; {advice}."


def _unknown_home(args: list[str]) -> str | None:
    """The message for a `~user/...` argument naming a user this system does not have, if any
    (Path.expanduser raises a bare RuntimeError without the path)."""
    for arg in args:
        text = arg.split("=", 1)[1] if arg.startswith("--") and "=" in arg else arg
        if text.startswith("~") and os.path.expanduser(text) == text:
            user = text[1:].split("/", 1)[0]
            return f"{text}: there is no user '{user}' on this system, so ~{user} cannot be expanded. Give the path in full."
    return None


def _fail(message: str, exit_code: int = 2) -> None:
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    sys.exit(exit_code)


def main(argv: list[str] | None = None) -> None:
    """Console entry point. A process that was a rank of a process group (torchrun, --nproc)
    ends without the interpreter's teardown, where gloo can abort it (distributed.exit_rank)."""
    try:
        _main(argv)
    except SystemExit as exc:
        if argv is None and _rank_of_a_group():
            sys.modules["gancli.distributed"].exit_rank(_exit_code(exc))
        raise
    if argv is None and _rank_of_a_group():
        sys.modules["gancli.distributed"].exit_rank(0)


def _rank_of_a_group() -> bool:
    # read from sys.modules: importing gancli.distributed here would import torch for --help
    module = sys.modules.get("gancli.distributed")
    return module is not None and module.joined_a_group()


def _exit_code(exc: SystemExit) -> int:
    if exc.code is None or isinstance(exc.code, int):
        return exc.code or 0
    print(exc.code, file=sys.stderr)  # what sys.exit("text") would have printed
    return 1


def _main(argv: list[str] | None) -> None:
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
        if state["debug"]:
            raise
        _fail(os_error_message(exc))
    except RuntimeError as exc:
        message = _unknown_home(args) if "home directory" in str(exc) else None
        if state["debug"] or message is None:
            raise
        _fail(message)
