"""Improved precision and recall (Kynkäänniemi et al. 2019) on Inception pool features, in bounded memory."""

from __future__ import annotations

import numpy as np
import torch

from gancli.errors import UserError

DEFAULT_K = 3


def _as_tensor(features) -> torch.Tensor:
    x = np.asarray(getattr(features, "pool", features), dtype=np.float64)
    if x.ndim != 2:
        raise UserError(f"Features must be a 2-D array [N, D]; got shape {x.shape}.")
    return torch.from_numpy(x)


def _cdist(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    # torch.cdist as torch-fidelity uses it (matrix-product form), but on float64 features so the
    # |a|^2 + |b|^2 - 2ab cancellation costs no meaningful precision.
    return torch.cdist(a, b)


def knn_radii(x: torch.Tensor, k: int = DEFAULT_K, chunk: int = 1024) -> torch.Tensor:
    """Distance from each row to its k-th nearest other row (the (k+1)-th smallest, counting itself)."""
    out = []
    for part in x.split(chunk):
        out.append(_cdist(part, x).kthvalue(k + 1, dim=1).values)
    return torch.cat(out)


def _coverage(queries: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor, chunk: int) -> float:
    # Fraction of queries that fall inside at least one centre's k-NN ball (distance <= radius).
    inside = []
    for part in queries.split(chunk):
        inside.append((_cdist(part, centres) <= radii.unsqueeze(0)).any(dim=1))
    return float(torch.cat(inside).double().mean())


def precision_recall(real, fake, k: int = DEFAULT_K, chunk: int = 1024) -> tuple[float, float]:
    """(precision, recall): fake samples inside the real k-NN manifold, real samples inside the fake one.

    Same convention as torch-fidelity's prc: the radius is the (k+1)-th smallest distance with
    the point itself included, and a point on a ball's boundary counts as inside. Distances are
    computed ``chunk`` rows at a time, so memory stays O(chunk x N).
    """
    r, f = _as_tensor(real), _as_tensor(fake)
    if r.shape[1] != f.shape[1]:
        raise UserError(
            f"Precision/recall needs features of equal dimension; got {r.shape[1]} and {f.shape[1]}."
        )
    if min(r.shape[0], f.shape[0]) <= k:
        raise UserError(
            f"Precision/recall with k={k} needs more than {k} images in each set; got "
            f"{r.shape[0]} reference and {f.shape[0]} generated."
        )
    precision = _coverage(f, r, knn_radii(r, k, chunk), chunk)
    recall = _coverage(r, f, knn_radii(f, k, chunk), chunk)
    return precision, recall


def pr_metric(real, fake, options) -> dict:
    """The registered "pr": precision and recall (Kynkäänniemi et al.)."""
    precision, recall = precision_recall(np.asarray(real.pool), fake.pool, options.pr_k)
    return {"precision": {"value": precision, "std": None}, "recall": {"value": recall, "std": None}}
