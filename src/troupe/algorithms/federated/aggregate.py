"""Aggregation rules: many client deltas in, one delta out.

``weighted_mean`` is FedAvg's rule; the others are the robust rules that need the
individual client deltas (coordinate-wise median and trimmed mean, Krum). Client
weights are ignored by the robust rules, as in their papers and in Flower.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from troupe.algorithms.federated.params import Params, tree_flatten, tree_stack


def weighted_mean(deltas: Sequence[Params], weights: Sequence[float]) -> Params:
    """Sum_i w_i delta_i / sum_i w_i; FedAvg with w_i = n_i.

    From "Communication-Efficient Learning of Deep Networks from Decentralized Data"
    (McMahan et al., 2017).
    """
    if len(deltas) == 0 or len(deltas) != len(weights):
        raise ValueError(
            f"need as many weights as deltas (> 0); got {len(deltas)} and {len(weights)}"
        )
    total = float(sum(weights))
    if total <= 0:
        raise ValueError(f"total weight must be positive, got {total}")
    stacked = tree_stack(deltas)
    out = {}
    for k, v in stacked.items():
        w = torch.as_tensor(weights, dtype=v.dtype, device=v.device).reshape(
            -1, *[1] * (v.dim() - 1)
        )
        out[k] = (w * v).sum(0) / total
    return out


def coordinate_median(deltas: Sequence[Params]) -> Params:
    """Coordinate-wise median; the mean of the two middle values for an even count.

    FedMedian, from "Byzantine-Robust Distributed Learning: Towards Optimal
    Statistical Rates" (Yin et al., 2018); matches ``numpy.median`` as Flower does.
    """
    return trimmed_mean(deltas, beta=None)


def trimmed_mean(deltas: Sequence[Params], beta: float | None = 0.1) -> Params:
    """Coordinate-wise trimmed mean: drop floor(beta * n) lowest and highest, average the rest.

    From "Byzantine-Robust Distributed Learning: Towards Optimal Statistical Rates"
    (Yin et al., 2018). ``beta=None`` keeps only the middle one or two (the median).
    """
    n = len(deltas)
    if n == 0:
        raise ValueError("need at least one client delta")
    if beta is None:
        cut = (n - 1) // 2
    else:
        if not 0 <= beta < 0.5:
            raise ValueError(f"trimmed mean needs 0 <= beta < 0.5, got {beta}")
        cut = int(beta * n)
    stacked = tree_stack(deltas)
    return {k: v.sort(dim=0).values[cut : n - cut].mean(0) for k, v in stacked.items()}


def krum_scores(deltas: Sequence[Params], f: int) -> torch.Tensor:
    """Krum score of each client: sum of squared distances to its n - f - 2 nearest others.

    From "Machine Learning with Adversaries: Byzantine Tolerant Gradient Descent"
    (Blanchard et al., NeurIPS 2017).
    """
    n = len(deltas)
    m = n - f - 2
    if f < 0 or m < 1:
        raise ValueError(f"Krum needs n - f - 2 >= 1 clients; got n={n}, f={f}")
    flat = torch.stack([tree_flatten(d) for d in deltas]).double()
    sq_norms = flat.pow(2).sum(1)
    dist = (sq_norms[:, None] + sq_norms[None, :] - 2 * flat @ flat.T).clamp_min(0)
    dist.fill_diagonal_(float("inf"))  # a client is not its own neighbour
    return dist.sort(dim=1).values[:, :m].sum(1)


def krum(deltas: Sequence[Params], f: int, m: int = 1) -> Params:
    """(Multi-)Krum: the mean of the m deltas with the lowest Krum scores (m=1: Krum).

    From "Machine Learning with Adversaries: Byzantine Tolerant Gradient Descent"
    (Blanchard et al., NeurIPS 2017). Ties go to the lower client index.
    """
    scores = krum_scores(deltas, f)
    if not 1 <= m <= len(deltas):
        raise ValueError(f"multi-Krum needs 1 <= m <= n; got m={m}, n={len(deltas)}")
    chosen = torch.sort(scores, stable=True).indices[:m].tolist()
    stacked = tree_stack([deltas[i] for i in chosen])
    return {k: v.mean(0) for k, v in stacked.items()}
