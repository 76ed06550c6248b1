"""Classic non-learned strategies to compare learned policies against.

Baselines of "Learning to Actively Learn: A Robust Approach" (Zhang, Jain, Jamieson,
2020): uniform allocation and uncertainty sampling. Both predict
``z_hat = argmax_z <z, theta_hat>`` from the ridge least-squares estimate ``theta_hat``.

- :func:`uniform_rollout`: queries in round-robin order.
- :func:`greedy_rollout` (an XY-allocation-style greedy; our reading of "uncertainty
  sampling" for linear bandits, after Soare, Lazaric, Munos, 2014 and Fiez et al., 2019):
  one round-robin pass, then at each step the query that most reduces the plug-in
  complexity ``max_{z != z_hat} ||z_hat - z||^2_{(A + x x^T)^-1} / (gap_hat_z + sigma ||z_hat - z||_{A^-1})^2``,
  where ``gap_hat_z = <z_hat - z, theta_hat>``. The denominator is an upper confidence bound
  on the gap, so early on (wide intervals) the rule is the plain XY-allocation greedy and
  later it concentrates on the hypotheses that are hard to tell from ``z_hat``.
  Rank-one updates use Sherman-Morrison.

The third baseline of the experiment, a policy trained on a single wide prior instead of
adversarially, is :func:`troupe.algorithms.active.mapo.train_prior_policy`.
"""

from __future__ import annotations

import torch

from troupe.algorithms.active.problems import Problem, best_hypothesis

BASELINES = ("uniform", "greedy")


def _estimate(gram_inv: torch.Tensor, moment: torch.Tensor) -> torch.Tensor:
    return (gram_inv @ moment[..., None]).squeeze(-1)


def _rank_one(gram_inv: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``(A + x x^T)^-1`` from ``A^-1`` (B, d, d) and ``x`` (B, d)."""
    ax = (gram_inv @ x[..., None]).squeeze(-1)
    return gram_inv - ax[:, :, None] * ax[:, None, :] / (1 + (x * ax).sum(1))[:, None, None]


def _run(problem: Problem, theta: torch.Tensor, budget: int, choose, *, generator: torch.Generator,
         ridge: float) -> torch.Tensor:
    """Play ``choose(t, gram_inv, theta_hat) -> (B,) queries`` for ``budget`` steps; return ``z_hat``."""
    b, d = theta.shape[0], problem.dim
    x = problem.x.to(theta.dtype)
    gram_inv = torch.eye(d, dtype=theta.dtype).expand(b, d, d) / ridge
    moment = torch.zeros(b, d, dtype=theta.dtype)
    for t in range(budget):
        q = choose(t, gram_inv, _estimate(gram_inv, moment))
        xq = x[q]
        y = (xq * theta).sum(1) + problem.sigma * torch.randn(b, generator=generator, dtype=theta.dtype)
        gram_inv = _rank_one(gram_inv, xq)
        moment = moment + xq * y[:, None]
    return best_hypothesis(problem, _estimate(gram_inv, moment))


def uniform_rollout(problem: Problem, theta: torch.Tensor, budget: int, *, generator: torch.Generator,
                    ridge: float = 1e-6) -> torch.Tensor:
    """Round-robin queries, then the least-squares argmax: ``z_hat`` (B,)."""
    n, b = problem.n_queries, theta.shape[0]
    return _run(problem, theta, budget, lambda t, *_: torch.full((b,), t % n, dtype=torch.long),
                generator=generator, ridge=ridge)


def plugin_objective(problem: Problem, gram_inv: torch.Tensor, theta_hat: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """The greedy's plug-in objective now (B,) and after one more sample of each query (B, n).

    ``max_{z != z_hat} ||z_hat - z||^2_{A^-1} / (gap_hat_z + sigma ||z_hat - z||_{A^-1})^2`` with
    ``A^-1 = gram_inv`` (B, d, d) and ``z_hat = argmax <z, theta_hat>``.
    """
    x = problem.x.to(theta_hat.dtype)
    z = problem.z.to(theta_hat.dtype)
    star = best_hypothesis(problem, theta_hat)
    y = z[star][:, None, :] - z[None]  # (B, m, d)
    gap = (y * theta_hat[:, None]).sum(-1).clamp_min(0)
    ay = y @ gram_inv  # (B, m, d)
    width2 = (ay * y).sum(-1).clamp_min(0)  # (B, m)
    ax = x @ gram_inv  # (B, n, d)
    gain = torch.einsum("bmd,nd->bmn", ay, x) ** 2 / (1 + (ax * x).sum(-1))[:, None, :]
    scale = (gap + problem.sigma * width2.sqrt()).clamp_min(1e-12) ** 2
    competitor = y.abs().sum(-1) > 0
    now = (width2 / scale).masked_fill(~competitor, -float("inf")).amax(dim=1)
    after = ((width2[..., None] - gain) / scale[..., None]).masked_fill(~competitor[..., None], -float("inf"))
    return now, after.amax(dim=1)


def greedy_rollout(problem: Problem, theta: torch.Tensor, budget: int, *, generator: torch.Generator,
                   ridge: float = 1e-6) -> torch.Tensor:
    """The XY-style greedy described in the module docstring: ``z_hat`` (B,)."""
    n, b = problem.n_queries, theta.shape[0]

    def choose(t, gram_inv, theta_hat):
        if t < n:
            return torch.full((b,), t, dtype=torch.long)
        return plugin_objective(problem, gram_inv, theta_hat)[1].argmin(dim=1)

    return _run(problem, theta, budget, choose, generator=generator, ridge=ridge)


@torch.no_grad()
def baseline_error(name: str, problem: Problem, theta: torch.Tensor, budget: int, *,
                   generator: torch.Generator, reps: int = 8) -> torch.Tensor:
    """Per-instance 0/1 error rate (B,) of baseline ``name`` over ``reps`` episodes."""
    play = {"uniform": uniform_rollout, "greedy": greedy_rollout}[name]
    b = theta.shape[0]
    tiled = theta.to(torch.float64).repeat(reps, 1)
    z_hat = play(problem, tiled, budget, generator=generator)
    return (z_hat != best_hypothesis(problem, tiled)).to(torch.float32).view(reps, b).mean(0)
