"""torch.distributed glue: joining the process group, wrapping the nets, cross-rank reductions.

Design (PyTorch's own engine, no home-made gradient averaging):

* Processes are started by torchrun (or `gan train --nproc N`, which calls torch's launcher),
  which sets RANK, WORLD_SIZE and LOCAL_RANK. `DistContext.from_env` reads them and
  `DistContext.start` joins the group: NCCL on `cuda:LOCAL_RANK`, gloo on the CPU, with a
  timeout after which a collective that waits on a dead or stuck peer raises instead of
  hanging (`--dist-timeout`).
* G and D are wrapped in DistributedDataParallel separately, so each keeps its own reducer
  and the step functions control which network's gradients are all-reduced by each backward:
  - `simultaneous`: `loss_d.backward(inputs=D params)` runs D's accumulate-grad hooks only,
    so only D is reduced; `loss_g.backward(inputs=G params)` then reduces G only. D's
    parameters are not inputs of the second pass, so their hooks do not fire again.
  - `d_then_g` / `g_then_d`: D is called twice (real, then fake) before its backward; DDP
    allows this because every parameter still receives exactly one gradient in that backward.
    The D forward whose backward only serves G's loss runs under `D.no_sync()` (see
    training/step.py): its D gradients are thrown away, so all-reducing them is wasted work.
  No parameter is ever unused in a synced backward, so `find_unused_parameters` stays off.
* Batch norm keeps per-rank statistics by default (each rank normalises its own shard, like
  the single-GPU reference on a per-rank batch); running statistics are not re-broadcast
  every forward (`forward_sync_buffers=False`): each rank tracks its own, and checkpoints and
  sample grids use rank 0's. `--sync-bn` converts to SyncBatchNorm, whose batch statistics
  span the global batch. torch's SyncBatchNorm kernels exist on GPUs only, so on the CPU
  (gloo) `CpuSyncBatchNorm` computes the same statistics with differentiable all-reduces.
* The wrapped modules share parameters with the plain ones, which the trainer keeps for
  checkpoints (no `module.` prefixes: a checkpoint loads under any world size) and samples.

Without a process group every helper is the identity, so single-process code is unchanged.
"""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from gancli.errors import UserError

DEFAULT_TIMEOUT_S = 300.0  # longer than any rank-0-only pause (checkpoint write, sample grid, scoring)
PREPARE_TIMEOUT_S = 3 * 3600.0  # the first preparation of a large image folder may take hours
# rank-local running statistics: torch 2.14 renamed broadcast_buffers to forward_sync_buffers
_LOCAL_BUFFERS = (
    {"forward_sync_buffers": False}
    if "forward_sync_buffers" in inspect.signature(DistributedDataParallel.__init__).parameters
    else {"broadcast_buffers": False}
)


_joined_a_group = False  # this process started a process group (a torchrun / --nproc rank)


def joined_a_group() -> bool:
    return _joined_a_group


def exit_rank(code: int) -> None:
    """End a process that was a rank of a process group, skipping the interpreter's teardown.

    Gloo's C++ threads can abort a rank at interpreter exit, after its work is done and saved
    ("terminate called without an active exception", exit -6): rarely (once in a few dozen
    2-process runs here), but torchrun then reports a finished run as failed. Nothing of ours
    is left to run at that point (the run folder is written, the lock released, the group
    left), so the process flushes its output and ends at once instead."""
    for stream in (sys.stdout, sys.stderr):
        with suppress(OSError, ValueError):  # a closed pipe: nothing more can be said on it anyway
            stream.flush()
    os._exit(code)


