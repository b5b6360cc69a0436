"""`gan presets`: the built-in presets and their layer tables."""

from __future__ import annotations

import json

import torch
import typer
from rich.console import Console
from rich.table import Table

from gancli import config as config_mod
from gancli.models.dcgan import build_discriminator, build_generator, count_params, layer_table

console = Console()


def preset_summary(name: str) -> dict:
    """Name, resolution, channels, parameter counts and source of a preset."""
    cfg = config_mod.load_preset(name)
    with torch.device("meta"):
        g, d = build_generator(cfg.model), build_discriminator(cfg.model)
    return {
        "name": name,
        "resolution": cfg.model.resolution,
        "channels": cfg.model.channels,
        "generator_params": count_params(g),
        "discriminator_params": count_params(d),
        "description": cfg.description,
        "source": cfg.source,
        "_nets": (g, d),
        "_cfg": cfg,
    }


def _public(summary: dict) -> dict:
    return {k: v for k, v in summary.items() if not k.startswith("_")}


def _layers(net) -> list[dict]:
    return [
        {"layer": r.index, "op": r.op, "output_shape": list(r.output_shape), "params": r.params}
        for r in layer_table(net)
    ]


def presets_command(
    name: str | None = typer.Argument(
        None, help="A preset to show in detail (layer tables and training settings)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
) -> None:
    """List the presets, or show one preset's layers and training settings.

    Examples:

      gan presets

      gan presets flowers64

      gan presets mnist32 --json
    """
    if name is None:
        summaries = [preset_summary(n) for n in config_mod.preset_names()]
        if as_json:
            print(json.dumps([_public(s) for s in summaries], indent=2))
            return
        table = Table(title="gan presets")
        for col in ("name", "resolution", "channels", "G params", "D params", "source"):
            table.add_column(
                col, justify="right" if "params" in col or col in ("resolution", "channels") else "left"
            )
        for s in summaries:
            table.add_row(
                s["name"],
                f"{s['resolution']}x{s['resolution']}",
                str(s["channels"]),
                f"{s['generator_params']:,}",
                f"{s['discriminator_params']:,}",
                s["source"],
            )
        console.print(table)
        console.print("Details: gan presets NAME. Train: gan train --preset NAME", style="dim")
        return
    s = preset_summary(name)
    g, d = s["_nets"]
    cfg = s["_cfg"]
    if as_json:
        print(
            json.dumps(
                {
                    **_public(s),
                    "generator": _layers(g),
                    "discriminator": _layers(d),
                    "config": config_mod.to_dict(cfg),
                },
                indent=2,
            )
        )
        return
    console.print(f"[bold]{name}[/]: {cfg.description}\nsource: {cfg.source}", highlight=False)
    for title, net in (("Generator", g), ("Discriminator", d)):
        table = Table(title=f"{title}: {count_params(net):,} parameters")
        for col in ("#", "layer", "output (C, H, W)", "params"):
            table.add_column(col, justify="right" if col in ("#", "params") else "left")
        for row in layer_table(net):
            table.add_row(str(row.index), row.op, "x".join(map(str, row.output_shape)), f"{row.params:,}")
        if title == "Discriminator":
            table.caption = "The final sigmoid is applied inside the losses (stable, same math)."
        console.print(table)
    t = cfg.train
    schedule = f"{t.iters} iterations" if t.iters else f"{t.epochs} epochs"
    console.print(
        f"training: {t.step} step, {schedule}, batch {t.batch_size}, Adam lr G {t.lr_g} D {t.lr_d}, "
        f"betas ({t.beta1}, {t.beta2}), label flip p={t.label_flip_prob}, D loss scale {t.d_loss_scale}, init {cfg.model.init}\n"
        f"data: {cfg.data.name or '(required: --data PATH)'}, {cfg.data.resize}, flips {'on' if cfg.data.flip else 'off'}; "
        f"samples every {t.sample_every}, checkpoints every {t.checkpoint_every}",
        highlight=False,
    )
