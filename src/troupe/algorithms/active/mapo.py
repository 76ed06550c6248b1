"""MAPO: per-class policies trained against their adversaries, then one robust policy.

"Learning to Actively Learn: A Robust Approach" (Zhang, Jain, Jamieson, 2020) learns a
policy ``pi`` minimising ``max_k [ L_k(pi) - L_k(pi_k) ]``, where ``L_k`` is the
worst-case loss over difficulty class ``Theta^(r_k)`` and ``pi_k`` the policy trained for
that class alone. What follows is our (partly assumed) implementation:

1. :func:`train_class_policy` (one per class, independent, so they run in parallel):
   a min-max loop. Batches mix the adversary's particles (``adversarial_fraction``) with
   instances drawn once from the class by rejection (so the policy does not forget the
   rest of the class); every ``adversary_every`` steps the particles are rescored by the
   policy's empirical loss and moved (:func:`~troupe.algorithms.active.adversary.adversary_round`).
   ``L_k(pi_k)`` is estimated at the end as the mean error over the adversary's particles,
   after ``final_rounds`` more adversary rounds against the final policy.
2. :func:`train_robust_policy`: one adversary per class, and weights ``w`` over classes
   (start uniform). The loss weighs each class's instances by ``w_k``. Every
   ``adversary_every`` steps each adversary moves, the gaps
   ``g_k = L_k(pi) - L_k(pi_k)`` are re-estimated on the particles and the weights take a
   multiplicative-weights (Hedge) step toward the worst gap, ``w_k <- w_k exp(eta g_k)``,
   normalised. This is the standard no-regret way to minimise a max over finitely many
   objectives (the max over ``k`` is the max over the simplex of ``w``).
3. :func:`train_prior_policy`: the fixed-prior baseline, the same learner trained on a
   single wide prior (:func:`~troupe.algorithms.active.problems.sample_prior`), no adversary.

Each function is pure: seeded by ``seed``, returns tensors and lists, prints nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from troupe.algorithms.active.adversary import adversary_round
from troupe.algorithms.active.complexity import sample_class
from troupe.algorithms.active.policies import (
    QueryPolicy,
    build_policy,
    param_groups,
    policy_error,
    reinforce_loss,
)
from troupe.algorithms.active.problems import Problem, derive_seed, sample_prior


@dataclass(frozen=True)
class TrainSettings:
    """Hyperparameters shared by every policy of a run (see ``ActiveConfig`` for their meaning)."""

    budget: int = 20
    hidden: int = 64
    iterations: int = 500
    robust_iterations: int = 600
    batch_size: int = 64
    reps: int = 4
    lr: float = 3e-3
    scalar_lr: float = 0.1
    entropy_bonus: float = 0.01
    particles: int = 128
    class_pool: int = 1024
    adversarial_fraction: float = 0.5
    adversary_every: int = 25
    final_rounds: int = 4
    replace_fraction: float = 0.25
    perturb: float = 0.2
    score_reps: int = 8
    weights_lr: float = 4.0
    prior_scale: tuple[float, float] = (0.3, 30.0)


@dataclass
class TrainedPolicy:
    """A trained policy's parameters, its training curve and its adversaries' final state.

    ``worst_loss[k]`` is the mean error over class k's adversary particles (one entry for a
    per-class policy, K for the robust one, none for the fixed-prior one).
    """

    state: dict[str, torch.Tensor]
    curve: list[float]
    worst_loss: list[float] = field(default_factory=list)
    particles: list[torch.Tensor] = field(default_factory=list)
    weights: list[list[float]] = field(default_factory=list)


def _fit(policy: QueryPolicy, problem: Problem, s: TrainSettings, iterations: int, *,
         generator: torch.Generator, batch: Callable[[], tuple[torch.Tensor, torch.Tensor | None]],
         every: Callable[[int], None] | None = None) -> list[float]:
    """Adam on :func:`reinforce_loss`; ``every(it)`` runs before steps ``adversary_every, 2*...``."""
    opt = torch.optim.Adam(param_groups(policy, s.lr, s.scalar_lr))
    curve = []
    for it in range(iterations):
        if every is not None and it > 0 and it % s.adversary_every == 0:
            every(it)
        theta, weights = batch()
        loss, _ = reinforce_loss(policy, problem, theta, s.budget, generator=generator, reps=s.reps,
                                 weights=weights, entropy_bonus=s.entropy_bonus)
        opt.zero_grad()
        loss.backward()
        opt.step()
        curve.append(loss.item())
    return curve


def _mix(particles: torch.Tensor, pool: torch.Tensor, count: int, s: TrainSettings,
         generator: torch.Generator) -> torch.Tensor:
    n_adv = int(round(s.adversarial_fraction * count))
    a = torch.randint(len(particles), (n_adv,), generator=generator)
    b = torch.randint(len(pool), (count - n_adv,), generator=generator)
    return torch.cat([particles[a], pool[b]])


def _score(policy: QueryPolicy, problem: Problem, theta: torch.Tensor, s: TrainSettings,
           generator: torch.Generator, reps: int) -> torch.Tensor:
    """Empirical loss per particle: the error rate, ties broken by cross-entropy."""
    error, ce = policy_error(policy, problem, theta, s.budget, generator=generator, reps=reps)
    return error + 1e-3 * ce


class _Adversary:
    """One class's particles and their rounds against a given policy."""

    def __init__(self, problem: Problem, radius: float, s: TrainSettings, generator: torch.Generator):
        self.problem, self.radius, self.s, self.g = problem, radius, s, generator
        self.pool, _ = sample_class(problem, radius, s.class_pool + s.particles, generator=generator,
                                    scale=s.prior_scale)
        self.particles, self.pool = self.pool[:s.particles].clone(), self.pool[s.particles:]

    def round(self, policy: QueryPolicy) -> None:
        score = _score(policy, self.problem, self.particles, self.s, self.g, self.s.score_reps)
        self.particles = adversary_round(self.problem, self.particles, score, self.radius, generator=self.g,
                                         replace_fraction=self.s.replace_fraction, perturb=self.s.perturb)

    def worst_loss(self, policy: QueryPolicy) -> float:
        error, _ = policy_error(policy, self.problem, self.particles, self.s.budget, generator=self.g,
                                reps=4 * self.s.score_reps)
        return float(error.mean())