class _SumOverRanks(torch.autograd.Function):
    """y = the sum over ranks of x, on every rank. Every rank's loss depends on every rank's x
    through y, so the backward sums the incoming gradients over ranks as well."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        x = x.clone()
        dist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


class CpuSyncBatchNorm(nn.BatchNorm2d):
    """SyncBatchNorm for CPU tensors (torch's SyncBatchNorm kernels are GPU-only, and DDP
    refuses any nn.SyncBatchNorm on the CPU): the global batch mean and (biased) variance are
    reduced over ranks with an all-reduce whose backward all-reduces the gradient, so the math
    is that of torch's SyncBatchNorm (which also all-reduces in its backward). Two passes (mean,
    then the centred sum of squares) keep the variance as accurate as a plain BatchNorm's."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized()) or x.device.type != "cpu":
            return super().forward(x)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:  # cumulative moving average, as in nn.BatchNorm2d
                factor = 1.0 / float(self.num_batches_tracked)
        dims, shape = [0, 2, 3], [1, -1, 1, 1]
        local_count = torch.tensor([x.numel() / x.shape[1]], dtype=x.dtype)
        sums = _SumOverRanks.apply(torch.cat([x.sum(dims), local_count]))
        count = sums[-1]
        mean = sums[:-1] / count
        centred = x - mean.view(shape)
        var = _SumOverRanks.apply(centred.square().sum(dims)) / count
        if self.track_running_stats and self.running_mean is not None and self.running_var is not None:
            with torch.no_grad():  # the running variance is unbiased, as in F.batch_norm
                self.running_mean.mul_(1 - factor).add_(mean.detach(), alpha=factor)
                self.running_var.mul_(1 - factor).add_(var.detach() * (count / (count - 1)), alpha=factor)
        y = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y


def convert_sync_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """Every BatchNorm of `module` synchronised across ranks, sharing its parameters and buffers
    (the optimisers hold those), in place below the top module as torch's converter works."""
    if device.type != "cpu":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    for child in module.modules():
        if type(child) is nn.BatchNorm2d:  # the only batch norm the models build
            child.__class__ = CpuSyncBatchNorm  # same state; only forward differs
    return module


def is_comm_failure(exc: BaseException) -> bool:
    """A collective that failed because a peer died or timed out: NCCL raises DistError
    subclasses, gloo plain RuntimeErrors that name its source files."""
    return isinstance(exc, dist.DistError) or (isinstance(exc, RuntimeError) and "gloo" in str(exc).lower())


