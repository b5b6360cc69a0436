"""`gan train`: parse options, build the config, wire the observers, run.

The same command is a torchrun worker: under torchrun (RANK/WORLD_SIZE set) every process
runs it, joins the process group, and only rank 0 touches the run folder (lock, config,
metrics, samples, checkpoints) and the terminal; the others print errors only. `--nproc N`
starts N such workers on this machine through torch's own launcher (torch.distributed.run).
See docs/distributed.md.
"""

from __future__ import annotations

import os
import sys
from contextlib import ExitStack
from pathlib import Path

import torch
import typer
from rich.console import Console
from rich.markup import escape

from gancli import config as config_mod
from gancli.cli.progress import dataset_label, preparing
from gancli.data.source import load_images
from gancli.devices import cpu_has_fast_bf16, resolve_device
from gancli.distributed import DEFAULT_TIMEOUT_S, DistContext, is_comm_failure
from gancli.errors import UserError
from gancli.reporting.artifacts import ArtifactWriter
from gancli.reporting.jsonl import MetricsLog
from gancli.reporting.live import LiveDisplay
from gancli.runlist import TENSORBOARD, RunState
from gancli.sampling import latest_run
from gancli.training.lock import RunLock
from gancli.training.runner import RunPlan, plan_new_run, plan_resume, write_run_files
from gancli.training.signals import StopRequest, stop_on_signals
from gancli.training.trainer import Trainer, check_global_batch

console = Console()


