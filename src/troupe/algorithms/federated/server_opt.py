"""Server optimizers: apply the round's aggregated delta to the global model.

Optax-style pairs: ``opt = server_adam(eta=0.1)``; ``state = opt.init(global_params)``;
``new_global, state = opt.step(global_params, avg_delta, state)``. The averaged
delta plays the role of a negative pseudo-gradient ("Adaptive Federated
Optimization", Reddi et al., ICLR 2021).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from troupe.algorithms.federated.params import (
    Params,
    tree_add_scaled,
    tree_zeros_like,
)


class ServerOptimizer(NamedTuple):
    """An init/step pair; ``step(global, avg_delta, state) -> (new_global, state)``."""

    init: Callable[[Params], Any]
    step: Callable[[Params, Params, Any], tuple[Params, Any]]


class MomentumState(NamedTuple):
    """Server momentum buffer v (FedAvgM)."""

    velocity: Params


class AdaptiveState(NamedTuple):
    """First and second moment estimates m, v (FedAdam, FedYogi, FedAdagrad)."""

    m: Params
    v: Params


def server_sgd(lr: float = 1.0) -> ServerOptimizer:
    """new = global + lr * avg_delta; lr = 1 is FedAvg.

    From "Communication-Efficient Learning of Deep Networks from Decentralized Data"
    (McMahan et al., 2017) with the server learning rate of Reddi et al. (ICLR 2021).
    """

    def init(global_params: Params) -> tuple[()]:
        return ()

    def step(global_params: Params, delta: Params, state: tuple[()]) -> tuple[Params, tuple[()]]:
        return tree_add_scaled(global_params, lr, delta), state

    return ServerOptimizer(init, step)


def server_momentum(lr: float = 1.0, beta: float = 0.9) -> ServerOptimizer:
    """FedAvgM: v = beta * v + avg_delta; new = global + lr * v.

    From "Measuring the Effects of Non-Identical Data Distribution for Federated
    Visual Classification" (Hsu, Qi, Brown, 2019).
    """

    def init(global_params: Params) -> MomentumState:
        return MomentumState(tree_zeros_like(global_params))

    def step(global_params: Params, delta: Params, state: MomentumState):
        v = {k: beta * state.velocity[k] + delta[k] for k in delta}
        return tree_add_scaled(global_params, lr, v), MomentumState(v)

    return ServerOptimizer(init, step)


def _adaptive(second_moment: Callable, eta: float, beta_1: float, tau: float) -> ServerOptimizer:
    # The three adaptive variants differ only in how v is updated (Reddi et al., Alg. 2).
    def init(global_params: Params) -> AdaptiveState:
        return AdaptiveState(tree_zeros_like(global_params), tree_zeros_like(global_params))

    def step(global_params: Params, delta: Params, state: AdaptiveState):
        m = {k: beta_1 * state.m[k] + (1 - beta_1) * delta[k] for k in delta}
        v = {k: second_moment(state.v[k], delta[k]) for k in delta}
        new = {k: global_params[k] + eta * m[k] / (v[k].sqrt() + tau) for k in global_params}
        return new, AdaptiveState(m, v)

    return ServerOptimizer(init, step)


def server_adagrad(eta: float = 1e-1, beta_1: float = 0.0, tau: float = 1e-9) -> ServerOptimizer:
    """FedAdagrad: m = b1 m + (1 - b1) d; v = v + d^2; new = global + eta m / (sqrt(v) + tau).

    From "Adaptive Federated Optimization" (Reddi et al., ICLR 2021). beta_1 = 0 by
    default, as in Flower's FedAdagrad (no momentum).
    """
    return _adaptive(lambda v, d: v + d * d, eta, beta_1, tau)


def server_adam(
    eta: float = 1e-1, beta_1: float = 0.9, beta_2: float = 0.99, tau: float = 1e-9
) -> ServerOptimizer:
    """FedAdam: v = b2 v + (1 - b2) d^2, no bias correction (Reddi et al., ICLR 2021, Alg. 2).

    "Adaptive Federated Optimization" (Reddi et al., ICLR 2021); defaults from Flower.
    """
    return _adaptive(lambda v, d: beta_2 * v + (1 - beta_2) * d * d, eta, beta_1, tau)


def server_yogi(
    eta: float = 1e-1, beta_1: float = 0.9, beta_2: float = 0.99, tau: float = 1e-9
) -> ServerOptimizer:
    """FedYogi: v = v - (1 - b2) d^2 sign(v - d^2).

    "Adaptive Federated Optimization" (Reddi et al., ICLR 2021); defaults as FedAdam.
    """
    return _adaptive(lambda v, d: v - (1 - beta_2) * d * d * (v - d * d).sign(), eta, beta_1, tau)
