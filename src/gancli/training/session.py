"""One training session, with no user interface: plan the run folder, prepare the data, take
the folder's lock, train, and say how it ended. `gan train` is a front end over it; a notebook
can call `train(TrainRequest(...))` the same way, with its own `SessionUI` (or none).

Under torchrun every process runs a session; only rank 0 touches the run folder (lock,
config, metrics, samples, checkpoints) and reports through the UI.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from shlex import quote
from typing import Any, Protocol

from gancli.config import Overrides, RunConfig, check_dataset_size, check_global_batch, check_run_length
from gancli.errors import UserError
from gancli.training.runner import RunPlan, plan_new_run, plan_resume, prepare_run_folder

# How a session ends, as a process exit status (documented in `gan train --help` and the README).
EXIT_FINISHED, EXIT_BAD_INPUT, EXIT_DIVERGED, EXIT_PEER_FAILED = 0, 2, 3, 4
EXIT_STOPPED = {"SIGINT": 130, "SIGTERM": 143}  # 128 + the signal's number, as shells report it


@dataclass
class TrainRequest:
    """What to train: a new run (preset, --config, overrides, --out) or a resumed one."""

    preset: str | None = None
    config: Path | None = None
    overrides: Overrides = field(default_factory=Overrides)
    out: str | None = None
    resume: str | None = None  # a run folder, a checkpoint file, or "latest"
    dist_timeout_s: float | None = None
    adopt: bool = False  # resume a run folder without the .gan-run marker (an older gancli's), once


@dataclass
class SessionResult:
    """How a session ended: finished, stopped (by a signal) or already_done."""

    status: str
    run_dir: Path
    iteration: int
    message: str
    exit_code: int = EXIT_FINISHED
    checkpoint: Path | None = None


class SessionUI(Protocol):
    """What a front end shows of a session; every text is plain (no markup)."""

    def preparing(self, cfg: RunConfig) -> contextlib.AbstractContextManager[Callable[[int, int], None]]:
        """Around data preparation; yields a progress(done, total) callback."""

    def busy(self, text: str) -> contextlib.AbstractContextManager[Any]:
        """Around a slow step with nothing to count."""

    def counting(
        self, label: str
    ) -> contextlib.AbstractContextManager[Callable[[int, int | None], None] | None]:
        """Around a slow step that counts items; yields a progress(done, total) callback or None."""

    def data_notes(self, warnings: list[str], skipped: list[tuple[str, str]]) -> None:
        """Warnings about the data, and the files that were skipped."""

    def info(self, text: str) -> None:
        """A line of information."""

    def training_started(self, trainer: Any) -> Any:
        """Called once the trainer is built; may return an observer of training events (the
        live display), which build_observers puts first."""


class SilentUI:
    """A SessionUI that shows nothing (for notebooks and tests)."""

    @contextlib.contextmanager
    def preparing(self, cfg: RunConfig) -> Iterator[Callable[[int, int], None]]:
        yield lambda done, total: None

    def busy(self, text: str) -> contextlib.AbstractContextManager[Any]:
        return contextlib.nullcontext()

    def counting(self, label: str) -> contextlib.AbstractContextManager[Any]:
        return contextlib.nullcontext(None)

    def data_notes(self, warnings: list[str], skipped: list[tuple[str, str]]) -> None:
        pass

    def info(self, text: str) -> None:
        pass

    def training_started(self, trainer: Any) -> Any:
        return None


def plan(request: TrainRequest) -> RunPlan:
    """The run folder and config of a request, checked before any data is touched."""
    the_plan = _plan(request)
    check_run_length(the_plan.cfg)
    return the_plan


def _plan(request: TrainRequest) -> RunPlan:
    if request.resume is not None:  # an empty --resume '' is refused there, not taken as absent
        if request.preset or request.config or request.overrides.recipe:
            raise UserError(
                "--resume continues a run with its saved config; --preset, --config and --recipe cannot be combined with it."
            )
        return plan_resume(request.resume, request.overrides, request.out, adopt=request.adopt)
    from gancli import config as config_mod

    return plan_new_run(config_mod.resolve(request.preset, request.config, request.overrides), request.out)


def train(request: TrainRequest, ui: SessionUI | None = None) -> SessionResult:
    """Run one process's part of a training session; a UserError for bad input or divergence."""
    from gancli.distributed import DistContext, is_comm_failure

    ctx = DistContext.from_env()
    ui = ui or SilentUI()
    try:
        the_plan = plan(request)
        try:
            return _session(ctx, the_plan, ui, request.dist_timeout_s)
        except RuntimeError as exc:
            if not (ctx.world > 1 and is_comm_failure(exc)):
                raise
            raise _lost_peers(ctx, the_plan, exc, request.dist_timeout_s) from exc
    except UserError as exc:
        if ctx.world > 1 and not ctx.is_main:  # say which process of the job reports it
            raise UserError(f"rank {ctx.rank}: {exc}", exc.exit_code) from exc
        raise


