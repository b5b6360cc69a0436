"""`gan presets`: the built-in presets and their layer tables (no torch: the tables are arithmetic)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from gancli import config as config_mod
from gancli.cli.fmt import Col, fit_table
from gancli.layer_math import LayerRow, discriminator_rows, generator_rows, param_count
from gancli.units import format_duration

console = Console()


def preset_summary(name: str, recipe: str | None = None) -> dict:
    """Name, resolution, channels, parameter counts and source of a preset (under `recipe`;
    None: the preset's own)."""
    cfg = config_mod.resolve(name, None, {"recipe": recipe})
    g, d = generator_rows(cfg.model), discriminator_rows(cfg.model)
    return {
        "name": name,
        "resolution": cfg.model.resolution,
        "channels": cfg.model.channels,
        "generator_params": param_count(g),
        "discriminator_params": param_count(d),
        "description": cfg.description,
        "source": cfg.source,
        "recipe": cfg.recipe,
        "recipe_changes": [
            {"key": k, "preset": a, "recipe": b} for k, a, b in config_mod.recipe_changes(name, "improved")
        ],
        "_rows": (g, d),
        "_cfg": cfg,
    }


def _public(summary: dict) -> dict:
    return {k: v for k, v in summary.items() if not k.startswith("_")}


def _layers(rows: list[LayerRow]) -> list[dict]:
    return [
        {"layer": r.index, "op": r.op, "output_shape": list(r.output_shape), "params": r.params} for r in rows
    ]


def _list_presets(as_json: bool) -> None:
    summaries = [preset_summary(n) for n in config_mod.preset_names()]
    if as_json:
        print(json.dumps([_public(s) for s in summaries], indent=2))
        return
    cols = [
        Col("name"),
        Col("size", "right"),
        Col("G params", "right"),
        Col("D params", "right"),
        Col("source", wrap=True, drop=1),
    ]
    rows = [
        [
            s["name"],
            f"{s['resolution']}x{s['resolution']}x{s['channels']}",
            f"{s['generator_params']:,}",
            f"{s['discriminator_params']:,}",
            s["source"],
        ]
        for s in summaries
    ]
    console.print(fit_table("gan presets", cols, rows, console.width))
    console.print("Details: gan presets NAME. Train: gan train --preset NAME", style="dim")


def layer_table(title: str, rows: list[LayerRow]) -> Table:
    """A layer table titled with its parameter count, fitted to the terminal."""
    cols = [Col("#", "right"), Col("layer"), Col("output (C, H, W)"), Col("params", "right")]
    cells = [[str(r.index), r.op, "x".join(map(str, r.output_shape)), f"{r.params:,}"] for r in rows]
    return fit_table(f"{title}: {param_count(rows):,} parameters", cols, cells, console.width)


def _show_preset(name: str, as_json: bool, recipe: str | None = None) -> None:
    s = preset_summary(name, recipe)
    g, d = s["_rows"]
    cfg = s["_cfg"]
    if as_json:
        detail = {**_public(s), "generator": _layers(g), "discriminator": _layers(d)}
        print(json.dumps({**detail, "config": config_mod.to_dict(cfg)}, indent=2))
        return
    console.print(f"[bold]{name}[/]: {cfg.description}\nsource: {cfg.source}", highlight=False)
    console.print(layer_table("Generator", g))
    table = layer_table("Discriminator", d)
    table.caption = "The final sigmoid is applied inside the losses (stable, same math)."
    console.print(table)
    t = cfg.train
    schedule = f"{t.iters} iterations" if t.iters else f"{t.epochs} epochs" if t.epochs else ""
    if t.time:
        budget = f"{format_duration(t.time)} of training"
        schedule = f"{schedule} or {budget}, whichever comes first" if schedule else budget
    arch = "" if cfg.model.arch == "dcgan" else f"arch {cfg.model.arch}, {t.loss} loss, "
    console.print(
        f"training: {arch}{t.step} step, {schedule}, batch {t.batch_size}, Adam lr G {t.lr_g} D {t.lr_d}, "
        f"betas ({t.beta1}, {t.beta2}), label flip p={t.label_flip_prob}, D loss scale {t.d_loss_scale}, init {cfg.model.init}\n"
        f"data: {cfg.data.name or '(required: --data PATH)'}, {cfg.data.resize}, flips {'on' if cfg.data.flip else 'off'}; "
        f"samples every {t.sample_every}, checkpoints every {t.checkpoint_every}",
        highlight=False,
    )
    shown = lambda v: "(none)" if v == "" else v  # noqa: E731 - an empty augment policy
    changes = ", ".join(
        f"{c['key']} {shown(c['preset'])} -> {shown(c['recipe'])}" for c in s["recipe_changes"]
    )
    if s["recipe"] == "faithful":
        console.print(f"--recipe improved changes: {changes}", style="dim", highlight=False)
    else:
        console.print(
            f"recipe {s['recipe']} (--recipe faithful to train without): {changes}", highlight=False
        )


def presets_command(
    name: Annotated[
        str | None,
        typer.Argument(
            metavar="NAME", help="A preset to show in detail (layer tables and training settings)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    recipe: Annotated[
        str | None,
        typer.Option(
            "--recipe",
            help="Show the preset under this recipe: faithful or improved (default: the preset's own; "
            "quick uses improved, the presets that reproduce a reference system faithful).",
        ),
    ] = None,
) -> None:
    """List the presets, or show one preset's layers and training settings.

    Examples:

      gan presets

      gan presets flowers64

      gan presets mnist32 --json

      gan presets quick --recipe improved
    """
    if name is None:
        _list_presets(as_json)
    else:
        _show_preset(name, as_json, recipe)
