"""Combining members' predictions into an ensemble prediction, and scoring both.

Logits come as ``(P, N, C)``: P members, N inputs, C classes.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor


def mean_probs(logits: Tensor) -> Tensor:
    """The ensemble's predictive distribution: the mean of the members' softmax, ``(N, C)``."""
    return torch.softmax(logits, dim=-1).mean(dim=0)


def majority_vote(logits: Tensor) -> Tensor:
    """The class most members predict, ``(N,)`` int64; ties go to the lowest class id."""
    classes = logits.shape[-1]
    votes = F.one_hot(logits.argmax(dim=-1), classes).sum(dim=0)
    # argmax returns the first maximum, which is the lowest tied class.
    return votes.argmax(dim=-1)


def member_accuracy(logits: Tensor, y: Tensor) -> Tensor:
    """Each member's accuracy on labels ``y`` ``(N,)``, shape ``(P,)``."""
    return (logits.argmax(dim=-1) == y.to(logits.device)).float().mean(dim=1)


def member_loss(logits: Tensor, y: Tensor) -> Tensor:
    """Each member's mean cross-entropy on labels ``y`` ``(N,)``, shape ``(P,)``."""
    log_p = torch.log_softmax(logits, dim=-1)
    index = y.to(logits.device).view(1, -1, 1).expand(logits.shape[0], -1, 1)
    return -log_p.gather(-1, index).squeeze(-1).mean(dim=1)


def nll(probs: Tensor, y: Tensor) -> float:
    """Mean negative log-likelihood of labels ``y`` under probabilities ``probs`` ``(N, C)``."""
    p = probs.gather(-1, y.to(probs.device).view(-1, 1)).squeeze(-1)
    return float(-torch.log(p.clamp_min(torch.finfo(probs.dtype).tiny)).mean())


def ensemble_accuracy_curve(logits: Tensor, y: Tensor, sizes: Sequence[int]) -> list[float]:
    """Accuracy of the mean-probability ensemble of the first ``m`` members, for each ``m`` in ``sizes``."""
    members = logits.shape[0]
    if any(not 1 <= m <= members for m in sizes):
        raise ValueError(f"ensemble sizes must lie in [1, {members}], got {list(sizes)}")
    y = y.to(logits.device)
    curve = []
    total = torch.zeros(logits.shape[1:], dtype=logits.dtype, device=logits.device)
    used = 0
    for m in sorted(set(sizes)):
        total += torch.softmax(logits[used:m], dim=-1).sum(dim=0)
        used = m
        curve.append((m, float((total.argmax(dim=-1) == y).float().mean())))
    by_size = dict(curve)
    return [by_size[m] for m in sizes]