def _lost_peers(ctx: Any, the_plan: RunPlan, exc: RuntimeError, timeout_s: float | None) -> UserError:
    from gancli.distributed import DEFAULT_TIMEOUT_S

    text = str(exc).strip()
    why = text.splitlines()[0][:240] if text else type(exc).__name__
    hint = (
        f" Continue from the last checkpoint with `gan train --resume {quote(str(the_plan.run_dir))}`."
        if ctx.is_main and the_plan.run.has_checkpoint()
        else ""
    )
    return UserError(
        f"Lost contact with the other training processes: another process died or did not answer within --dist-timeout ({timeout_s or DEFAULT_TIMEOUT_S:g} s), so this one stops too ({why}).{hint}",
        exit_code=EXIT_PEER_FAILED,
    )


def _agree_on_folder(ctx: Any, the_plan: RunPlan) -> None:
    """Every rank must write (through rank 0) the same folder, from the same iteration."""
    payload = the_plan.resume_payload
    iteration = int(payload["iteration"]) if payload is not None else None
    ref_dir, ref_iteration = ctx.broadcast((str(the_plan.run_dir), iteration))
    if the_plan.named_here:
        the_plan.run_dir = Path(ref_dir)  # runs/<preset>-<timestamp>: rank 0's clock names it
    elif (str(the_plan.run_dir), iteration) != (ref_dir, ref_iteration):
        raise UserError(
            f"This process resolved the run folder as {the_plan.run_dir} (iteration {iteration}), but rank 0 has {ref_dir} (iteration {ref_iteration}). Every machine of a distributed run must see the same run folder: put --out/--resume on a shared filesystem and pass the same path everywhere."
        )


def _prepare_data(ctx: Any, cfg: RunConfig, ui: SessionUI) -> Any:
    """The run's images, prepared once per machine; a Ctrl-C here leaves no run folder behind."""
    from gancli.data.source import load_images

    try:
        with ctx.local_main_first(), ui.preparing(cfg) as progress:
            prepared = load_images(
                cfg.data.name,
                cfg.model.resolution,
                cfg.model.channels,
                cfg.data.resize,
                root=cfg.data.root or None,
                progress=progress,
                size=cfg.data.size,
            )
    except KeyboardInterrupt as exc:
        raise UserError(
            f"Interrupted while preparing the data ({cfg.data.name}): nothing was written to the run folder. Run the command again to start over.",
            exit_code=EXIT_STOPPED["SIGINT"],
        ) from exc
    ui.data_notes(list(prepared.warnings), list(prepared.skipped))
    check_dataset_size(cfg, prepared.images.shape[0])
    if cfg.model.conditional:  # the classes are saved with the run (config.yaml, checkpoints)
        from gancli.data.labels import run_classes

        cfg.model.classes = run_classes(cfg.model.classes, prepared.labels, prepared.classes, cfg.data.name)
    return prepared


