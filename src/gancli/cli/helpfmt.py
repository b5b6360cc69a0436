"""`--help` that reads at 80 columns.

Typer's rich help gives each option six columns (long name, short name, the negative flag, its
short form, a `<type>` and the help), which at 80 columns leaves the help 17 characters and cuts
long option names. This panel has two: the option as it is typed (`--checkpoint-every INT`,
`--amp / --no-amp`, `--json`: a flag shows no value, so nobody types `--json true`) and the help
with its default. It replaces typer's panel function and its {NAME} for a required argument on the
usage line; everything else of typer's help is kept.
"""

from __future__ import annotations

from typing import Any

from rich import box
from rich.panel import Panel
from rich.table import Table
from typer import rich_utils
from typer.core import TyperArgument

NAME_WIDTH = (
    32  # the names column at its widest ("--tensorboard / --no-tensorboard"); 80 columns leave the help 42
)


def _metavar(param: Any, ctx: Any) -> str:
    """The value's placeholder: the option's own metavar, else its type as typer names it
    (`<int>` -> INT, `<int range>` -> INT, its range being in the help)."""
    shown = param.display_type_rich(ctx) or "VALUE"
    if shown.startswith("<") and shown.endswith(">"):
        shown = shown[1:-1].replace(" range", "").upper()
    return shown


def option_label(param: Any, ctx: Any) -> str:
    """How an option or argument is typed: `--num, -n INT`, `--amp / --no-amp`, `--json`, `RUN`."""
    if isinstance(param, TyperArgument):
        return param.display_name_raw + ("..." if param.nargs != 1 else "")
    longs = [o for o in param.opts if o.startswith("--")] + [o for o in param.opts if not o.startswith("--")]
    label = ", ".join(longs)
    if param.secondary_opts:
        return label + " / " + ", ".join(param.secondary_opts)
    if param.is_flag or param.count:
        return label
    return f"{label} {_metavar(param, ctx)}"


def print_options_panel(
    *, name: str, params: list[Any], ctx: Any, markup_mode: Any, console: Any, **_: Any
) -> None:
    """Typer's options panel in two columns (see the module docstring)."""
    if not params:
        return
    table = Table(show_header=False, box=None, expand=True, padding=(0, 1), pad_edge=False)
    table.add_column("option", no_wrap=True, max_width=NAME_WIDTH, style="bold cyan", overflow="fold")
    table.add_column("help", ratio=1)
    for param in params:
        label = option_label(param, ctx) + (" *" if param.required else "")
        help_cell = rich_utils._get_parameter_help(param=param, ctx=ctx, markup_mode=markup_mode)
        table.add_row(label, help_cell)
    console.print(Panel(table, title=name, title_align="left", border_style="dim", box=box.ROUNDED))


def _usage_name(argument: TyperArgument) -> str:
    """An argument on the usage line as click writes it: NAME when required, [NAME] when not
    (typer writes {NAME}, which reads as a literal brace or a template)."""
    name = argument.display_name_raw if argument.required else f"[{argument.display_name_raw}]"
    return name + ("..." if argument.nargs != 1 else "")


def install() -> None:
    """Use print_options_panel for every command's options and arguments, and click's usage line."""
    rich_utils._print_options_panel = print_options_panel
    TyperArgument._usage_display_name = _usage_name
