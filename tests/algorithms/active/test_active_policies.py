"""Rollout shapes, seeded determinism, baselines vs chance, adversary and MAPO on tiny budgets."""

import torch

from troupe.algorithms.active import (
    TrainSettings,
    adversary_round,
    baseline_error,
    build_policy,
    policy_error,
    reinforce_loss,
    rho_star,
    rollout,
    sample_class,
    thresholds_problem,
    train_class_policy,
    train_robust_policy,
)

PROBLEM = thresholds_problem(6)
TINY = TrainSettings(budget=8, hidden=8, iterations=4, robust_iterations=4, batch_size=6, reps=2, particles=6,
                     class_pool=8, adversary_every=2, final_rounds=1, score_reps=2, prior_scale=(0.3, 30.0))


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_rollout_shapes():
    policy = build_policy(PROBLEM, 16, seed=0)
    theta = torch.randn(5, 6, generator=gen(), dtype=torch.float64)
    roll = rollout(policy, PROBLEM, theta, 7, generator=gen())
    assert roll.queries.shape == (5, 7) and roll.answers.shape == (5, 7)
    assert roll.log_prob.shape == (5,) and roll.entropy.shape == (5,)
    assert roll.logits.shape == (5, PROBLEM.n_hypotheses) and roll.prediction.shape == (5,)
    assert int(roll.queries.max()) < PROBLEM.n_queries


def test_loss_backpropagates_and_is_seeded():
    theta = torch.randn(4, 6, generator=gen(), dtype=torch.float64)
    losses = []
    for _ in range(2):
        policy = build_policy(PROBLEM, 16, seed=1)
        loss, stats = reinforce_loss(policy, PROBLEM, theta, 6, generator=gen(2), reps=3)
        loss.backward()
        assert stats["error"].shape == (4,)
        assert all(p.grad is not None for p in policy.query_head.parameters())
        losses.append(loss.item())
    assert losses[0] == losses[1]


def test_baselines_beat_chance_on_easy_instances():
    theta, _ = sample_class(PROBLEM, 1.0, 64, generator=gen(1), scale=(0.3, 30.0))
    chance = 1 - 1 / PROBLEM.n_hypotheses
    for name in ("uniform", "greedy"):
        error = baseline_error(name, PROBLEM, theta, 12, generator=gen(2), reps=4).mean().item()
        assert error < 0.2 < chance, name
    policy = build_policy(PROBLEM, 16, seed=0)
    assert policy_error(policy, PROBLEM, theta, 12, generator=gen(3), reps=4)[0].mean().item() < 0.3


def test_greedy_beats_uniform_on_hard_instances():
    theta, _ = sample_class(PROBLEM, 10.0, 256, generator=gen(4), scale=(0.3, 30.0))
    uniform = baseline_error("uniform", PROBLEM, theta, 18, generator=gen(5), reps=8).mean()
    greedy = baseline_error("greedy", PROBLEM, theta, 18, generator=gen(5), reps=8).mean()
    assert greedy < uniform


def test_adversary_replaces_easiest_with_hardest_and_stays_in_class():
    theta, _ = sample_class(PROBLEM, 5.0, 8, generator=gen(6), scale=(0.3, 30.0))
    score = torch.arange(8, dtype=torch.float64)  # particle 7 hardest, 0 easiest
    new = adversary_round(PROBLEM, theta, score, 5.0, generator=gen(7), replace_fraction=0.25)
    assert torch.equal(new[2:], theta[2:]) and not torch.equal(new[:2], theta[:2])
    assert bool((rho_star(PROBLEM, new) <= 5.0 * 1.03).all())


def test_mapo_is_seeded():
    a = train_class_policy(PROBLEM, 5.0, TINY, seed=3)
    b = train_class_policy(PROBLEM, 5.0, TINY, seed=3)
    assert a.curve == b.curve and a.worst_loss == b.worst_loss
    assert all(torch.equal(a.state[k], b.state[k]) for k in a.state)
    robust = train_robust_policy(PROBLEM, [2.0, 8.0], [0.1, 0.3], TINY, seed=4)
    assert len(robust.worst_loss) == 2 and len(robust.curve) == 4
    assert all(abs(sum(w) - 1) < 1e-9 for w in robust.weights)