def _overrides(**values) -> dict:
    keys = {
        "data": "data.name",
        "epochs": "train.epochs",
        "iters": "train.iters",
        "batch_size": "train.batch_size",
        "device": "train.device",
        "seed": "train.seed",
        "sample_every": "train.sample_every",
        "checkpoint_every": "train.checkpoint_every",
        "log_every": "train.log_every",
        "amp": "train.amp",
        "compile": "train.compile",
        "sync_bn": "train.sync_bn",
        "score_every": "train.score_every",
        "root": "data.root",
        "channels_last": "train.channels_last",
        "tensorboard": "log.tensorboard",
        "recipe": "recipe",
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
    invocation: typer.Context,
    preset: str | None = typer.Option(
        None,
        "--preset",
        "-p",
        help="Preset to start from (see `gan presets`). Default: flowers64, or the preset named in --config.",
    ),
    config: Path | None = typer.Option(
        None,
        "--config",
        "-c",
        help="YAML file overriding the preset (any key of `gan presets NAME --json`'s config).",
    ),
    data: str | None = typer.Option(
        None,
        "--data",
        "-d",
        help="Dataset name (`gan download --list`, or built-in `shapes`) or a folder of images (recursive, class subfolders allowed).",
    ),
    epochs: int | None = typer.Option(
        None, "--epochs", help="Total epochs of the run (with --resume: continue up to this total)."
    ),
    iters: int | None = typer.Option(
        None, "--iters", help="Total iterations of the run; takes precedence over epochs."
    ),
    batch_size: int | None = typer.Option(
        None,
        "--batch-size",
        "-b",
        help="Global mini-batch size: with --nproc/torchrun each of the N processes takes batch/N, so it must divide by N.",
    ),
    lr: float | None = typer.Option(None, "--lr", help="Learning rate of both Adam optimisers."),
    device: str | None = typer.Option(
        None,
        "--device",
        help="auto, cpu, cuda, cuda:N or mps (distributed: cuda gives process k of a machine cuda:k).",
    ),
    seed: int | None = typer.Option(
        None, "--seed", help="Seed of weights, data order, flips, latents and dropout."
    ),
    out: str | None = typer.Option(
        None, "--out", "-o", help="Run folder. Default: runs/<preset>-<timestamp>."
    ),
    resume: str | None = typer.Option(
        None, "--resume", help="Continue a run folder (without a value: the latest run under runs/)."
    ),
    sample_every: int | None = typer.Option(
        None, "--sample-every", help="Iterations between sample grids of the fixed latents."
    ),
    checkpoint_every: int | None = typer.Option(
        None, "--checkpoint-every", help="Iterations between checkpoints."
    ),
    log_every: int | None = typer.Option(
        None, "--log-every", help="Iterations between metrics lines and display updates."
    ),
    amp: bool | None = typer.Option(
        None,
        "--amp/--no-amp",
        help="bf16 autocast: faster on CUDA and on CPUs with AMX (1.75x per flowers64 epoch measured on one), at bf16 precision inside the convolutions. Off by default: the presets keep their fp32 numerics.",
    ),
    compile: bool | None = typer.Option(
        None, "--compile/--no-compile", help="torch.compile the generator and discriminator."
    ),
    sync_bn: bool | None = typer.Option(
        None,
        "--sync-bn/--no-sync-bn",
        help="SyncBatchNorm across processes (distributed runs; default: per-process batch statistics).",
    ),
    score_every: int | None = typer.Option(
        None,
        "--score-every",
        help="Iterations between FID/IS measurements logged to metrics.jsonl (0: off; needs Inception weights).",
    ),
    root: str | None = typer.Option(
        None, "--root", help="Data root (default $GAN_HOME, else ~/.cache/gancli)."
    ),
    nproc: int | None = typer.Option(
        None,
        "--nproc",
        min=1,
        help="Train with N processes on this machine (one per GPU, or N CPU processes), started through torch's launcher like `torchrun --nproc-per-node N`.",
    ),
    recipe: str | None = typer.Option(
        None,
        "--recipe",
        help="faithful: train as the preset's reference system does (the seed presets' default); improved: "
        "spectral norm + hinge loss + DiffAugment + an EMA generator on top of any preset, measured to give "
        "better pictures at equal steps (`gan presets NAME --recipe improved` shows what it changes).",
    ),
    tensorboard: bool | None = typer.Option(
        None,
        "--tensorboard/--no-tensorboard",
        help='Also log curves and sample grids to RUN/tensorboard/ (log.tensorboard in YAML; pip install "gancli\\[tensorboard]").',
    ),
    dist_timeout: float = typer.Option(
        DEFAULT_TIMEOUT_S,
        "--dist-timeout",
        help="Distributed runs: seconds a process waits for the others before the job ends with an error (a dead or stuck process).",
    ),
) -> None:
    """Train a GAN from a preset or a YAML config, with a live display, samples and checkpoints.

    Examples:

      gan train --preset quick

      gan train --preset flowers64 --data flowers --device cuda

      gan train --preset flowers64 --data ~/photos --iters 2000 --out runs/mine

      gan train --resume runs/mine --iters 4000

      gan train --preset faces256 --data celeba --nproc 4   (4 GPUs of this machine)

      torchrun --nproc-per-node 4 -m gancli train --preset faces256 --data celeba

    Ctrl-C stops after the current step (with several processes: at the next --log-every
    iteration, all together) and writes a checkpoint; continue with --resume. Distributed
    runs: docs/distributed.md.
    """
    overrides = _overrides(
        data=data,
        epochs=epochs,
        iters=iters,
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
        root=root,
        tensorboard=tensorboard,
        recipe=recipe,
    )
    ctx = DistContext.from_env()
    if nproc is not None and nproc > 1:
        if ctx.world > 1:
            raise UserError(
                f"--nproc starts its own processes, but this one is already process {ctx.rank} of {ctx.world} under torchrun. Give the process count to torchrun (--nproc-per-node) and drop --nproc."
            )
        # options, folders and the batch split are checked once here, before any process starts
        plan = _plan(resume, preset, config, overrides, out)
        check_global_batch(plan.cfg.train.batch_size, nproc)
        gpus = torch.cuda.device_count()
        if resolve_device(plan.cfg.train.device).type == "cuda" and nproc > gpus:
            raise UserError(
                f"--nproc {nproc} starts one process per GPU, but this machine has {gpus} visible GPU(s). Use --nproc {gpus} or fewer (CUDA_VISIBLE_DEVICES chooses which), or --device cpu."
            )
        argv = _worker_argv(invocation)
        if not resume and not out:
            argv.append(f"--out={plan.run_dir}")  # name the new folder here, so messages can point at it
        _launch(nproc, argv, plan.run_dir)
        return
    try:
        plan = _plan(resume, preset, config, overrides, out)
        try:
            _train(ctx, plan, fresh_name=not resume and not out, timeout_s=dist_timeout)
        except RuntimeError as exc:
            if not (ctx.world > 1 and is_comm_failure(exc)):
                raise
            # the CLI prints messages as rich markup, and gloo's start with "[file:line]"
            why = escape(str(exc).strip().splitlines()[0][:240]) if str(exc).strip() else type(exc).__name__
            hint = (
                f" Continue from the last checkpoint with `gan train --resume {plan.run_dir}`."
                if ctx.is_main and (plan.run_dir / "checkpoints").is_dir()
                else ""
            )
            raise UserError(
                f"Lost contact with the other training processes: another process died or did not answer within --dist-timeout ({dist_timeout:g} s), so this one stops too ({why}).{hint}",
                exit_code=4,
            ) from exc
    except UserError as exc:
        if ctx.world > 1 and not ctx.is_main:  # say which process of the job reports it
            raise UserError(f"rank {ctx.rank}: {exc}", exc.exit_code) from exc
        raise


