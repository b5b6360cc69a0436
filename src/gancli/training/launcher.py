"""How `gan train --nproc N` starts its worker processes: the one place that turns a typed
request into the command each process runs (`python -m gancli train ...` under torch's
launcher, torchrun --standalone) and turns a failed process back into one message.

Each worker runs the same front end as the parent, so it gets the request as `gan train`
options: `worker_argv` spells them from the TrainRequest's fields (a test parses them back
through the command line and compares the requests).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from shlex import quote

from gancli.config import Overrides, check_global_batch
from gancli.errors import UserError
from gancli.training.session import EXIT_STOPPED, TrainRequest, plan


@dataclass(frozen=True)
class LaunchRequest:
    """A training request to run in `nproc` processes on this machine (`debug`: workers show
    tracebacks, as `gan --debug`)."""

    train: TrainRequest
    nproc: int
    debug: bool = False


# TrainRequest field -> its `gan train` option (the overrides' options are --field-name)
_REQUEST_OPTIONS = {
    "preset": "--preset",
    "config": "--config",
    "out": "--out",
    "resume": "--resume",
    "dist_timeout_s": "--dist-timeout",
}


def worker_argv(request: TrainRequest, *, debug: bool = False) -> list[str]:
    """The `gan` arguments that make a worker run `request`: `--name=value` (one token, so a
    value starting with '-' stays a value); a boolean override as --name or --no-name."""
    argv = ["--debug"] if debug else []
    argv.append("train")
    for field, option in _REQUEST_OPTIONS.items():
        value = getattr(request, field)
        if value is not None:
            argv.append(f"{option}={value}")
    if request.adopt:
        argv.append("--adopt")
    for field in dataclasses.fields(Overrides):
        value = getattr(request.overrides, field.name)
        option = "--" + field.name.replace("_", "-")
        if isinstance(value, bool):
            argv.append(option if value else "--no-" + option[2:])
        elif value is not None:
            argv.append(f"{option}={value}")
    return argv


def launch(launch_request: LaunchRequest) -> None:
    """Train in `nproc` processes on this machine (torch's launcher runs `gan train` in each),
    after checking options, folders and the batch split once, before any process starts."""
    request, nproc = launch_request.train, launch_request.nproc
    import torch

    from gancli.devices import resolve_device
    from gancli.distributed import DistContext

    ctx = DistContext.from_env()
    if ctx.world > 1:
        raise UserError(
            f"--nproc starts its own processes, but this one is already process {ctx.rank} of {ctx.world} under torchrun. Give the process count to torchrun (--nproc-per-node) and drop --nproc."
        )
    the_plan = plan(request)
    check_global_batch(the_plan.cfg, nproc)
    gpus, kind = torch.cuda.device_count(), resolve_device(the_plan.cfg.train.device).type
    if kind == "cuda" and nproc > gpus:
        raise UserError(
            f"--nproc {nproc} starts one process per GPU, but this machine has {gpus} visible GPU(s). Use --nproc {gpus} or fewer (CUDA_VISIBLE_DEVICES chooses which), or --device cpu."
        )
    if kind == "cpu":
        _check_cpu_processes(nproc)
    if the_plan.named_here:  # name the new folder here, so messages can point at it
        request = dataclasses.replace(request, out=str(the_plan.run_dir))
    _torchrun(nproc, worker_argv(request, debug=launch_request.debug), the_plan.run_dir)


def _check_cpu_processes(nproc: int) -> None:
    """More CPU processes than cores only share them (each a fraction of the speed, and the
    machine unusable meanwhile): refused, naming the core count and the way to insist."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if nproc > cores:
        raise UserError(
            f"--nproc {nproc} starts {nproc} CPU processes, but this machine gives this one {cores} core(s): more processes than cores only slow each other down. Use --nproc {cores} or fewer; to start more anyway, call torch's launcher yourself: torchrun --standalone --nproc-per-node {nproc} -m gancli train ..."
        )


def _torchrun(nproc: int, argv: list[str], run_dir: Path) -> None:
    """`python -m gancli <argv>` in `nproc` processes (torchrun --standalone: a rendezvous on a
    free local port, no restarts)."""
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
            raise WorkersExited(failure.exitcode) from exc
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
            exit_code=EXIT_STOPPED.get(exc.sigval.name, EXIT_STOPPED["SIGINT"]),
        ) from exc
    finally:
        if not threads_set:
            del os.environ["OMP_NUM_THREADS"]


class WorkersExited(Exception):
    """A launched process ended with this exit status, having printed its own message."""

    def __init__(self, exit_code: int) -> None:
        super().__init__(f"a training process exited with status {exit_code}")
        self.exit_code = exit_code


def _resume_hint(run_dir: Path, nproc: int) -> str:
    from gancli.runs import RunFolder

    if RunFolder(run_dir).has_checkpoint():
        return f" Continue from the last checkpoint with `gan train --resume {quote(str(run_dir))} --nproc {nproc}`."
    return ""
