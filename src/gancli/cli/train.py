"""`gan train`: parse options, render the session's progress and outcome.

The work (run folder, data, lock, resume, signals, the distributed launch) is in
gancli.training.session; this module turns flags into a TrainRequest and shows what the
session reports. Under torchrun every process runs this command; only rank 0 talks.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from gancli.cli.fmt import escape
from gancli.cli.progress import counting, dataset_label, preparing, show_data_notes
from gancli.config import Overrides

console = Console()


def train_command(
    invocation: typer.Context,
    preset: Annotated[
        str | None,
        typer.Option(
            "--preset",
            "-p",
            help="Preset to start from (see `gan presets`). Default: flowers64, or the preset named in --config.",
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="YAML file overriding the preset (any key of `gan presets NAME --json`'s config).",
        ),
    ] = None,
    data: Annotated[
        str | None,
        typer.Option(
            "--data",
            "-d",
            help="Dataset name (`gan download --list`, or built-in `shapes`) or a folder of images (recursive, class subfolders allowed).",
        ),
    ] = None,
    epochs: Annotated[
        int | None,
        typer.Option("--epochs", help="Total epochs of the run (with --resume: continue up to this total)."),
    ] = None,
    iters: Annotated[
        int | None, typer.Option("--iters", help="Total iterations of the run; takes precedence over epochs.")
    ] = None,
    resolution: Annotated[
        int | None,
        typer.Option(
            "--resolution",
            help="Image side to train at: 32, 64, 128 or 256 for fast64/fast256; for the DCGAN-class presets, the preset's size times a power of two (one up/down block per doubling). Your images are resized to it.",
        ),
    ] = None,
    time_budget: Annotated[
        str | None,
        typer.Option(
            "--time",
            help="Wall-clock budget of the run's training, e.g. 90s, 30m, 2h, 1h30m: it stops at the first step past it and ends finished, with its final checkpoint and pictures. A total over sessions like --iters (--resume with a larger value continues); alone it replaces the preset's length, with --iters/--epochs whichever comes first.",
        ),
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option(
            "--batch-size",
            "-b",
            help="Global mini-batch size: with --nproc/torchrun each of the N processes takes batch/N, so it must divide by N.",
        ),
    ] = None,
    lr: Annotated[
        float | None,
        typer.Option("--lr", help="Learning rate of both Adam optimisers (with --resume: used from now on)."),
    ] = None,
    device: Annotated[
        str | None,
        typer.Option(
            "--device",
            help="auto, cpu, cuda, cuda:N or mps (distributed: cuda gives process k of a machine cuda:k).",
        ),
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Seed of weights, data order, flips, latents and dropout.")
    ] = None,
    out: Annotated[
        str | None, typer.Option("--out", "-o", help="Run folder. Default: runs/<preset>-<timestamp>.")
    ] = None,
    resume: Annotated[
        str | None,
        typer.Option(
            "--resume",
            help="Continue a run folder or one of its checkpoints (without a value: the latest run under runs/). A checkpoint file outside a run folder starts a new run folder (--out) from its weights and counters.",
        ),
    ] = None,
    sample_every: Annotated[
        int | None,
        typer.Option("--sample-every", help="Iterations between sample grids of the fixed latents."),
    ] = None,
    checkpoint_every: Annotated[
        int | None, typer.Option("--checkpoint-every", help="Iterations between checkpoints.")
    ] = None,
    log_every: Annotated[
        int | None, typer.Option("--log-every", help="Iterations between metrics lines and display updates.")
    ] = None,
    amp: Annotated[
        bool | None,
        typer.Option(
            "--amp/--no-amp",
            help="bf16 autocast: faster on CUDA and on CPUs with AMX (1.75x per flowers64 epoch measured on one), at bf16 precision inside the convolutions. Off by default: the presets keep their fp32 numerics.",
        ),
    ] = None,
    compile: Annotated[
        bool | None,
        typer.Option("--compile/--no-compile", help="torch.compile the generator and discriminator."),
    ] = None,
    conditional: Annotated[
        bool | None,
        typer.Option(
            "--conditional/--no-conditional",
            help="Class-conditional training (model.conditional): labels from the data's class subfolders (or a labelled dataset: shapes, flowers, cifar10, mnist, fashion-mnist, flowers102); G's batch norms and a projection D take the class; `gan sample --class` picks one.",
        ),
    ] = None,
    sync_bn: Annotated[
        bool | None,
        typer.Option(
            "--sync-bn/--no-sync-bn",
            help="SyncBatchNorm across processes (distributed runs; default: per-process batch statistics).",
        ),
    ] = None,
    score_every: Annotated[
        int | None,
        typer.Option(
            "--score-every",
            help="Iterations between FID/IS measurements logged to metrics.jsonl (0: off; needs Inception weights).",
        ),
    ] = None,
    root: Annotated[
        str | None, typer.Option("--root", help="Data root (default $GAN_HOME, else ~/.cache/gancli).")
    ] = None,
    nproc: Annotated[
        int | None,
        typer.Option(
            "--nproc",
            min=1,
            help="Train with N processes on this machine (one per GPU, or N CPU processes), started through torch's launcher like `torchrun --nproc-per-node N`.",
        ),
    ] = None,
    adopt: Annotated[
        bool,
        typer.Option(
            "--adopt",
            help="With --resume: take over a run folder that holds a checkpoint but no .gan-run marker (an older gancli's run); gan marks it as its own.",
        ),
    ] = False,
    recipe: Annotated[
        str | None,
        typer.Option(
            "--recipe",
            help="faithful: train as the preset's reference system does (the default of the presets that "
            "reproduce one); improved: DiffAugment (translation, color) and an EMA generator on top of any "
            "preset, measured to give better pictures at equal steps (quick's default). `gan presets NAME "
            "--recipe improved` shows what it changes.",
        ),
    ] = None,
    tensorboard: Annotated[
        bool | None,
        typer.Option(
            "--tensorboard/--no-tensorboard",
            help='Also log curves and sample grids to RUN/tensorboard/ (log.tensorboard in YAML; pip install -e ".\\[tensorboard]").',
        ),
    ] = None,
    dist_timeout: Annotated[
        float | None,
        typer.Option(
            "--dist-timeout",
            help="Distributed runs: seconds a process waits for the others before the job ends with an error (a dead or stuck process). Default: 300.",
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Resolve the config and data as the run would, time a few training steps, and print the config, layers, data, device, iterations and projected time; writes nothing.",
        ),
    ] = False,
) -> None:
    """Train a GAN from a preset or a YAML config, with a live display, samples and checkpoints.

    Examples:

      gan train --preset quick

      gan train --preset quick --recipe improved --data ~/photos --time 20m   (20 minutes; best
      measured on a CPU)

      gan train --preset fast64 --data ~/photos --resolution 128 --time 1h

      gan train --preset flowers64 --data flowers --device cuda

      gan train --preset flowers64 --data ~/photos --iters 2000 --out runs/mine

      gan train --resume runs/mine --iters 4000

      gan train --preset flowers64 --data flowers --dry-run   (what it would run)

      gan train --preset faces256 --data ~/faces --nproc 4   (4 GPUs)

      torchrun --nproc-per-node 4 -m gancli train --preset faces256 --data ~/faces

    Options left out take the preset's values: `gan presets NAME` shows its iterations, batch size, learning rate and intervals.

    Ctrl-C (or SIGTERM) stops after the current step (with several processes: at the next --log-every iteration, all together) and writes a checkpoint; continue with --resume. Distributed runs: docs/distributed.md.

    Exit status: 0 finished (or nothing left to do), 2 bad input, 3 diverged (NaN/inf), 4 a distributed peer failed, 130 stopped by Ctrl-C (SIGINT), 143 stopped by SIGTERM.
    """
    overrides = Overrides(
        data=data,
        root=root,
        epochs=epochs,
        iters=iters,
        time=time_budget,
        resolution=resolution,
        batch_size=batch_size,
        lr=lr,
        device=device,
        seed=seed,
        sample_every=sample_every,
        checkpoint_every=checkpoint_every,
        log_every=log_every,
        amp=amp,
        compile=compile,
        sync_bn=sync_bn,
        score_every=score_every,
        tensorboard=tensorboard,
        conditional=conditional,
        recipe=recipe,
    )
    from gancli.training import session

    request = session.TrainRequest(
        preset=preset, config=config, overrides=overrides, out=out, resume=resume, dist_timeout_s=dist_timeout,
        adopt=adopt,
    )  # fmt: skip
    if dry_run:
        _show_dry_run(request, nproc or 1)
        return
    if nproc is not None and nproc > 1:
        from gancli.training import launcher

        debug = bool(invocation.find_root().params.get("debug"))
        try:
            launcher.launch(launcher.LaunchRequest(request, nproc, debug=debug))
        except launcher.WorkersExited as exc:  # each process printed its own message
            raise typer.Exit(exc.exit_code) from exc
        return
    result = session.train(request, _ConsoleUI(console))
    if result.message:  # only rank 0's result has one
        console.print(escape(result.message), highlight=False)
    sys.stdout.flush()
    if result.exit_code:
        raise typer.Exit(result.exit_code)


def _show_dry_run(request: Any, world: int) -> None:
    """Print what the run would be (`--dry-run`); nothing is written."""
    from gancli.cli.presets import layer_table
    from gancli.training.dryrun import dry_run

    with console.status("Timing a few training steps..."):
        report = dry_run(request, world=world)
    console.print(escape(report.yaml, lines=True), highlight=False, soft_wrap=True, end="")
    console.print(layer_table("Generator", report.generator))
    console.print(layer_table("Discriminator", report.discriminator))
    for line in _dry_run_lines(report):
        console.print(escape(line), highlight=False)


def _dry_run_lines(report: Any) -> list[str]:
    """The run folder, data, device, iterations, step time and projection of a dry run."""
    from gancli.cli.fmt import human_duration as took
    from gancli.units import format_duration

    data = report.data
    count = f"{data.images:,} images" if data.images is not None else "images"
    if data.download:
        found = f"{data.source} ({count}) is not downloaded yet; `{data.download}` fetches it"
    elif not data.ready:
        found = (
            f"{count} in {data.source}, not prepared at this size yet (the run decodes and caches them first)"
        )
    else:
        found = f"{count} of {data.source}"
    folder = f"{report.run_dir} ({'resumed in place' if report.in_place else 'not created'})"
    lines = [f"run folder: {folder}", f"data: {found}", f"device: {report.device}"]
    if report.time_budget and not report.iterations:
        lines.append(f"iterations: as many as fit in the time budget, batch {report.batch_size}")
    elif report.iterations is None:
        lines.append("iterations: epochs x images / batch, once the dataset's size is known")
    else:
        left = max(report.iterations - report.done, 0)
        resumed = f" ({report.done:,} done, {left:,} to go)" if report.done else ""
        lines.append(f"iterations: {report.iterations:,}{resumed}, batch {report.batch_size}")
    on = "random images of the data's shape" if report.random_images else "a slice of the data"
    lines.append(
        f"step time: {took(report.step_s)} (median of {report.steps_timed} steps after a warm-up, on {on})"
    )
    if report.steps_in_budget is not None:
        lines.append(
            f"time budget: {format_duration(report.time_budget)} of training"
            + (f" ({format_duration(report.elapsed_s)} spent)" if report.elapsed_s else "")
            + f": about {report.steps_in_budget:,} steps fit in {format_duration(max(report.time_budget - report.elapsed_s, 0))} at this step time"
        )
    if report.projected_s is not None and not report.projected_s:
        lines.append("projected: nothing left to do; pass a larger --iters, --epochs or --time to continue")
    elif report.projected_s is not None:
        steps = f"{left:,} x {took(report.step_s)} = " if report.iterations and not report.time_budget else ""
        lines.append(
            f"projected: {steps}{took(report.projected_s)} of training steps "
            "(samples, checkpoints and scoring add to it)"
        )
    lines.append("Dry run: nothing was written. Drop --dry-run to start the run.")
    return lines


class _ConsoleUI:
    """The session's reports on the terminal (a SessionUI)."""

    def __init__(self, out: Console) -> None:
        self.console = out

    def preparing(self, cfg: Any) -> AbstractContextManager[Callable[[int, int], None]]:
        return preparing(self.console, dataset_label(cfg.data.name, cfg.model.resolution))

    @contextmanager
    def busy(self, text: str) -> Iterator[None]:
        with self.console.status(escape(text)):
            yield

    def counting(self, label: str) -> AbstractContextManager[Callable[[int, int | None], None] | None]:
        return counting(self.console, label)

    def data_notes(self, warnings: list[str], skipped: list[tuple[str, str]]) -> None:
        show_data_notes(self.console, warnings, skipped)

    def info(self, text: str) -> None:
        self.console.print(escape(text), highlight=False)

    def training_started(self, trainer: Any) -> Any:
        from gancli.cli.live import LiveDisplay

        return LiveDisplay(
            self.console,
            trainer.total,
            trainer.batches.steps_per_epoch,
            trainer.counters.iteration,
            trainer.cfg.preset,
            time_budget=trainer.cfg.train.time,
        )
