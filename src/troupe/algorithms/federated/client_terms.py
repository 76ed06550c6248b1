"""What strategies change on the client side: FedProx's penalty, SCAFFOLD's control
variates, FedNova's normalizer.

These are used inside local training (``fedprox_penalty``, ``scaffold_correct_grad``)
or right after it (``scaffold_client_control``, ``fednova_normalizer``); the server
side of each strategy lives in ``strategies.py``.
"""

from __future__ import annotations

import torch

from troupe.algorithms.federated.params import Params, tree_sq_norm


def fedprox_penalty(params: Params, global_params: Params, mu: float) -> torch.Tensor:
    """mu / 2 * ||w - w_global||^2, added to the client loss (differentiable in params).

    From "Federated Optimization in Heterogeneous Networks" (Li et al., MLSys 2020).
    """
    diff = {k: params[k] - global_params[k].detach() for k in params}
    return 0.5 * mu * tree_sq_norm(diff)


def scaffold_correct_grad(grad: Params, c: Params, c_i: Params) -> Params:
    """SCAFFOLD's corrected local gradient g + c - c_i.

    From "SCAFFOLD: Stochastic Controlled Averaging for Federated Learning"
    (Karimireddy et al., ICML 2020).
    """
    return {k: grad[k] + c[k] - c_i[k] for k in grad}


def scaffold_client_control(
    c_i: Params,
    c: Params,
    global_params: Params,
    local_params: Params,
    *,
    local_steps: int,
    lr: float,
) -> Params:
    """SCAFFOLD option II: c_i+ = c_i - c + (x - y_i) / (K * lr).

    Args:
        c_i: this client's control variate before the round.
        c: the server control variate sent this round.
        global_params: x, the global model the client started from.
        local_params: y_i, the client's model after K local steps.
        local_steps: K.
        lr: the local learning rate.

    Returns:
        The new c_i; the client reports ``c_i+ - c_i`` to the server.
        (Karimireddy et al., ICML 2020, eq. (4) option II.)
    """
    if local_steps < 1 or lr <= 0:
        raise ValueError(f"need local_steps >= 1 and lr > 0; got {local_steps}, {lr}")
    scale = 1.0 / (local_steps * lr)
    return {k: c_i[k] - c[k] + scale * (global_params[k] - local_params[k]) for k in c_i}


def fednova_normalizer(local_steps: int, momentum: float = 0.0) -> float:
    """FedNova's a_i: tau_i for plain SGD; (tau - rho(1 - rho^tau)/(1 - rho)) / (1 - rho) with momentum rho.

    From "Tackling the Objective Inconsistency Problem in Heterogeneous Federated
    Optimization" (Wang et al., NeurIPS 2020); a_i is the l1 norm of the client's
    vector of accumulated step weights.
    """
    if local_steps < 1:
        raise ValueError(f"FedNova needs local_steps >= 1, got {local_steps}")
    rho = float(momentum)
    if not 0 <= rho < 1:
        raise ValueError(f"FedNova needs 0 <= momentum < 1, got {momentum}")
    tau = float(local_steps)
    if rho == 0:
        return tau
    return (tau - rho * (1 - rho**tau) / (1 - rho)) / (1 - rho)
