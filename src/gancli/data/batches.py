"""Training batches straight from the prepared uint8 tensor: no decoding, no worker processes.

The permutation of each epoch is a pure function of (seed, epoch), so a run resumed in the
middle of an epoch sees exactly the batches it would have seen, and every rank of a
distributed run agrees on the permutation and takes its own slice of each global batch.
"""

from __future__ import annotations

import torch


class BatchSource:
    """Yields float batches in [-1, 1] on `device`, flipped left-right at random when asked."""

    def __init__(
        self,
        images: torch.Tensor,
        batch_size: int,
        device: torch.device,
        seed: int,
        flip: bool,
        rank: int = 0,
        world: int = 1,
        max_device_fraction: float = 0.5,
        *,
        labels: torch.Tensor | None = None,
    ) -> None:
        if images.shape[0] < batch_size:
            raise ValueError(f"{images.shape[0]} images are fewer than one batch of {batch_size}")
        self.count = images.shape[0]
        self.global_batch = batch_size
        self.local_batch = batch_size // world
        self.rank, self.world = rank, world
        self.steps_per_epoch = self.count // batch_size  # partial batches are dropped, as in the reference
        self.device, self.seed, self.flip = device, seed, flip
        self.images = self._place(images, device, max_device_fraction)
        # by type: `torch.device("cuda")` (what --device cuda gives) is not equal to the "cuda:0"
        # that the tensor reports, and a dataset left pinned on the host is not on the device
        self.on_device = self.images.device.type == device.type
        # class labels (conditional training): each batch's are the same permutation's slice
        self.labels = None if labels is None else labels.to(self.images.device)
        self._perm_epoch = -1
        self._perm = torch.empty(0, dtype=torch.long)
        self.flip_generator = torch.Generator(device=device).manual_seed(seed * 7919 + 17 + rank)
        # a dataset left on the host (too big for the device) is gathered into pinned buffers,
        # so that the copy to the device is truly asynchronous; two, so that one can fill while
        # the other's copy may still run, each reused only once its copy has finished
        self._staging: list[tuple[torch.Tensor, torch.cuda.Event]] = []
        self._turn = 0

    @staticmethod
    def _place(images: torch.Tensor, device: torch.device, fraction: float) -> torch.Tensor:
        """Keep the dataset on the device when it fits in a fraction of free memory, else pinned on the host."""
        if device.type == "cpu":
            return images.contiguous()
        if device.type == "cuda":
            free, _ = torch.cuda.mem_get_info(
                device.index if device.index is not None else torch.cuda.current_device()
            )  # torch < 2.5 needs an index
            if images.numel() < free * fraction:
                return images.to(device)
            return images.contiguous().pin_memory()
        return images.to(device)

    def permutation(self, epoch: int) -> torch.Tensor:
        """The sample order of `epoch` (the same on every rank)."""
        if epoch != self._perm_epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perm = torch.randperm(self.count, generator=g)
            if self.on_device:
                self._perm = self._perm.to(self.device)
            self._perm_epoch = epoch
        return self._perm

    def _index(self, iteration: int) -> torch.Tensor:
        """Which images make this rank's batch of 0-based `iteration`."""
        epoch, step = divmod(iteration, self.steps_per_epoch)
        start = step * self.global_batch + self.rank * self.local_batch
        return self.permutation(epoch)[start : start + self.local_batch]

    def batch_labels(self, iteration: int) -> torch.Tensor:
        """The class labels of `batch(iteration)`'s images, int64 (B,) on the device."""
        if self.labels is None:
            raise ValueError("this batch source was given no labels")
        index = self._index(iteration)
        return self.labels.index_select(0, index.to(self.labels.device)).to(self.device)

    def batch(self, iteration: int) -> torch.Tensor:
        """The batch of 0-based `iteration` for this rank, float (B, C, H, W) in [-1, 1]."""
        index = self._index(iteration)
        if self.on_device:
            x = self.images.index_select(0, index)
        else:
            x = self._gather(index).to(self.device, non_blocking=True)
            # on the stream that ran the copy: the target device's, which need not be the current device
            self._staging[self._turn][1].record(torch.cuda.current_stream(self.device))
        if self.flip:
            # on the uint8 batch: a quarter of the bytes to move, and flipping commutes with
            # the scaling below, so the batch is bit-identical to flipping the floats
            mask = torch.rand(x.shape[0], device=self.device, generator=self.flip_generator) < 0.5
            x = torch.where(mask[:, None, None, None], x.flip(-1), x)
        return x.float().mul_(1 / 127.5).sub_(1.0)

    def _gather(self, index: torch.Tensor) -> torch.Tensor:
        """The batch's images gathered into the next pinned staging buffer (CUDA only: a dataset
        that is not on the device was pinned on the host by `_place`)."""
        if not self._staging:
            shape = (self.local_batch, *self.images.shape[1:])
            self._staging = [
                (torch.empty(shape, dtype=self.images.dtype).pin_memory(), torch.cuda.Event())
                for _ in range(2)
            ]
        self._turn ^= 1
        buffer, copied = self._staging[self._turn]
        copied.synchronize()  # its previous copy to the device is done
        return torch.index_select(self.images, 0, index, out=buffer)

    def state(self) -> dict:
        """RNG state to checkpoint (the permutation needs none)."""
        return {"flip": self.flip_generator.get_state()}

    def load_state(self, state: dict) -> None:
        """Restore what `state` returned."""
        self.flip_generator.set_state(state["flip"])
