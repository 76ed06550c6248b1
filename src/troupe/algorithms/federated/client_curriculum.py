"""Client curriculum: which clients may be sampled in a round.

From "When Do Curricula Work in Federated Learning?" (Vahidian et al., ICCV 2023):
every client is scored by the mean loss of its data under the global model; the
clients are sorted (curriculum = easiest first, anti, random); the pool of
eligible clients is the first g(round) of that order, where g is a pacing function
over the budget of rounds; each round's cohort is sampled from the pool.
Making the pool at least as large as the cohort is the caller's business
(``sample_cohort`` clips the cohort to the pool).
"""

from __future__ import annotations

import numpy as np

from troupe.algorithms.federated.curriculum import order_examples
from troupe.algorithms.federated.pacing import pacing as pacing_size


def eligible_clients(
    client_scores: np.ndarray,
    order: str,
    *,
    round: int,
    total_rounds: int,
    pacing: str,
    a: float,
    b: float,
    seed: int | np.random.Generator,
) -> np.ndarray:
    """Ids of the clients eligible this round, in curriculum order.

    Args:
        client_scores: difficulty per client id (e.g. mean loss under the global model).
        order: ``curriculum``, ``anti``, ``random`` or ``none`` (all clients, id order).
        round: current round (0-based), the pacing step.
        total_rounds: the budget of rounds, the pacing T.
        pacing: a name in ``PACINGS``.
        a, b: pacing parameters.
        seed: seed or generator for the ``random`` order.

    Returns:
        int64 client ids, the first g(round) of the order. (Vahidian et al., ICCV 2023.)
    """
    ids = order_examples(client_scores, order, seed=seed)
    if order == "none":
        return ids
    size = pacing_size(pacing, round, n=len(ids), total_steps=total_rounds, a=a, b=b)
    return ids[:size]


def sample_cohort(pool: np.ndarray, k: int, *, seed: int | np.random.Generator) -> np.ndarray:
    """Sample min(k, len(pool)) distinct client ids from the pool; returned sorted."""
    pool = np.asarray(pool, dtype=np.int64)
    k = max(0, min(int(k), len(pool)))
    chosen = np.random.default_rng(seed).choice(pool, size=k, replace=False)
    return np.sort(chosen)
