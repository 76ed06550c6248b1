"""How differently the members of an ensemble predict.

Both measures average over all member pairs in O(P * N * C) rather than
O(P^2 * N), so they stay cheap for packs of a thousand members.
"""

from __future__ import annotations

import torch
from torch import Tensor


def disagreement(logits: Tensor) -> float:
    """Mean over member pairs of the fraction of inputs where their argmax predictions differ.

    For one input where ``n_c`` members predict class ``c``, the number of
    agreeing pairs is ``sum_c n_c (n_c - 1) / 2``, so no pair is formed explicitly.

    Args:
        logits: ``(P, N, C)`` with ``P >= 2``.
    """
    members, _, classes = logits.shape
    if members < 2:
        raise ValueError("disagreement needs at least two members")
    preds = logits.argmax(dim=-1)  # (P, N)
    counts = torch.zeros(classes, preds.shape[1], dtype=torch.float64, device=logits.device)
    counts.scatter_add_(0, preds, torch.ones_like(preds, dtype=torch.float64))
    agreeing = (counts * (counts - 1) / 2).sum(dim=0)
    pairs = members * (members - 1) / 2
    return float(1.0 - (agreeing / pairs).mean())


def mean_pairwise_kl(logits: Tensor) -> float:
    """Mean over ordered member pairs ``i != j`` and inputs of ``KL(p_i || p_j)``.

    Uses ``sum_{i,j} KL(p_i || p_j) = P * sum_i <p_i, log p_i> - <sum_i p_i, sum_j log p_j>``
    per input; the ``i == j`` terms are zero so the sum over all pairs is the
    sum over distinct pairs.

    Args:
        logits: ``(P, N, C)`` with ``P >= 2``.
    """
    members = logits.shape[0]
    if members < 2:
        raise ValueError("mean_pairwise_kl needs at least two members")
    log_p = torch.log_softmax(logits.double(), dim=-1)
    p = log_p.exp()
    self_term = members * (p * log_p).sum(dim=(0, 2))
    cross_term = (p.sum(dim=0) * log_p.sum(dim=0)).sum(dim=-1)
    return float(((self_term - cross_term) / (members * (members - 1))).mean())