def _plan(
    resume: str | None, preset: str | None, config: Path | None, overrides: dict, out: str | None
) -> RunPlan:
    if resume:
        if preset or config or overrides.get("recipe"):
            raise UserError(
                "--resume continues a run with its saved config; --preset, --config and --recipe cannot be combined with it."
            )
        run_dir = latest_run() if resume == "latest" else Path(resume)
        return plan_resume(run_dir, overrides)
    return plan_new_run(config_mod.resolve(preset, config, overrides), out)


def _train(ctx: DistContext, plan: RunPlan, fresh_name: bool, timeout_s: float) -> None:
    """One process's part of a run: all of it alone, or one rank of a distributed run."""
    cfg = plan.cfg
    show = console if ctx.is_main else Console(quiet=True)  # only rank 0 talks; errors still reach stderr
    check_global_batch(
        cfg.train.batch_size, ctx.world
    )  # before any collective, so no rank waits on a failed one
    dev = ctx.start(resolve_device(cfg.train.device), timeout_s)
    if ctx.active:
        iteration = int(plan.resume_payload["iteration"]) if plan.resume_payload is not None else None
        ref_dir, ref_iteration = ctx.broadcast((str(plan.run_dir), iteration))
        if fresh_name:
            plan.run_dir = Path(ref_dir)  # runs/<preset>-<timestamp>: rank 0's clock names it
        elif (str(plan.run_dir), iteration) != (ref_dir, ref_iteration):
            raise UserError(
                f"This process resolved the run folder as {plan.run_dir} (iteration {iteration}), but rank 0 has {ref_dir} (iteration {ref_iteration}). Every machine of a distributed run must see the same run folder: put --out/--resume on a shared filesystem and pass the same path everywhere."
            )

    with (
        ctx.local_main_first(),
        preparing(show, dataset_label(cfg.data.name, cfg.model.resolution)) as progress,
    ):
        prepared = load_images(
            cfg.data.name,
            cfg.model.resolution,
            cfg.model.channels,
            cfg.data.resize,
            cfg.data.root or None,
            progress=progress,
            size=cfg.data.size,
        )
    for note in prepared.warnings:
        show.print(f"[yellow]warning:[/] {note}")
    if prepared.skipped:
        listed = ", ".join(f"{f} ({why})" for f, why in prepared.skipped[:5])
        more = f" and {len(prepared.skipped) - 5} more" if len(prepared.skipped) > 5 else ""
        show.print(f"[yellow]{len(prepared.skipped)} files skipped:[/] {listed}{more}")
    n = prepared.images.shape[0]
    if n < cfg.train.batch_size:
        raise UserError(
            f"The dataset {cfg.data.name} has {n} usable images, fewer than one batch of {cfg.train.batch_size}. Use a smaller --batch-size or more images."
        )

    if cfg.log.tensorboard and ctx.is_main:
        from gancli.reporting.tensorboard import require_tensorboard

        require_tensorboard()  # before the run folder is written

    scorer = None
    if cfg.train.score_every and ctx.is_main:
        # Inception is loaded only when asked; missing weights stop here, before the run folder is written
        from gancli.metrics.during_training import TrainingScorer

        with show.status("Preparing FID reference statistics (cached after the first time)..."):
            scorer = TrainingScorer(cfg, dev)

    with ExitStack() as stack:
        observers: list = []
        if ctx.is_main:
            stack.enter_context(RunLock(plan.run_dir))
            write_run_files(plan)
            metrics = MetricsLog(plan.run_dir / "metrics.jsonl")
            artifacts = ArtifactWriter(plan.run_dir, metrics)
            stack.callback(artifacts.settle)  # on an error, let pending grids finish while the lock is held
            observers = [metrics, artifacts, RunState(plan.run_dir)]
            if cfg.log.tensorboard:
                from gancli.reporting.tensorboard import TensorBoardLog

                resumed = int(plan.resume_payload["iteration"]) if plan.resume_payload is not None else None
                observers.append(TensorBoardLog(plan.run_dir / TENSORBOARD, resumed))
        ctx.barrier()  # rank 0 holds the lock and has written the run folder before anyone trains
        trainer = Trainer(cfg, prepared.images, dev, plan.run_dir, observers, dist=ctx, scorer=scorer)
        if plan.resume_payload is not None:
            trainer.load_state(plan.resume_payload)
            show.print(
                f"Resuming {plan.run_dir} from iteration {trainer.counters.iteration} ({plan.resume_from})."
            )
        if ctx.is_main:
            trainer.observers.insert(
                0,
                LiveDisplay(
                    console,
                    trainer.total,
                    trainer.batches.steps_per_epoch,
                    trainer.counters.iteration,
                    cfg.preset,
                ),
            )
        procs = (
            f" in {ctx.world} processes ({cfg.train.batch_size // ctx.world} each)" if ctx.world > 1 else ""
        )
        show.print(
            f"[bold]{cfg.preset}[/] on {dev.type}: {n} images of {cfg.data.name} ({prepared.source}), "
            f"batch {cfg.train.batch_size}{procs}, {trainer.batches.steps_per_epoch} iterations/epoch, "
            f"{trainer.total} iterations in all -> {plan.run_dir}",
            highlight=False,
        )
        if dev.type == "cpu" and not cfg.train.amp and cpu_has_fast_bf16():
            show.print(
                "[dim]This CPU has AMX: --amp (bf16 autocast) can train much faster (1.75x per flowers64 epoch on a 2-core AMX Xeon), at bf16 precision inside the convolutions.[/]"
            )
        if trainer.counters.iteration >= trainer.total:
            show.print(
                f"{plan.run_dir} has already run {trainer.counters.iteration} of {trainer.total} iterations. Pass a larger --iters or --epochs to continue."
            )
            ctx.close()
            return
        try:
            with stop_on_signals(StopRequest()) as stop:
                outcome = trainer.fit(stop)
        except KeyboardInterrupt as exc:  # a second Ctrl-C: no final checkpoint, the last one is whole
            from gancli.training.checkpoint import find_checkpoint

            try:
                kept = f" The last checkpoint, {find_checkpoint(plan.run_dir)}, is intact; continue with `gan train --resume {plan.run_dir}`."
            except UserError:
                kept = " No checkpoint had been written yet."
            raise UserError(
                f"Interrupted by a second Ctrl-C at iteration {trainer.counters.iteration}: training stopped without a final checkpoint.{kept}",
                exit_code=130,
            ) from exc
    ctx.close()
    if outcome.status == "diverged":
        if not ctx.is_main:  # rank 0 prints the full message; the others name the cause only
            raise UserError(
                f"training diverged at or before iteration {outcome.iteration} (NaN/inf in the losses averaged over all processes); see rank 0's message.",
                exit_code=3,
            )
        raise UserError(
            outcome.message + (f" Last good checkpoint: {outcome.checkpoint}." if outcome.checkpoint else ""),
            exit_code=3,
        )
    show.print(outcome.message)
    if outcome.status == "stopped":
        show.print(
            f"Checkpoint written. Continue with: [bold]gan train --resume {plan.run_dir}[/]", highlight=False
        )
    else:
        show.print(
            f"Samples in {plan.run_dir / 'samples'}, curves in {plan.run_dir / 'curves.png'}. Draw new images with: [bold]gan sample {plan.run_dir} -n 25 --out grid.png[/]",
            highlight=False,
        )
    sys.stdout.flush()