@dataclass
class DistContext:
    """Rank/world of this process; rank 0 is the one that writes files."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> DistContext:
        """The rank torchrun assigned to this process (RANK, WORLD_SIZE, LOCAL_RANK), else a single process."""
        env = os.environ if environ is None else environ
        if "RANK" not in env or "WORLD_SIZE" not in env:
            return cls()
        try:
            rank, world = int(env["RANK"]), int(env["WORLD_SIZE"])
            local_rank = int(env.get("LOCAL_RANK", rank))
        except ValueError as exc:
            raise UserError(
                f"RANK={env['RANK']}, WORLD_SIZE={env['WORLD_SIZE']}, LOCAL_RANK={env.get('LOCAL_RANK')} are not whole numbers. These variables are set by torchrun; launch with `torchrun --nproc-per-node N -m gancli train ...` or `gan train --nproc N`."
            ) from exc
        return cls(rank, world, local_rank)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1 and dist.is_available() and dist.is_initialized()

    # ------------------------------------------------------------ the process group

    def start(self, device: torch.device, timeout_s: float = DEFAULT_TIMEOUT_S) -> torch.device:
        """Join the process group (a no-op for one process); returns this rank's device."""
        if self.world <= 1:
            return device
        if timeout_s <= 0:
            raise UserError(f"--dist-timeout {timeout_s:g} must be a positive number of seconds.")
        if device.type == "cuda":
            if device.index is not None and device.index != self.local_rank:
                raise UserError(
                    f"--device {device} names one GPU, but a distributed run gives each process its own: process {self.local_rank} of this machine uses cuda:{self.local_rank}. Pass --device cuda (or auto); choose the GPUs with CUDA_VISIBLE_DEVICES."
                )
            if self.local_rank >= torch.cuda.device_count():
                raise UserError(
                    f"Process {self.local_rank} of this machine needs cuda:{self.local_rank}, but only {torch.cuda.device_count()} GPU(s) are visible. Start at most {torch.cuda.device_count()} processes per machine (--nproc / --nproc-per-node)."
                )
            device = torch.device("cuda", self.local_rank)
            torch.cuda.set_device(device)
            backend = "nccl"
        elif device.type == "cpu":
            backend = "gloo"
        else:
            raise UserError(
                f"Distributed training runs on CUDA GPUs (NCCL) or on the CPU (gloo), not on {device.type}. Pass --device cuda or --device cpu, or train in a single process."
            )
        global _joined_a_group
        _joined_a_group = True
        try:
            dist.init_process_group(
                backend, timeout=timedelta(seconds=timeout_s), device_id=device if backend == "nccl" else None
            )
        except (RuntimeError, ValueError) as exc:
            raise UserError(
                f"Process {self.rank} of {self.world} could not join the process group ({backend}, MASTER_ADDR={os.environ.get('MASTER_ADDR')}, MASTER_PORT={os.environ.get('MASTER_PORT')}): {str(exc).splitlines()[0][:200]}. Check that every node runs the same torchrun command with the same --rdzv-endpoint and that the port is reachable."
            ) from exc
        return device

    def close(self) -> None:
        """Leave the process group. Callers do this after a clean end only: after a failure a
        collective may still wait on a dead peer, destroying the group could then block, and
        the process is about to exit anyway. The barrier first: no rank tears its connections
        down while a peer is still writing its last checkpoint or inside a collective."""
        if dist.is_available() and dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()

    def barrier(self) -> None:
        if self.active:
            dist.barrier()

    def broadcast(self, value: Any) -> Any:
        """Rank 0's `value` on every rank (any picklable object)."""
        if not self.active:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, value: Any) -> list | None:
        """Every rank's `value` (any picklable object), in rank order on rank 0; None elsewhere."""
        if not self.active:
            return [value]
        out = [None] * self.world if self.is_main else None
        dist.gather_object(value, out, dst=0)
        return out

    @contextmanager
    def local_main_first(self, timeout_s: float = PREPARE_TIMEOUT_S) -> Iterator[None]:
        """Local rank 0 of every machine runs the block first (preparing the dataset cache
        once per machine), the others after it (reading that cache). The wait has its own
        gloo group because a first preparation may outlast the training timeout."""
        if not self.active:
            yield
            return
        group = dist.new_group(backend="gloo", timeout=timedelta(seconds=timeout_s))
        if self.local_rank != 0:
            dist.barrier(group=group)
        yield
        if self.local_rank == 0:
            dist.barrier(group=group)
        dist.destroy_process_group(group)

    # ------------------------------------------------------------ training

    def wrap(
        self, generator: nn.Module, discriminator: nn.Module, sync_bn: bool
    ) -> tuple[nn.Module, nn.Module]:
        """The modules the step should call (the plain ones in a single process)."""
        if not self.active:
            return generator, discriminator
        device = next(generator.parameters()).device
        if sync_bn:
            generator = convert_sync_batchnorm(generator, device)
            discriminator = convert_sync_batchnorm(discriminator, device)
        ids = [device.index] if device.type == "cuda" else None
        return tuple(
            DistributedDataParallel(m, device_ids=ids, **_LOCAL_BUFFERS) for m in (generator, discriminator)
        )  # type: ignore[return-value]

    def mean(self, values: torch.Tensor) -> torch.Tensor:
        """Average a tensor over ranks (a NaN on any rank makes the mean NaN on every rank)."""
        if self.active:
            values = values.clone()
            dist.all_reduce(values, op=dist.ReduceOp.SUM)
            values /= self.world
        return values

    def any_flag(self, flag: bool) -> bool:
        """True on every rank when any rank's flag is true (a stop request reaches all)."""
        if not self.active:
            return flag
        device = (
            torch.device("cuda", torch.cuda.current_device())
            if dist.get_backend() == "nccl"
            else torch.device("cpu")
        )
        t = torch.tensor([1.0 if flag else 0.0], device=device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item())
