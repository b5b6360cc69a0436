"""`gan train`: parse options, build the config, wire the observers, run."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from gancli import config as config_mod
from gancli.data.source import load_images
from gancli.devices import resolve_device
from gancli.errors import UserError
from gancli.reporting.artifacts import ArtifactWriter
from gancli.reporting.jsonl import MetricsLog
from gancli.reporting.live import LiveDisplay
from gancli.sampling import latest_run
from gancli.training.lock import RunLock
from gancli.training.runner import plan_new_run, plan_resume, write_run_files
from gancli.training.signals import StopRequest, stop_on_signals
from gancli.training.trainer import Trainer

console = Console()


def _overrides(**values) -> dict:
    keys = {
        "data": "data.name", "epochs": "train.epochs", "iters": "train.iters", "batch_size": "train.batch_size",
        "device": "train.device", "seed": "train.seed", "sample_every": "train.sample_every",
        "checkpoint_every": "train.checkpoint_every", "log_every": "train.log_every", "amp": "train.amp",
        "compile": "train.compile", "sync_bn": "train.sync_bn", "score_every": "train.score_every", "root": "data.root",
        "channels_last": "train.channels_last",
    }
    out = {keys[k]: v for k, v in values.items() if k in keys and v is not None}
    if values.get("lr") is not None:
        out["train.lr_g"] = out["train.lr_d"] = values["lr"]
    if values.get("iters") is not None and values.get("epochs") is None:
        out["train.epochs"] = 0
    if values.get("epochs") is not None and values.get("iters") is None:
        out["train.iters"] = 0
    return out


def train_command(
    preset: Optional[str] = typer.Option(None, "--preset", "-p", help="Preset to start from (see `gan presets`). Default: flowers64, or the preset named in --config."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML file overriding the preset (any key of `gan presets NAME --json`'s config)."),
    data: Optional[str] = typer.Option(None, "--data", "-d", help="Dataset name (`gan download --list`, or built-in `shapes`) or a folder of images (recursive, class subfolders allowed)."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Total epochs of the run (with --resume: continue up to this total)."),
    iters: Optional[int] = typer.Option(None, "--iters", help="Total iterations of the run; takes precedence over epochs."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", "-b", help="Global mini-batch size (split across processes with --nproc/torchrun)."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Learning rate of both Adam optimisers."),
    device: Optional[str] = typer.Option(None, "--device", help="auto, cpu, cuda, cuda:N or mps."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed of weights, data order, flips, latents and dropout."),
    out: Optional[str] = typer.Option(None, "--out", "-o", help="Run folder. Default: runs/<preset>-<timestamp>."),
    resume: Optional[str] = typer.Option(None, "--resume", help="Continue a run folder (without a value: the latest run under runs/)."),
    sample_every: Optional[int] = typer.Option(None, "--sample-every", help="Iterations between sample grids of the fixed latents."),
    checkpoint_every: Optional[int] = typer.Option(None, "--checkpoint-every", help="Iterations between checkpoints."),
    log_every: Optional[int] = typer.Option(None, "--log-every", help="Iterations between metrics lines and display updates."),
    amp: Optional[bool] = typer.Option(None, "--amp/--no-amp", help="bf16 autocast (CUDA)."),
    compile: Optional[bool] = typer.Option(None, "--compile/--no-compile", help="torch.compile the generator and discriminator."),
    sync_bn: Optional[bool] = typer.Option(None, "--sync-bn/--no-sync-bn", help="SyncBatchNorm across processes (distributed runs)."),
    score_every: Optional[int] = typer.Option(None, "--score-every", help="Iterations between FID/IS measurements logged to metrics.jsonl (0: off; needs Inception weights)."),
    root: Optional[str] = typer.Option(None, "--root", help="Data root (default $GAN_HOME, else ~/.cache/gancli)."),
) -> None:
    """Train a GAN from a preset or a YAML config, with a live display, samples and checkpoints.

    Examples:

      gan train --preset quick

      gan train --preset flowers64 --data flowers --device cuda

      gan train --preset flowers64 --data ~/photos --iters 2000 --out runs/mine

      gan train --resume runs/mine --iters 4000

    Ctrl-C stops after the current step and writes a checkpoint; continue with --resume.
    """
    overrides = _overrides(
        data=data, epochs=epochs, iters=iters, batch_size=batch_size, lr=lr, device=device, seed=seed,
        sample_every=sample_every, checkpoint_every=checkpoint_every, log_every=log_every, amp=amp,
        compile=compile, sync_bn=sync_bn, score_every=score_every, root=root,
    )
    if resume:
        if preset or config:
            raise UserError("--resume continues a run with its saved config; --preset and --config cannot be combined with it.")
        run_dir = latest_run() if resume == "latest" else Path(resume)
        plan = plan_resume(run_dir, overrides)
    else:
        plan = plan_new_run(config_mod.resolve(preset, config, overrides), out)
    cfg = plan.cfg
    dev = resolve_device(cfg.train.device)

    with console.status(f"Preparing {cfg.data.name or 'data'} at {cfg.model.resolution}px..."):
        prepared = load_images(cfg.data.name, cfg.model.resolution, cfg.model.channels, cfg.data.resize, cfg.data.root or None, size=cfg.data.size)
    for note in prepared.warnings:
        console.print(f"[yellow]warning:[/] {note}")
    if prepared.skipped:
        listed = ", ".join(f"{f} ({why})" for f, why in prepared.skipped[:5])
        more = f" and {len(prepared.skipped) - 5} more" if len(prepared.skipped) > 5 else ""
        console.print(f"[yellow]{len(prepared.skipped)} files skipped:[/] {listed}{more}")
    n = prepared.images.shape[0]
    if n < cfg.train.batch_size:
        raise UserError(f"The dataset {cfg.data.name} has {n} usable images, fewer than one batch of {cfg.train.batch_size}. Use a smaller --batch-size or more images.")

    with RunLock(plan.run_dir):
        write_run_files(plan)
        metrics = MetricsLog(plan.run_dir / "metrics.jsonl")
        artifacts = ArtifactWriter(plan.run_dir, metrics)
        trainer = Trainer(cfg, prepared.images, dev, plan.run_dir, [metrics, artifacts])
        if plan.resume_payload is not None:
            trainer.load_state(plan.resume_payload)
            console.print(f"Resuming {plan.run_dir} from iteration {trainer.counters.iteration} ({plan.resume_from}).")
        live = LiveDisplay(console, trainer.total, trainer.batches.steps_per_epoch, trainer.counters.iteration, cfg.preset)
        trainer.observers.insert(0, live)
        console.print(
            f"[bold]{cfg.preset}[/] on {dev.type}: {n} images of {cfg.data.name} ({prepared.source}), "
            f"batch {cfg.train.batch_size}, {trainer.batches.steps_per_epoch} iterations/epoch, "
            f"{trainer.total} iterations in all -> {plan.run_dir}",
            highlight=False,
        )
        if trainer.counters.iteration >= trainer.total:
            console.print(f"{plan.run_dir} has already run {trainer.counters.iteration} of {trainer.total} iterations. Pass a larger --iters or --epochs to continue.")
            return
        with stop_on_signals(StopRequest()) as stop:
            outcome = trainer.fit(stop)
    if outcome.status == "diverged":
        raise UserError(outcome.message + (f" Last good checkpoint: {outcome.checkpoint}." if outcome.checkpoint else ""), exit_code=3)
    console.print(outcome.message)
    if outcome.status == "stopped":
        console.print(f"Checkpoint written. Continue with: [bold]gan train --resume {plan.run_dir}[/]", highlight=False)
    else:
        console.print(f"Samples in {plan.run_dir / 'samples'}, curves in {plan.run_dir / 'curves.png'}. Draw new images with: [bold]gan sample {plan.run_dir} -n 25 --out grid.png[/]", highlight=False)
    sys.stdout.flush()
