"""The active-learning worker: trains query policies and evaluates them against baselines.

One call trains one policy (a difficulty class's own policy, the fixed-prior policy or
the robust MAPO policy); one ``evaluate`` call scores every method on one class's
held-out hardest instances. Policies travel as ``state_dict``s (a few tens of kB).
"""

from __future__ import annotations

import torch

from troupe.algorithms.active import (
    BASELINES,
    TrainedPolicy,
    TrainSettings,
    baseline_error,
    derive_seed,
    load_policy,
    make_problem,
    policy_error,
    sample_class,
    train_class_policy,
    train_prior_policy,
    train_robust_policy,
)


def _out(trained: TrainedPolicy) -> dict:
    return {"state": {k: v.detach().clone() for k, v in trained.state.items()}, "curve": trained.curve,
            "worst_loss": trained.worst_loss, "weights": trained.weights}


class PolicyWorker:
    """Holds one problem instance and the training settings; computes on CPU.

    Args:
        problem: keyword arguments of :func:`troupe.algorithms.active.make_problem`.
        settings: fields of :class:`troupe.algorithms.active.TrainSettings`.
    """

    def __init__(self, problem: dict, settings: dict):
        self.problem = make_problem(**problem)
        settings = dict(settings)
        settings["prior_scale"] = tuple(settings["prior_scale"])
        self.settings = TrainSettings(**settings)

    def train_class(self, radius: float, seed: int) -> dict:
        """The policy of ``Theta^(radius)`` against its own adversary."""
        return _out(train_class_policy(self.problem, radius, self.settings, seed=seed))

    def train_prior(self, seed: int) -> dict:
        """The fixed-prior baseline policy."""
        return _out(train_prior_policy(self.problem, self.settings, seed=seed))

    def train_robust(self, radii: list[float], own_worst: list[float], seed: int) -> dict:
        """The robust MAPO policy over all classes, given each class policy's worst-case loss."""
        return _out(train_robust_policy(self.problem, list(radii), list(own_worst), self.settings, seed=seed))

    def evaluate(self, radius: float, policies: dict[str, dict], seed: int, *, instances: int,
                 hardest: int, reps: int) -> dict:
        """Error of each policy and baseline on the ``hardest`` (largest rho*) of ``instances``
        held-out draws from ``Theta^(radius)``; each method gets its own noise stream."""
        g = torch.Generator().manual_seed(seed)
        theta, rho = sample_class(self.problem, radius, instances, generator=g, scale=self.settings.prior_scale)
        top = torch.argsort(rho, descending=True, stable=True)[:hardest]
        theta, rho = theta[top], rho[top]
        errors = {}
        for i, name in enumerate([*policies, *BASELINES]):
            gen = torch.Generator().manual_seed(derive_seed(seed, 100 + i))
            if name in policies:
                policy = load_policy(self.problem, policies[name], self.settings.hidden)
                error, _ = policy_error(policy, self.problem, theta, self.settings.budget, generator=gen, reps=reps)
            else:
                error = baseline_error(name, self.problem, theta, self.settings.budget, generator=gen, reps=reps)
            errors[name] = float(error.mean())
        return {"errors": errors, "rho_min": float(rho.min()), "rho_max": float(rho.max())}