def _worker_argv(invocation: typer.Context) -> list[str]:
    """This `gan train` command line without --nproc: what each launched process runs."""
    argv = ["--debug"] if invocation.find_root().params.get("debug") else []
    argv.append(invocation.info_name or "train")
    for param in invocation.command.params:
        value = invocation.params.get(param.name)
        if param.name == "nproc" or value is None or param.param_type_name != "option":
            continue
        if param.is_flag:
            if param.secondary_opts:
                argv.append(param.opts[0] if value else param.secondary_opts[0])
            elif value:
                argv.append(param.opts[0])
        else:
            long = next(o for o in param.opts if o.startswith("--"))
            argv.append(f"{long}={value}")  # one token, so values starting with '-' stay values
    return argv


def _launch(nproc: int, argv: list[str], run_dir: Path) -> None:
    """Run `python -m gancli <argv>` in `nproc` processes through torch.distributed.run
    (torchrun --standalone: a rendezvous on a free local port, no restarts)."""
    from torch.distributed import run as torchrun
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    # torchrun would give each process one thread; CPU training shares the cores out instead
    threads_set = "OMP_NUM_THREADS" in os.environ
    if not threads_set:
        os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // nproc))
    try:
        torchrun.run(
            torchrun.parse_args(["--standalone", f"--nproc-per-node={nproc}", "-m", "gancli", *argv])
        )
    except ChildFailedError as exc:
        rank, failure = exc.get_first_failure()
        if failure.exitcode > 0:  # the process printed its own error message
            raise typer.Exit(failure.exitcode) from exc
        why = "out of memory, or stopped from outside"
        if failure.signal_name() == "SIGABRT":  # NCCL's watchdog aborts a process whose collective timed out
            why = "on GPUs this is NCCL aborting after a collective waited longer than --dist-timeout, usually because another process died or hung first; else out of memory"
        raise UserError(
            f"Training process {rank} was killed by {failure.signal_name()} ({why}), so the other processes were stopped too.{_resume_hint(run_dir, nproc)}",
            exit_code=1,
        ) from exc
    except SignalException as exc:
        raise UserError(
            f"Interrupted by {exc.sigval.name}: the training processes were stopped.{_resume_hint(run_dir, nproc)}",
            exit_code=130,
        ) from exc
    finally:
        if not threads_set:
            del os.environ["OMP_NUM_THREADS"]


def _resume_hint(run_dir: Path, nproc: int) -> str:
    if (run_dir / "checkpoints").is_dir():
        return f" Continue from the last checkpoint with `gan train --resume {run_dir} --nproc {nproc}`."
    return ""
