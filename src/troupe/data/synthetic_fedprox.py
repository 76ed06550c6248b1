"""Synthetic(alpha, beta): the heterogeneous federated dataset of FedProx.

From "Federated Optimization in Heterogeneous Networks" (Li et al., MLSys 2020),
following their generator (github litian96/FedProx, data/synthetic*): for client k

    u_k ~ N(0, alpha),  W_k ~ N(u_k, 1) [dim x classes],  b_k ~ N(u_k, 1) [classes]
    B_k ~ N(0, beta),   v_k ~ N(B_k, 1) [dim],            x ~ N(v_k, Sigma), Sigma_jj = j^-1.2
    y = argmax softmax(x W_k + b_k)

alpha controls how much the local models differ, beta how much the local inputs
differ. As in their code, the second argument of N(., .) is used as a standard
deviation. ``iid=True`` is their Synthetic-IID: one shared W, b and v = 0.

Sample sizes: their code draws lognormal(4, 2) + 50 per client (mean ~ 450, a
heavy tail). So that 10,000 clients stay cheap, sizes here are
``min_samples + lognormal(mu, sigma)`` with mu set so the mean is about
``samples_per_client``, capped at ``max_samples``.
"""

from __future__ import annotations

import numpy as np


def synthetic_fedprox(
    *,
    alpha: float,
    beta: float,
    clients: int,
    seed: int,
    dim: int = 60,
    classes: int = 10,
    samples_per_client: float = 60.0,
    min_samples: int = 10,
    max_samples: int = 2000,
    sigma: float = 2.0,
    iid: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Generate Synthetic(alpha, beta) (Li et al., MLSys 2020).

    Args:
        alpha, beta: model and input heterogeneity (the paper uses (0,0), (0.5,0.5), (1,1)).
        clients: number of clients.
        seed: makes the data deterministic.
        dim, classes: input size and number of classes (60 and 10 in the paper).
        samples_per_client: approximate mean examples per client.
        min_samples, max_samples: bounds on each client's size.
        sigma: the lognormal's shape (2 as in the paper's code).
        iid: Synthetic-IID (shared model, centred inputs).

    Returns:
        x float32 [N, dim], y int64 [N], client_ids int64 [N] (contiguous, sorted).
    """
    if clients < 1:
        raise ValueError(f"clients must be >= 1, got {clients}")
    if not 1 <= min_samples <= max_samples:
        raise ValueError(f"need 1 <= min_samples <= max_samples; got {min_samples}, {max_samples}")
    if samples_per_client <= min_samples:
        raise ValueError(
            f"samples_per_client ({samples_per_client}) must exceed min_samples ({min_samples})"
        )
    if alpha < 0 or beta < 0:
        raise ValueError(f"alpha and beta must be >= 0; got {alpha}, {beta}")
    rng = np.random.default_rng(seed)
    mu = np.log(samples_per_client - min_samples) - sigma**2 / 2  # E[lognormal] = e^{mu + s^2/2}
    sizes = min_samples + rng.lognormal(mu, sigma, clients).astype(np.int64)
    sizes = np.minimum(sizes, max_samples)

    if iid:
        w = np.broadcast_to(rng.normal(0.0, 1.0, (dim, classes)), (clients, dim, classes))
        b = np.broadcast_to(rng.normal(0.0, 1.0, classes), (clients, classes))
        v = np.zeros((clients, dim))
    else:
        u = rng.normal(0.0, alpha, clients)
        w = u[:, None, None] + rng.standard_normal((clients, dim, classes))
        b = u[:, None] + rng.standard_normal((clients, classes))
        big_b = rng.normal(0.0, beta, clients)
        v = big_b[:, None] + rng.standard_normal((clients, dim))

    client_ids = np.repeat(np.arange(clients, dtype=np.int64), sizes)
    std = (np.arange(1, dim + 1, dtype=np.float64) ** -0.6).astype(np.float32)  # sqrt(j^-1.2)
    # float32 noise: half the memory and time of float64 at 10,000 clients
    x = rng.standard_normal((len(client_ids), dim), dtype=np.float32)
    x *= std
    x += v.astype(np.float32)[client_ids]

    # argmax of softmax is argmax of the logits; computed per client to keep memory O(N)
    y = np.empty(len(client_ids), dtype=np.int64)
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    for k in range(clients):
        lo, hi = bounds[k], bounds[k + 1]
        y[lo:hi] = np.argmax(x[lo:hi] @ w[k].astype(np.float32) + b[k], axis=1)
    return x, y, client_ids
