"""Inception Score, following torch-fidelity 0.4.0 (shuffle seed, split boundaries, float64 softmax)."""

from __future__ import annotations

import numpy as np
import torch

from gancli.errors import UserError

DEFAULT_SPLITS = 10
SEED = 2020


def inception_score(logits, splits: int = DEFAULT_SPLITS, seed: int | None = SEED) -> tuple[float, float]:
    """Mean and population std over ``splits`` of exp(E_x KL(p(y|x) || p(y))) from [N, C] logits.

    ``logits``: the network's logits without the fc bias, as torch-fidelity's IS uses them.
    Samples are shuffled by ``RandomState(seed).permutation(N)`` (``seed=None``: no shuffle),
    and split ``i`` is rows ``i*N//splits`` to ``(i+1)*N//splits``.
    """
    logits = getattr(logits, "logits", logits)
    if logits is None:
        raise UserError("The Inception Score needs the network's logits, and these features have none.")
    x = torch.as_tensor(np.asarray(logits), dtype=torch.float64)
    if x.dim() != 2:
        raise UserError(f"Logits must be a 2-D array [N, classes]; got shape {tuple(x.shape)}.")
    n = x.shape[0]
    if splits < 1 or n < splits:
        raise UserError(
            f"The Inception Score uses {splits} splits and needs at least that many images; got {n}."
        )
    if seed is not None:
        x = x[torch.from_numpy(np.random.RandomState(seed).permutation(n))]
    p = x.softmax(dim=1)
    log_p = x.log_softmax(dim=1)
    scores = []
    for i in range(splits):
        lo, hi = i * n // splits, (i + 1) * n // splits
        p_chunk, log_p_chunk = p[lo:hi], log_p[lo:hi]
        log_q = p_chunk.mean(dim=0, keepdim=True).log()
        # p * (log p - log q) as torch-fidelity computes it, except that terms with p == 0 count
        # as 0: with saturated logits a class no sample uses has q == 0 and would give 0 * inf.
        kl = torch.where(p_chunk > 0, p_chunk * (log_p_chunk - log_q), 0.0).sum(dim=1).mean()
        scores.append(kl.exp().item())
    scores_np = np.array(scores)
    return float(scores_np.mean()), float(scores_np.std())


def is_metric(real, fake, options) -> dict:
    """The registered "is": of the generated set's logits only."""
    mean, std = inception_score(fake.logits, options.is_splits)
    return {"is": {"value": mean, "std": std}}