def train_class_policy(problem: Problem, radius: float, s: TrainSettings, *, seed: int) -> TrainedPolicy:
    """The policy ``pi_k`` for ``Theta^(r_k)``, trained against its own adversary."""
    g = torch.Generator().manual_seed(seed)
    policy = build_policy(problem, s.hidden, seed=derive_seed(seed, 1))
    adversary = _Adversary(problem, radius, s, g)
    curve = _fit(policy, problem, s, s.iterations, generator=g,
                 batch=lambda: (_mix(adversary.particles, adversary.pool, s.batch_size, s, g), None),
                 every=lambda it: adversary.round(policy))
    for _ in range(s.final_rounds):
        adversary.round(policy)
    return TrainedPolicy(policy.state_dict(), curve, [adversary.worst_loss(policy)], [adversary.particles])


def train_robust_policy(problem: Problem, radii: list[float], own_worst: list[float], s: TrainSettings, *,
                        seed: int) -> TrainedPolicy:
    """The MAPO policy: minimises ``max_k [L_k(pi) - own_worst[k]]`` over all classes."""
    g = torch.Generator().manual_seed(seed)
    policy = build_policy(problem, s.hidden, seed=derive_seed(seed, 1))
    adversaries = [_Adversary(problem, r, s, g) for r in radii]
    k = len(radii)
    own = torch.tensor(own_worst, dtype=torch.float64)
    state = {"w": torch.full((k,), 1.0 / k, dtype=torch.float64)}
    history = [state["w"].tolist()]
    per_class = max(1, s.batch_size // k)

    def batch():
        theta = torch.cat([_mix(a.particles, a.pool, per_class, s, g) for a in adversaries])
        weights = state["w"].repeat_interleave(per_class) * k
        return theta, weights

    def every(_it):
        for a in adversaries:
            a.round(policy)
        worst = torch.tensor([a.worst_loss(policy) for a in adversaries], dtype=torch.float64)
        w = state["w"] * torch.exp(s.weights_lr * (worst - own))
        state["w"] = w / w.sum()
        history.append(state["w"].tolist())

    curve = _fit(policy, problem, s, s.robust_iterations, generator=g, batch=batch, every=every)
    for _ in range(s.final_rounds):
        for a in adversaries:
            a.round(policy)
    worst = [a.worst_loss(policy) for a in adversaries]
    return TrainedPolicy(policy.state_dict(), curve, worst, [a.particles for a in adversaries], history)


def train_prior_policy(problem: Problem, s: TrainSettings, *, seed: int) -> TrainedPolicy:
    """The fixed-prior baseline: the same learner on fresh draws of the wide prior, no adversary."""
    g = torch.Generator().manual_seed(seed)
    policy = build_policy(problem, s.hidden, seed=derive_seed(seed, 1))
    curve = _fit(policy, problem, s, s.iterations, generator=g,
                 batch=lambda: (sample_prior(problem, s.batch_size, generator=g, scale=s.prior_scale), None))
    return TrainedPolicy(policy.state_dict(), curve)


def load_policy(problem: Problem, state: dict[str, torch.Tensor], hidden: int) -> QueryPolicy:
    """A policy module from a :class:`TrainedPolicy` state."""
    policy = QueryPolicy(problem.n_queries, problem.n_hypotheses, hidden)
    policy.load_state_dict(state)
    return policy.eval()
