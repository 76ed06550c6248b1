"""Factories: the seeded Optuna sampler and the Tune trial scheduler a sweep asks for."""

from __future__ import annotations

import optuna
from ray.tune.schedulers import ASHAScheduler, MedianStoppingRule, TrialScheduler

from troupe.config import SweepConfig


def make_sampler(name: str, seed: int, *, objectives: int = 1, samples: int = 100) -> optuna.samplers.BaseSampler:
    """``tpe|random|cmaes|nsga2`` seeded with ``seed``.

    NSGA-II (Deb et al., "A fast and elitist multiobjective genetic algorithm: NSGA-II",
    2002) gets a population of at most a quarter of the budget, so small sweeps still evolve.
    """
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=max(2, min(50, samples // 4)))
    raise ValueError(f"unknown searcher {name!r}")


def make_scheduler(sweep: SweepConfig, metric: str, mode: str, *, max_t: int) -> TrialScheduler | None:
    """``none`` (first in, first out), ``asha`` or ``median``, stopping on ``metric`` per report.

    ``max_t`` is the number of reports of a full trial; ASHA's budget is one more, so that
    only its rungs stop trials and a trial that reported everything finishes by itself.

    ASHA: Li et al., "A System for Massively Parallel Hyperparameter Tuning", 2020.
    Median stopping: Golovin et al., "Google Vizier", 2017.
    """
    if sweep.scheduler == "none":
        return None
    if sweep.scheduler == "asha":
        return ASHAScheduler(time_attr="training_iteration", metric=metric, mode=mode,
                             max_t=max(max_t, sweep.grace_period) + 1, grace_period=sweep.grace_period)
    if sweep.scheduler == "median":
        return MedianStoppingRule(time_attr="training_iteration", metric=metric, mode=mode,
                                  grace_period=sweep.grace_period, min_samples_required=3)
    raise ValueError(f"unknown scheduler {sweep.scheduler!r}")