def _session(ctx: Any, the_plan: RunPlan, ui: SessionUI, timeout_s: float | None) -> SessionResult:
    from gancli.devices import resolve_device
    from gancli.distributed import DEFAULT_TIMEOUT_S
    from gancli.training.trainer import length_reached, total_iterations

    cfg = the_plan.cfg
    ui = ui if ctx.is_main else SilentUI()  # only rank 0 talks; errors still reach stderr
    check_global_batch(cfg, ctx.world)  # before any collective, so no rank waits on a failed one
    dev = ctx.start(resolve_device(cfg.train.device), timeout_s or DEFAULT_TIMEOUT_S)
    if ctx.active:
        _agree_on_folder(ctx, the_plan)
    prepared = _prepare_data(ctx, cfg, ui)
    payload = the_plan.resume_payload or {}
    done, elapsed = int(payload.get("iteration", 0)), float(payload.get("elapsed_s", 0.0))
    total = total_iterations(cfg, prepared.images.shape[0] // cfg.train.batch_size)
    if length_reached(cfg, total, done, elapsed):  # nothing to do: the run folder is left as it is
        ctx.close()
        message = _already_done(the_plan.run_dir, cfg, done, total)
        return SessionResult("already_done", the_plan.run_dir, done, message if ctx.is_main else "")
    if cfg.log.tensorboard and ctx.is_main:
        from gancli.reporting.tensorboard import require_tensorboard

        require_tensorboard()  # before the run folder is written
    scorer = None
    if cfg.train.score_every and ctx.is_main:
        # Inception is loaded only when asked; missing weights stop here, before the run folder is written
        from gancli.metrics.during_training import TrainingScorer

        with ui.counting("FID reference statistics (once, then cached)") as counted:
            scorer = TrainingScorer(cfg, dev, progress=_announced(counted, ui, cfg, dev))
    return _run(ctx, the_plan, ui, prepared, dev=dev, scorer=scorer)


def _announced(counted: Any, ui: SessionUI, cfg: RunConfig, dev: Any) -> Callable[[int, int | None], None]:
    """The reference's progress callback, saying first what --score-every will cost: on a CPU
    Inception takes about CPU_SECONDS_PER_IMAGE an image, minutes for a few thousand images."""
    from gancli.metrics.during_training import CPU_SECONDS_PER_IMAGE

    def format_duration(seconds: float) -> str:
        return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"

    told: list[bool] = []

    def progress(done: int, total: int | None) -> None:
        if not told:
            told.append(True)
            each = cfg.train.score_n * CPU_SECONDS_PER_IMAGE
            ui.info(
                f"--score-every: computing the FID reference statistics of {total or '?'} training images once (cached for later runs)"
                + (
                    f"; Inception on a CPU takes about {CPU_SECONDS_PER_IMAGE:g} s an image: about {format_duration((total or 0) * CPU_SECONDS_PER_IMAGE)} now, then {format_duration(each)} for the {cfg.train.score_n:,} images of each measurement."
                    if dev.type == "cpu"
                    else "."
                )
            )
        if counted is not None:
            counted(done, total)

    return progress


def _run(
    ctx: Any, the_plan: RunPlan, ui: SessionUI, prepared: Any, *, dev: Any, scorer: Any
) -> SessionResult:
    """Hold the lock, prepare the folder, build the trainer and its observers, and fit."""
    from gancli.reporting.observers import build_observers
    from gancli.training.lock import RunLock
    from gancli.training.trainer import Trainer

    cfg = the_plan.cfg
    with ExitStack() as stack:
        if ctx.is_main:
            stack.enter_context(RunLock(the_plan.run_dir))
            prepare_run_folder(the_plan)
        ctx.barrier()  # rank 0 holds the lock and has written the run folder before anyone trains
        labels = prepared.labels if cfg.model.conditional else None
        trainer = Trainer(
            cfg, prepared.images, dev, the_plan.run_dir, [], dist=ctx, scorer=scorer, labels=labels
        )
        if the_plan.resume_payload is not None:
            _continue_from(trainer, the_plan, ui)
        if ctx.is_main:  # only rank 0 writes the run folder and talks
            payload = the_plan.resume_payload
            trainer.observers = build_observers(
                cfg,
                the_plan.run,
                resumed_at=int(payload["iteration"]) if payload is not None and the_plan.in_place else None,
                warn=lambda text: ui.info(f"warning: {text}"),
                cleanup=stack,
                live=ui.training_started(trainer),
            )
        _banner(ctx, the_plan, ui, prepared, trainer)
        outcome, signal_name = _fit(trainer, the_plan)
    # DDP's reducer holds gloo work objects: let them go while the process group still exists,
    # not at interpreter exit, where gloo's threads can abort the process ("terminate called
    # without an active exception", seen once in 4 runs of the 2-process CLI test)
    del trainer
    ctx.close()
    return _result(ctx, the_plan, outcome, signal_name)


def _continue_from(trainer: Any, the_plan: RunPlan, ui: SessionUI) -> None:
    """Load the checkpoint, then the optimiser settings of the config (what config.yaml says runs)."""
    payload, cfg = the_plan.resume_payload, the_plan.cfg
    trainer.load_state(payload)
    where = the_plan.run_dir if the_plan.in_place else f"a new run folder {the_plan.run_dir}"
    ui.info(f"Resuming {where} from iteration {trainer.counters.iteration} ({the_plan.resume_from}).")
    saved = payload["config"].get("train", {}) if isinstance(payload["config"], dict) else {}
    for opt, key in ((trainer.opt_g, "lr_g"), (trainer.opt_d, "lr_d")):
        value = getattr(cfg.train, key)
        for group in opt.param_groups:
            group["lr"] = value
            group["betas"] = (cfg.train.beta1, cfg.train.beta2)
        if saved.get(key) is not None and saved[key] != value:
            ui.info(f"Learning rate {key} changed from {saved[key]:g} to {value:g} for the rest of the run.")


def _already_done(run_dir: Path, cfg: RunConfig, done: int, total: int) -> str:
    from gancli.units import format_duration

    if total and done >= total:
        return f"{run_dir} has already run {done} of {total} iterations. Pass a larger --iters or --epochs to continue."
    return (
        f"{run_dir} has already spent its time budget of {format_duration(cfg.train.time)} ({done} iterations). "
        "Pass a larger --time to continue."
    )


def _banner(ctx: Any, the_plan: RunPlan, ui: SessionUI, prepared: Any, trainer: Any) -> None:
    from gancli.devices import cpu_has_fast_bf16

    cfg, dev = the_plan.cfg, trainer.device
    procs = f" in {ctx.world} processes ({cfg.train.batch_size // ctx.world} each)" if ctx.world > 1 else ""
    ui.info(
        f"{cfg.preset} on {dev.type}: {prepared.images.shape[0]} images of {cfg.data.name} ({prepared.source}), "
        f"batch {cfg.train.batch_size}{procs}, {trainer.batches.steps_per_epoch} iterations/epoch, "
        f"{_length(cfg, trainer.total)} -> {the_plan.run_dir}"
    )
    if dev.type == "cpu" and not cfg.train.amp and cpu_has_fast_bf16():
        ui.info(
            "This CPU has AMX: --amp (bf16 autocast) can train much faster (1.75x per flowers64 epoch on a 2-core AMX Xeon), at bf16 precision inside the convolutions."
        )


def _length(cfg: RunConfig, total: int) -> str:
    """'3000 iterations in all', 'for 5m00s of training', or both, whichever comes first."""
    from gancli.units import format_duration

    budget = f"{format_duration(cfg.train.time)} of training"
    if total and cfg.train.time > 0:
        return f"{total} iterations or {budget} in all, whichever comes first"
    return f"{total} iterations in all" if total else f"{budget} in all"


def _fit(trainer: Any, the_plan: RunPlan) -> tuple[Any, str | None]:
    """The trainer's outcome, and the signal that stopped it (None: not stopped here)."""
    from gancli.training.signals import StopRequest, stop_on_signals

    try:
        with stop_on_signals(StopRequest()) as stop:
            return trainer.fit(stop), stop.signal_name
    except KeyboardInterrupt as exc:  # a second Ctrl-C: no final checkpoint, the last one is whole
        run = the_plan.run
        kept = (
            f" The last checkpoint, {run.find_checkpoint()}, is intact; continue with `gan train --resume {quote(str(run.path))}`."
            if run.has_checkpoint()
            else " No checkpoint had been written yet."
        )
        raise UserError(
            f"Interrupted by a second Ctrl-C at iteration {trainer.counters.iteration}: training stopped without a final checkpoint.{kept}",
            exit_code=EXIT_STOPPED["SIGINT"],
        ) from exc


def _result(ctx: Any, the_plan: RunPlan, outcome: Any, signal_name: str | None) -> SessionResult:
    """The session's result; only rank 0's carries a message (one report per job)."""
    result = _outcome_result(ctx, the_plan, outcome, signal_name)
    if not ctx.is_main:
        result.message = ""
    return result


def _outcome_result(ctx: Any, the_plan: RunPlan, outcome: Any, signal_name: str | None) -> SessionResult:
    run = the_plan.run
    if outcome.status == "diverged":
        if not ctx.is_main:  # rank 0 prints the full message; the others name the cause only
            raise UserError(
                f"training diverged at or before iteration {outcome.iteration} (NaN/inf in the losses averaged over all processes); see rank 0's message.",
                exit_code=EXIT_DIVERGED,
            )
        kept = outcome.checkpoint or (run.find_checkpoint() if run.has_checkpoint() else None)
        last = (
            f" The last good checkpoint, {kept}, is kept."
            if kept
            else " No checkpoint had been written yet, so there is nothing to resume from."
        )
        raise UserError(f"{outcome.message}{last}", exit_code=EXIT_DIVERGED)
    if outcome.status == "stopped":
        message = (
            f"{outcome.message} Checkpoint written. Continue with: gan train --resume {quote(str(run.path))}"
        )
        # a stop asked by a signal on another rank: SIGTERM's code, as the job was stopped from outside
        code = EXIT_STOPPED.get(signal_name or "SIGTERM", EXIT_STOPPED["SIGTERM"])
        return SessionResult("stopped", run.path, outcome.iteration, message, code, outcome.checkpoint)
    message = (
        f"{outcome.message} Samples in {run.samples}, curves in {run.curves}. "
        f"Draw new images with: gan sample {quote(str(run.path))} -n 25 --out grid.png"
    )
    return SessionResult("finished", run.path, outcome.iteration, message, EXIT_FINISHED, outcome.checkpoint)
