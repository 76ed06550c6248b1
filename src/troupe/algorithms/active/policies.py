"""A recurrent active-learning policy: which query next, and which hypothesis at the end.

The paper ("Learning to Actively Learn: A Robust Approach", Zhang, Jain, Jamieson, 2020)
describes the policy as a recurrent network over the history of (query, answer) pairs,
with a softmax over the ``n`` queries at each step and a final prediction of ``z``; the
details below are assumed:

- A GRU cell reads, after each answer, the one-hot query, the one-hot scaled by the answer
  ``y / sigma``, the running per-query counts (``/ T``) and the plug-in scores
  ``(<z, theta_hat> - max_z' <z', theta_hat>) / sigma`` of the ridge least-squares estimate,
  squashed by ``tanh(. / 4)``. Counts and ``theta_hat`` are sufficient statistics of the
  history; handing them to the network makes a few hundred training steps enough (the GRU
  still sees the full sequence).
- The query head is a linear softmax over the ``n`` queries, minus a learned multiple
  (``spread``, initially 3) of each query's count so far, plus a learned multiple
  (``focus``, initially 0) of the relative reduction each query would bring to the plug-in
  objective of the XY-style greedy (:func:`~troupe.algorithms.active.baselines.plugin_objective`).
  An untrained policy thus spreads its queries almost like round-robin instead of sampling
  them i.i.d., and can learn how far to move toward (or away from) the greedy's choice
  per state. The prediction head is the
  plug-in score times a learned temperature plus a small MLP correction over the final
  state, so an untrained policy already predicts like least squares and training mostly
  learns *where to query*.
- Training (:func:`reinforce_loss`): cross-entropy of the prediction head against
  ``z*(theta)``, plus REINFORCE for the query choices with reward ``p(z* | history)``, the
  probability the prediction head gives the right answer (a bounded, smooth proxy of
  ``1 - loss``), a leave-one-out baseline over ``reps`` rollouts of the same instance and
  advantages scaled to unit batch std, plus a small entropy bonus. The answers do not depend on
  the parameters, so the prediction term's gradient is exact and only the discrete query
  choices need the score-function estimator.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from troupe.algorithms.active.baselines import plugin_objective
from troupe.algorithms.active.problems import Problem, best_hypothesis, observe


class QueryPolicy(nn.Module):
    """GRU policy over ``n`` queries predicting one of ``m`` hypotheses."""

    def __init__(self, n_queries: int, n_hypotheses: int, hidden: int = 64):
        super().__init__()
        self.n, self.m, self.hidden = n_queries, n_hypotheses, hidden
        self.cell = nn.GRUCell(3 * n_queries + n_hypotheses, hidden)
        self.query_head = nn.Linear(hidden, n_queries)
        self.predict_head = nn.Sequential(nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, n_hypotheses))
        self.temperature = nn.Parameter(torch.ones(()))
        self.spread = nn.Parameter(torch.full((), 3.0))
        self.focus = nn.Parameter(torch.zeros(()))


def build_policy(problem: Problem, hidden: int, *, seed: int) -> QueryPolicy:
    """A freshly initialised policy for ``problem`` (initialisation seeded)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return QueryPolicy(problem.n_queries, problem.n_hypotheses, hidden)


@dataclass
class Rollout:
    """A batch of episodes: queries and answers ``(B, T)``, the summed log-probability and
    mean entropy of the query choices ``(B,)`` and the prediction logits ``(B, m)``."""

    queries: torch.Tensor
    answers: torch.Tensor
    log_prob: torch.Tensor
    entropy: torch.Tensor
    logits: torch.Tensor

    @property
    def prediction(self) -> torch.Tensor:
        return self.logits.argmax(dim=1)


def _plugin_scores(problem: Problem, gram_inv: torch.Tensor, moment: torch.Tensor) -> torch.Tensor:
    """``(<z, theta_hat> - max_z <z, theta_hat>) / sigma`` of the ridge estimate, (B, m)."""
    theta_hat = (gram_inv @ moment[..., None]).squeeze(-1)
    scores = theta_hat @ problem.z.to(theta_hat.dtype).T
    return ((scores - scores.amax(dim=1, keepdim=True)) / problem.sigma).to(torch.float32)


