"""Transductive linear bandit instances: queries, hypotheses, noisy answers, losses.

"Learning to Actively Learn: A Robust Approach" (Zhang, Jain, Jamieson, 2020) poses
active learning as a transductive linear bandit: a learner may query any of the
measurement vectors ``x_1..x_n`` (rows of ``X``), an unknown ``theta`` answers query
``i`` with ``<x_i, theta> + N(0, sigma^2)``, and after a budget of ``T`` queries the
learner names a hypothesis ``z_hat`` from ``Z``; the loss is ``1[z_hat != z*(theta)]``
with ``z*(theta) = argmax_z <z, theta>``.

Two generators:

- :func:`thresholds_problem` (assumed reading of the paper's 1-D thresholds task): ``n``
  points on a line, a query reveals point ``i``'s noisy label score ``theta_i``
  (``X = I_n``), and hypothesis ``k`` (``k = 0..n``) is the threshold classifier that
  labels points ``1..k`` positive, ``z_k = sum_{i<=k} e_i``. ``<z_k, theta>`` is the
  agreement of threshold ``k`` with the scores, so ``z*`` is the best threshold.
- :func:`random_arms_problem`: ``n`` unit-norm Gaussian arms in ``R^d``, ``Z = X``
  (best-arm identification in a linear bandit).

Instances ``theta`` for the fixed-prior baseline and as candidates of the class sampler
come from :func:`sample_prior`: a Gaussian direction with a log-uniform scale (a single
wide prior over easy and hard instances).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Problem:
    """A transductive linear bandit: queries ``x`` (n, d), hypotheses ``z`` (m, d), noise ``sigma``."""

    x: torch.Tensor
    z: torch.Tensor
    sigma: float = 1.0
    name: str = "custom"

    @property
    def n_queries(self) -> int:
        return self.x.shape[0]

    @property
    def n_hypotheses(self) -> int:
        return self.z.shape[0]

    @property
    def dim(self) -> int:
        return self.x.shape[1]


def thresholds_problem(n: int, *, sigma: float = 1.0) -> Problem:
    """1-D thresholds: ``X = I_n``, ``Z = {z_0 = 0, z_k = e_1 + ... + e_k}`` (n + 1 hypotheses)."""
    x = torch.eye(n, dtype=torch.float64)
    z = torch.tril(torch.ones(n + 1, n, dtype=torch.float64), diagonal=-1)
    return Problem(x, z, sigma, "thresholds")


def random_arms_problem(n: int, d: int, *, seed: int, sigma: float = 1.0) -> Problem:
    """Best-arm identification over ``n`` random unit-norm arms in ``R^d`` (``Z = X``)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    x = x / x.norm(dim=1, keepdim=True)
    return Problem(x, x.clone(), sigma, "arms")


def make_problem(name: str, n: int, d: int, *, sigma: float = 1.0, seed: int = 0) -> Problem:
    """A problem by name: ``thresholds`` (d is ignored) or ``arms``."""
    if name == "thresholds":
        return thresholds_problem(n, sigma=sigma)
    if name == "arms":
        return random_arms_problem(n, d, seed=seed, sigma=sigma)
    raise ValueError(f"unknown problem {name!r} (thresholds|arms)")


def best_hypothesis(problem: Problem, theta: torch.Tensor) -> torch.Tensor:
    """``z*(theta) = argmax_z <z, theta>`` as indices into ``Z``, shape ``(B,)``."""
    return (theta @ problem.z.T).argmax(dim=1)


def observe(problem: Problem, theta: torch.Tensor, queries: torch.Tensor, *,
            generator: torch.Generator) -> torch.Tensor:
    """Answers ``<x_q, theta> + N(0, sigma^2)`` to one query per instance (``queries``: (B,))."""
    means = (problem.x[queries] * theta).sum(dim=1)
    return means + problem.sigma * torch.randn(means.shape, generator=generator, dtype=means.dtype)


def zero_one_loss(problem: Problem, theta: torch.Tensor, z_hat: torch.Tensor) -> torch.Tensor:
    """``1[z_hat != z*(theta)]`` per instance (float)."""
    return (z_hat != best_hypothesis(problem, theta)).to(theta.dtype)


def simple_regret(problem: Problem, theta: torch.Tensor, z_hat: torch.Tensor) -> torch.Tensor:
    """``<z*, theta> - <z_hat, theta>`` per instance."""
    values = theta @ problem.z.T
    return values.max(dim=1).values - values.gather(1, z_hat[:, None]).squeeze(1)


def least_squares(problem: Problem, queries: torch.Tensor, answers: torch.Tensor,
                  ridge: float = 1e-6) -> torch.Tensor:
    """Ridge least-squares estimates of theta from each instance's history ((B, t) -> (B, d))."""
    xq = problem.x[queries]  # (B, t, d)
    gram = xq.transpose(1, 2) @ xq + ridge * torch.eye(problem.dim, dtype=xq.dtype)
    return torch.linalg.solve(gram, (xq * answers[..., None]).sum(dim=1))


def sample_prior(problem: Problem, count: int, *, generator: torch.Generator,
                 scale: tuple[float, float] = (0.1, 10.0)) -> torch.Tensor:
    """The wide prior: ``theta = s * g / sqrt(d)``, ``g ~ N(0, I_d)``, ``log s ~ U[log lo, log hi]``."""
    lo, hi = scale
    g = torch.randn(count, problem.dim, generator=generator, dtype=torch.float64)
    u = torch.rand(count, generator=generator, dtype=torch.float64)
    s = torch.exp(math.log(lo) + u * (math.log(hi) - math.log(lo)))
    return g * s[:, None] / math.sqrt(problem.dim)


def derive_seed(seed: int, *tags: int) -> int:
    """An independent 63-bit seed for a (seed, tag, ...) pair: classes, roles and rounds get their own streams."""
    return int(np.random.SeedSequence([seed, *tags]).generate_state(2, dtype=np.uint64)[0] >> np.uint64(1))
