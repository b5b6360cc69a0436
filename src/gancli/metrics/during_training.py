"""FID and Inception Score measured during training (`gan train --score-every N`).

The reference statistics of the training set are computed once and cached like `gan score`'s,
so each measurement costs only the generated images: n forward passes of G and of Inception.
"""

from __future__ import annotations

import torch
from torch import nn

from gancli.config import RunConfig
from gancli.metrics.api import compute_metrics
from gancli.metrics.features import ProgressCallback, extract_features
from gancli.metrics.inception import find_weights, load_inception
from gancli.metrics.reference import dataset_reference, weights_id
from gancli.sampling import class_shares, generated_batches

CPU_SECONDS_PER_IMAGE = (
    0.1  # FID Inception at 299x299 on one CPU core, about (a projection, said before starting)
)
SCORE_SEED = 12_345  # the same latents at every measurement, so the curve shows G changing, not noise


class TrainingScorer:
    """Callable(generator, iteration) -> {'fid': ..., 'is': ..., 'is_std': ...} for metrics.jsonl."""

    def __init__(
        self,
        cfg: RunConfig,
        device: torch.device,
        weights: str | None = None,
        resize: str = "tf",
        batch_size: int = 50,
        progress: ProgressCallback | None = None,
    ) -> None:
        root = cfg.data.root or None
        path = find_weights(weights, root)  # a missing file stops `gan train` before training starts
        self.model = load_inception(path).to(device)
        self.device, self.resize, self.batch_size = device, resize, batch_size
        self.n = cfg.train.score_n
        self.reference = dataset_reference(
            # the training set itself, prepared as training prepares it, cached after the first run
            cfg.data.name,
            resolution=cfg.model.resolution,
            channels=cfg.model.channels,
            metric_resize=resize,
            weights=weights_id(path),
            model=self.model,
            device=device,
            batch_size=batch_size,
            root=root,
            need_features=False,
            progress=progress or False,
            data_resize=cfg.data.resize,
            data_size=cfg.data.size,
        )

        # A conditional generator draws its classes as the training set holds them, so its FID
        # compares like with like (the reference's counts are the training set's labels).
        counts = self.reference.meta.get("class_counts")
        self.class_counts = class_shares(cfg.model.classes, counts) if cfg.model.conditional else None

    def __call__(self, generator: nn.Module, iteration: int) -> dict[str, float]:
        was_training = generator.training
        generator.eval()
        try:
            batches = generated_batches(
                generator, self.n, SCORE_SEED, self.device, self.batch_size, class_counts=self.class_counts
            )
            fake = extract_features(
                batches, self.model, self.resize, self.device, total=self.n, batch_size=self.batch_size
            )
        finally:
            generator.train(was_training)
        scores = compute_metrics(self.reference, fake, {"fid", "is"})
        return {"fid": scores["fid"]["value"], "is": scores["is"]["value"], "is_std": scores["is"]["std"]}