def rollout(policy: QueryPolicy, problem: Problem, theta: torch.Tensor, budget: int, *,
            generator: torch.Generator, ridge: float = 1e-6) -> Rollout:
    """Run ``budget`` queries of ``policy`` on every instance of ``theta`` (B, d) at once."""
    b, n, d = theta.shape[0], problem.n_queries, problem.dim
    x = problem.x.to(torch.float64)
    theta = theta.to(torch.float64)
    h = torch.zeros(b, policy.hidden)
    inp = torch.zeros(b, 3 * n + problem.n_hypotheses)
    counts = torch.zeros(b, n)
    gram_inv = torch.eye(d, dtype=torch.float64).expand(b, d, d) / ridge
    moment = torch.zeros(b, d, dtype=torch.float64)
    queries, answers, log_probs, entropies = [], [], [], []
    for _ in range(budget):
        h = policy.cell(inp, h)
        now, after = plugin_objective(problem, gram_inv, (gram_inv @ moment[..., None]).squeeze(-1))
        reduction = (1 - after / now.clamp_min(1e-12)[:, None]).to(torch.float32)
        logits = policy.query_head(h) - policy.spread * counts + policy.focus * 10 * reduction
        log_p = F.log_softmax(logits, dim=1)
        q = torch.multinomial(log_p.detach().exp(), 1, generator=generator).squeeze(1)
        y = observe(problem, theta, q, generator=generator)
        xq = x[q]
        ax = (gram_inv @ xq[..., None]).squeeze(-1)  # Sherman-Morrison update of (X^T X + ridge)^-1
        gram_inv = gram_inv - ax[:, :, None] * ax[:, None, :] / (1 + (xq * ax).sum(1))[:, None, None]
        moment = moment + xq * y[:, None]
        onehot = F.one_hot(q, n).to(torch.float32)
        counts = counts + onehot
        scores = _plugin_scores(problem, gram_inv, moment)
        y32 = (y / problem.sigma).to(torch.float32)
        inp = torch.cat([onehot, onehot * torch.tanh(y32[:, None] / 4), counts / budget,
                         torch.tanh(scores / 4)], dim=1)
        queries.append(q)
        answers.append(y)
        log_probs.append(log_p.gather(1, q[:, None]).squeeze(1))
        entropies.append(-(log_p.exp() * log_p).sum(1))
    h = policy.cell(inp, h)
    logits = policy.temperature * _plugin_scores(problem, gram_inv, moment) + policy.predict_head(h)
    return Rollout(torch.stack(queries, 1), torch.stack(answers, 1), torch.stack(log_probs, 1).sum(1),
                   torch.stack(entropies, 1).mean(1), logits)


def reinforce_loss(policy: QueryPolicy, problem: Problem, theta: torch.Tensor, budget: int, *,
                   generator: torch.Generator, reps: int = 4, weights: torch.Tensor | None = None,
                   entropy_bonus: float = 0.01) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The training loss on instances ``theta`` (B, d), each rolled out ``reps`` times.

    ``weights`` (B,) weigh instances (the robust policy weighs difficulty classes).
    Returns ``(loss, {"ce": (B,), "error": (B,)})`` with per-instance means over the reps.
    """
    b = theta.shape[0]
    target = best_hypothesis(problem, theta).repeat(reps)
    roll = rollout(policy, problem, theta.repeat(reps, 1), budget, generator=generator)
    ce = F.cross_entropy(roll.logits, target, reduction="none")  # (reps * B,)
    reward = torch.exp(-ce.detach()).view(reps, b)  # the probability given to z*: bounded in [0, 1]
    baseline = (reward.sum(0, keepdim=True) - reward) / max(reps - 1, 1) if reps > 1 else reward.mean()
    advantage = (reward - baseline).view(-1)
    advantage = advantage / (advantage.std() + 1e-6)
    per_rollout = ce - advantage * roll.log_prob - entropy_bonus * roll.entropy
    w = torch.ones(b) if weights is None else weights.to(torch.float32)
    w = (w / w.sum()).repeat(reps) / reps
    loss = (w * per_rollout).sum()
    error = (roll.prediction != target).to(torch.float32)
    return loss, {"ce": ce.detach().view(reps, b).mean(0), "error": error.view(reps, b).mean(0)}


@torch.no_grad()
def policy_error(policy: QueryPolicy, problem: Problem, theta: torch.Tensor, budget: int, *,
                 generator: torch.Generator, reps: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-instance 0/1 error rate and cross-entropy over ``reps`` episodes: ``((B,), (B,))``."""
    b = theta.shape[0]
    target = best_hypothesis(problem, theta).repeat(reps)
    roll = rollout(policy, problem, theta.repeat(reps, 1), budget, generator=generator)
    error = (roll.prediction != target).to(torch.float32).view(reps, b).mean(0)
    ce = F.cross_entropy(roll.logits, target, reduction="none").view(reps, b).mean(0)
    return error, ce


def param_groups(policy: QueryPolicy, lr: float, scalar_lr: float) -> list[dict]:
    """Optimizer groups: the networks at ``lr``; the scalars ``temperature``, ``spread`` and
    ``focus`` at ``scalar_lr`` (one number each, so a larger step is safe and lets the
    allocation move from round-robin toward adaptive within a few hundred steps)."""
    scalars = [policy.temperature, policy.spread, policy.focus]
    ids = {id(p) for p in scalars}
    return [{"params": [p for p in policy.parameters() if id(p) not in ids], "lr": lr},
            {"params": scalars, "lr": scalar_lr}]
