"""A particle adversary over one difficulty class (assumed; not confirmed from the paper).

"Learning to Actively Learn: A Robust Approach" (Zhang, Jain, Jamieson, 2020) trains each
policy against the worst instances of a class ``Theta^(r) = {theta : rho*(theta) <= r}``.
How the paper searches for them is not confirmed; this module uses a derivative-free
particle search, which needs no gradient through the discrete rollouts:

- the adversary holds a set of instance particles inside the class;
- each round the caller scores every particle by the current policy's empirical loss;
- the easiest ``replace_fraction`` are replaced by Gaussian perturbations of the hardest
  (relative step ``perturb`` of the parent's norm);
- a perturbed particle that left the class is projected back by scaling it up until
  ``rho* = r`` (``rho*(c theta) = rho*(theta) / c^2``), i.e. onto the class boundary where
  the hardest instances of a direction live; a tied candidate (``rho* = inf``) is dropped
  and its parent copied instead.
"""

from __future__ import annotations

import math

import torch

from troupe.algorithms.active.complexity import project_to_class, rho_star
from troupe.algorithms.active.problems import Problem


def adversary_round(problem: Problem, particles: torch.Tensor, score: torch.Tensor, radius: float, *,
                    generator: torch.Generator, replace_fraction: float = 0.25, perturb: float = 0.2,
                    **solver) -> torch.Tensor:
    """One round: the easiest particles become perturbed copies of the hardest, kept in ``Theta^(r)``.

    Args:
        particles: (P, d) instances inside the class.
        score: (P,) the policy's empirical loss on each particle (higher = harder).
    Returns:
        the new particles (P, d), still inside the class.
    """
    count, d = particles.shape
    k = max(1, int(round(replace_fraction * count)))
    order = torch.argsort(score, descending=True, stable=True)
    hard, easy = order[:k], order[-k:]
    parents = particles[hard]
    noise = torch.randn(parents.shape, generator=generator, dtype=parents.dtype)
    children = parents + perturb * parents.norm(dim=1, keepdim=True) * noise / math.sqrt(d)
    rho = rho_star(problem, children, **solver)
    children = project_to_class(problem, children, radius, rho)
    children = torch.where(torch.isfinite(rho)[:, None], children, parents)
    out = particles.clone()
    out[easy] = children
    return out
