"""Active learning as a transductive linear bandit: problems, complexity and difficulty
classes, recurrent query policies, particle adversaries, MAPO training and classic
baselines ("Learning to Actively Learn: A Robust Approach", Zhang, Jain, Jamieson, 2020)."""

from troupe.algorithms.active.adversary import adversary_round
from troupe.algorithms.active.baselines import (
    BASELINES,
    baseline_error,
    greedy_rollout,
    plugin_objective,
    uniform_rollout,
)
from troupe.algorithms.active.complexity import (
    complexity,
    in_class,
    project_to_class,
    rho_star,
    sample_class,
)
from troupe.algorithms.active.mapo import (
    TrainedPolicy,
    TrainSettings,
    load_policy,
    train_class_policy,
    train_prior_policy,
    train_robust_policy,
)
from troupe.algorithms.active.policies import (
    QueryPolicy,
    Rollout,
    build_policy,
    param_groups,
    policy_error,
    reinforce_loss,
    rollout,
)
from troupe.algorithms.active.problems import (
    Problem,
    best_hypothesis,
    derive_seed,
    least_squares,
    make_problem,
    observe,
    random_arms_problem,
    sample_prior,
    simple_regret,
    thresholds_problem,
    zero_one_loss,
)

__all__ = [
    "BASELINES", "Problem", "QueryPolicy", "Rollout", "TrainSettings", "TrainedPolicy", "adversary_round",
    "baseline_error", "best_hypothesis", "build_policy", "complexity", "derive_seed", "greedy_rollout",
    "in_class", "least_squares", "load_policy", "make_problem", "observe", "param_groups", "plugin_objective",
    "policy_error", "project_to_class", "random_arms_problem", "reinforce_loss", "rho_star", "rollout",
    "sample_class", "sample_prior", "simple_regret", "thresholds_problem", "train_class_policy",
    "train_prior_policy", "train_robust_policy", "uniform_rollout", "zero_one_loss",
]
