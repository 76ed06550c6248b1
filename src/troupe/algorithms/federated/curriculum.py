"""Data curricula for local training: order the examples, then pace them into batches.

From "When Do Curricula Work in Federated Learning?" (Vahidian et al., ICCV 2023).
A client scores each local example (its loss under a scoring model; low = easy),
orders them, and at local step t trains on the first max(g(t), batch) examples of
that order, reshuffled within the prefix on every pass.

Assumptions, following the reference code (github sreevatsank1999/Curriculum-FL):
- g is evaluated at the start of each pass over the current prefix, not at every
  step; a pass is a seeded permutation of the prefix cut into batches of
  ``batch_size`` (the last, partial batch kept).
- A curriculum run stops after exactly T = ``local_total_steps`` steps, truncating
  the final pass (the reference finishes the pass and may overshoot T).
- Order ``none`` means plain training: ``local_epochs`` shuffled passes over all n
  examples, without pacing; callers select it with ``pacing="none"``.
- ``random`` is a random order that is still paced (the paper's random curriculum).
"""

from __future__ import annotations

import numpy as np

from troupe.algorithms.federated.pacing import local_total_steps
from troupe.algorithms.federated.pacing import pacing as pacing_size

ORDERS = ("none", "curriculum", "anti", "random")


def order_examples(
    scores: np.ndarray, order: str, *, seed: int | np.random.Generator
) -> np.ndarray:
    """Indices of the examples in training order.

    Args:
        scores: difficulty per example (higher = harder), shape [n].
        order: ``curriculum`` (easy first), ``anti`` (hard first), ``random``
            (seeded permutation) or ``none`` (index order; training is unpaced).
        seed: seed or generator, used by ``random`` only.

    Returns:
        int64 array of length n. (Vahidian et al., ICCV 2023.)
    """
    scores = np.asarray(scores)
    n = scores.shape[0]
    if order == "curriculum":
        return np.argsort(scores, kind="stable").astype(np.int64)
    if order == "anti":
        # argsort of -scores (not the reversed ascending order) keeps ties in index order
        return np.argsort(-scores, kind="stable").astype(np.int64)
    if order == "random":
        return np.random.default_rng(seed).permutation(n).astype(np.int64)
    if order == "none":
        return np.arange(n, dtype=np.int64)
    raise ValueError(f"unknown order {order!r}; known: {list(ORDERS)}")


def _batches(idx: np.ndarray, batch_size: int) -> list[np.ndarray]:
    return [idx[i : i + batch_size] for i in range(0, len(idx), batch_size)]


def curriculum_batches(
    order_idx: np.ndarray,
    *,
    pacing: str,
    batch_size: int,
    local_epochs: int,
    a: float,
    b: float,
    seed: int | np.random.Generator,
    n: int | None = None,
) -> list[np.ndarray]:
    """The minibatches (arrays of example indices) of one client's local training.

    Args:
        order_idx: examples in training order, from ``order_examples``.
        pacing: a name in ``PACINGS``, or ``"none"`` for plain shuffled epochs.
        batch_size: examples per step.
        local_epochs: E in T = (n // batch + 1) * E.
        a, b: pacing parameters (the paper's default is linear, a=0.8, b=0.2).
        seed: seed or generator for the within-prefix shuffles.
        n: number of examples; defaults to (and must equal) len(order_idx).

    Returns:
        A list of int64 index arrays. With pacing it has exactly
        ``local_total_steps(n, batch_size, local_epochs)`` entries; without pacing
        ``local_epochs * ceil(n / batch_size)``. (Vahidian et al., ICCV 2023.)
    """
    order_idx = np.asarray(order_idx, dtype=np.int64)
    if n is None:
        n = len(order_idx)
    if n != len(order_idx):
        raise ValueError(f"n={n} but order_idx has {len(order_idx)} entries")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    rng = np.random.default_rng(seed)
    if n == 0:
        return []
    if pacing == "none":
        out: list[np.ndarray] = []
        for _ in range(local_epochs):
            out.extend(_batches(order_idx[rng.permutation(n)], batch_size))
        return out

    total = local_total_steps(n, batch_size, local_epochs)
    out = []
    while len(out) < total:
        m = pacing_size(pacing, len(out), n=n, total_steps=total, a=a, b=b, batch_size=batch_size)
        prefix = order_idx[:m][rng.permutation(m)]
        out.extend(_batches(prefix, batch_size)[: total - len(out)])
    return out
