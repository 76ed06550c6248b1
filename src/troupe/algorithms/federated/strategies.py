"""Federated strategies: a client-side contribution, a reduction, a server optimizer.

One round loop drives every strategy through the same verbs::

    strategy = make_strategy("fedadam", eta=0.1)
    state = strategy.init(global_params)
    # each client, after local training (with strategy.proximal_mu and, for
    # SCAFFOLD, state.control in its loss / gradient):
    part = strategy.contribute(delta, n_examples, local_steps=K, control_delta=dc)
    # a worker keeps a running sum over its chunk: acc = add_sums(acc, part)
    # (or, if strategy.needs_client_deltas, a list of the parts)
    new_global, state = strategy.aggregate(global_params, sum_all(chunks), state)

Linear strategies (fedavg, fedavgm, fedprox, fedadam, fedyogi, fedadagrad,
scaffold, fednova) aggregate one ``ClientSums`` (the chunk sums added in a fixed
order). Robust ones (median, trimmed_mean, krum) set ``needs_client_deltas`` and
aggregate a sequence of single-client ``ClientSums`` in cohort order.
``aggregate_clients`` does the whole thing from per-client deltas.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from troupe.algorithms.federated.aggregate import coordinate_median, krum, trimmed_mean
from troupe.algorithms.federated.client_terms import fednova_normalizer
from troupe.algorithms.federated.params import (
    Params,
    tree_add_scaled,
    tree_scale,
    tree_zeros_like,
)
from troupe.algorithms.federated.server_opt import (
    ServerOptimizer,
    server_adagrad,
    server_adam,
    server_momentum,
    server_sgd,
    server_yogi,
)
from troupe.algorithms.federated.sums import (
    ClientSums,
    client_sums,
    mean_delta,
    single_delta,
    sum_all,
)

Updates = ClientSums | Sequence[ClientSums]


class StrategyState(NamedTuple):
    """Server state between rounds: the optimizer's state and SCAFFOLD's control c."""

    opt: Any
    control: Params | None = None


class Strategy(NamedTuple):
    """The verbs a round loop calls; build one with a factory or ``make_strategy``.

    Attributes:
        name: registry name.
        needs_client_deltas: aggregate takes a sequence of single-client sums.
        init: global_params -> StrategyState.
        contribute: (delta, n_examples, *, local_steps, control_delta) -> ClientSums.
        aggregate: (global_params, updates, state) -> (new_global, state).
        proximal_mu: FedProx's mu for ``fedprox_penalty`` in the client loss (0: none).
    """

    name: str
    needs_client_deltas: bool
    init: Callable[[Params], StrategyState]
    contribute: Callable[..., ClientSums]
    aggregate: Callable[[Params, Updates, StrategyState], tuple[Params, StrategyState]]
    proximal_mu: float = 0.0


def _plain_contribution(
    delta: Params,
    n_examples: float,
    *,
    local_steps: int | None = None,
    control_delta: Params | None = None,
) -> ClientSums:
    return client_sums(delta, n_examples)


def compose(
    name: str,
    reduce: Callable[[Updates], Params],
    server_opt: ServerOptimizer,
    *,
    needs_client_deltas: bool = False,
    contribute: Callable[..., ClientSums] = _plain_contribution,
    proximal_mu: float = 0.0,
) -> Strategy:
    """A strategy from a reduction (updates -> one delta) and a server optimizer.

    Following the Flower/Optax split: aggregation math and server optimizers are
    free functions; a strategy only wires them together.
    """

    def init(global_params: Params) -> StrategyState:
        return StrategyState(server_opt.init(global_params))

    def aggregate(global_params: Params, updates: Updates, state: StrategyState):
        new, opt = server_opt.step(global_params, reduce(updates), state.opt)
        return new, StrategyState(opt, state.control)

    return Strategy(name, needs_client_deltas, init, contribute, aggregate, proximal_mu)


def fedavg(server_lr: float = 1.0) -> Strategy:
    """FedAvg: new = global + server_lr * sum n_i delta_i / sum n_i.

    "Communication-Efficient Learning of Deep Networks from Decentralized Data" (McMahan et al., 2017).
    """
    return compose("fedavg", mean_delta, server_sgd(server_lr))


def fedavgm(server_lr: float = 1.0, beta: float = 0.9) -> Strategy:
    """FedAvgM: server momentum v = beta v + avg_delta; new = global + server_lr v.

    "Measuring the Effects of Non-Identical Data Distribution for Federated Visual
    Classification" (Hsu, Qi, Brown, 2019).
    """
    return compose("fedavgm", mean_delta, server_momentum(server_lr, beta))


def fedprox(mu: float = 0.01, server_lr: float = 1.0) -> Strategy:
    """FedProx: FedAvg aggregation; clients add mu/2 ||w - w_g||^2 to their loss.

    "Federated Optimization in Heterogeneous Networks" (Li et al., MLSys 2020).
    """
    return compose("fedprox", mean_delta, server_sgd(server_lr), proximal_mu=mu)


def fedadam(
    eta: float = 1e-1, beta_1: float = 0.9, beta_2: float = 0.99, tau: float = 1e-9
) -> Strategy:
    """FedAdam on the weighted mean delta. "Adaptive Federated Optimization" (Reddi et al., ICLR 2021)."""
    return compose("fedadam", mean_delta, server_adam(eta, beta_1, beta_2, tau))


def fedyogi(
    eta: float = 1e-1, beta_1: float = 0.9, beta_2: float = 0.99, tau: float = 1e-9
) -> Strategy:
    """FedYogi on the weighted mean delta. "Adaptive Federated Optimization" (Reddi et al., ICLR 2021)."""
    return compose("fedyogi", mean_delta, server_yogi(eta, beta_1, beta_2, tau))


def fedadagrad(eta: float = 1e-1, beta_1: float = 0.0, tau: float = 1e-9) -> Strategy:
    """FedAdagrad on the weighted mean delta. "Adaptive Federated Optimization" (Reddi et al., ICLR 2021)."""
    return compose("fedadagrad", mean_delta, server_adagrad(eta, beta_1, tau))


def fednova(momentum: float = 0.0, server_lr: float = 1.0) -> Strategy:
    """FedNova: new = global + server_lr * tau_eff * sum_i p_i delta_i / a_i, tau_eff = sum_i p_i a_i.

    "Tackling the Objective Inconsistency Problem in Heterogeneous Federated
    Optimization" (Wang et al., NeurIPS 2020); p_i = n_i / sum n_j, a_i from
    ``fednova_normalizer(local_steps, momentum)`` with the clients' SGD momentum.
    """

    def contribute(delta, n_examples, *, local_steps=None, control_delta=None) -> ClientSums:
        if local_steps is None:
            raise ValueError("FedNova needs each client's local_steps")
        return client_sums(delta, n_examples, normalizer=fednova_normalizer(local_steps, momentum))

    def reduce(sums: ClientSums) -> Params:
        tau_eff = sums.steps / sums.weight
        return tree_scale(sums.delta, tau_eff / sums.weight)

    return compose("fednova", reduce, server_sgd(server_lr), contribute=contribute)


def scaffold(num_clients: int, server_lr: float = 1.0) -> Strategy:
    """SCAFFOLD server: x += server_lr * mean(dy); c += (|S| / N) * mean(dc).

    "SCAFFOLD: Stochastic Controlled Averaging for Federated Learning"
    (Karimireddy et al., ICML 2020). mean(dy) is weighted by the clients' weights
    (n_i, as in the curricula paper's code; pass weight 1 for the paper's plain
    mean); mean(dc) is unweighted, so the control update is sum(dc) / N.
    Clients read ``state.control`` (c) and report c_i+ - c_i as ``control_delta``.
    """
    if num_clients < 1:
        raise ValueError(f"SCAFFOLD needs num_clients >= 1, got {num_clients}")
    opt = server_sgd(server_lr)

    def contribute(delta, n_examples, *, local_steps=None, control_delta=None) -> ClientSums:
        if control_delta is None:
            raise ValueError("SCAFFOLD needs each client's control_delta (c_i+ - c_i)")
        return client_sums(delta, n_examples, control_delta=control_delta)

    def init(global_params: Params) -> StrategyState:
        return StrategyState(opt.init(global_params), tree_zeros_like(global_params))

    def aggregate(global_params: Params, sums: ClientSums, state: StrategyState):
        return scaffold_server_update(
            global_params, state, sums, server_lr=server_lr, num_clients=num_clients
        )

    return Strategy("scaffold", False, init, contribute, aggregate)


def scaffold_server_update(
    global_params: Params,
    state: StrategyState,
    sums: ClientSums,
    *,
    server_lr: float,
    num_clients: int,
) -> tuple[Params, StrategyState]:
    """x + server_lr * mean(dy) and c + (|S| / N) mean(dc) = c + sum(dc) / N.

    "SCAFFOLD: Stochastic Controlled Averaging for Federated Learning" (Karimireddy et al., ICML 2020).
    """
    if sums.control is None:
        raise ValueError("SCAFFOLD sums carry no control variates")
    new = tree_add_scaled(global_params, server_lr, mean_delta(sums))
    control = tree_add_scaled(state.control, 1.0 / num_clients, sums.control)
    return new, StrategyState(state.opt, control)


def _robust(name: str, rule: Callable[[list[Params]], Params], server_lr: float) -> Strategy:
    def reduce(parts: Sequence[ClientSums]) -> Params:
        if isinstance(parts, ClientSums):
            raise TypeError(f"{name} needs one ClientSums per client, not a summed ClientSums")
        return rule([single_delta(p) for p in parts])

    return compose(name, reduce, server_sgd(server_lr), needs_client_deltas=True)


def fedmedian(server_lr: float = 1.0) -> Strategy:
    """FedMedian: coordinate-wise median of the client deltas.

    "Byzantine-Robust Distributed Learning: Towards Optimal Statistical Rates" (Yin et al., 2018).
    """
    return _robust("median", coordinate_median, server_lr)


def fedtrimmedavg(beta: float = 0.1, server_lr: float = 1.0) -> Strategy:
    """Coordinate-wise trimmed mean, beta trimmed on each side (Yin et al., 2018)."""
    return _robust("trimmed_mean", lambda ds: trimmed_mean(ds, beta), server_lr)


def fedkrum(f: int = 0, m: int = 1, server_lr: float = 1.0) -> Strategy:
    """(Multi-)Krum with f assumed Byzantine clients.

    "Machine Learning with Adversaries: Byzantine Tolerant Gradient Descent" (Blanchard et al., NeurIPS 2017).
    """
    return _robust("krum", lambda ds: krum(ds, f, m), server_lr)


STRATEGIES: dict[str, Callable[..., Strategy]] = {
    "fedavg": fedavg,
    "fedavgm": fedavgm,
    "fedprox": fedprox,
    "fedadam": fedadam,
    "fedyogi": fedyogi,
    "fedadagrad": fedadagrad,
    "scaffold": scaffold,
    "fednova": fednova,
    "median": fedmedian,
    "trimmed_mean": fedtrimmedavg,
    "krum": fedkrum,
}


def make_strategy(name: str, **settings: Any) -> Strategy:
    """Build a registered strategy by name with its settings (e.g. ``num_clients`` for SCAFFOLD)."""
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; known: {sorted(STRATEGIES)}")
    return STRATEGIES[name](**settings)


def aggregate_clients(
    strategy: Strategy,
    global_params: Params,
    deltas: Sequence[Params],
    weights: Sequence[float],
    state: StrategyState,
    *,
    local_steps: Sequence[int] | None = None,
    control_deltas: Sequence[Params] | None = None,
    chunk_size: int | None = None,
) -> tuple[Params, StrategyState]:
    """One server step from per-client results, summed in chunks as workers would.

    Args:
        deltas, weights: per-client local - global and n_i, in cohort order.
        local_steps: per-client K (FedNova).
        control_deltas: per-client c_i+ - c_i (SCAFFOLD).
        chunk_size: clients per worker chunk (None: one chunk); does not change
            the math, only the order of float additions.
    """
    parts = [
        strategy.contribute(
            d,
            w,
            local_steps=None if local_steps is None else local_steps[i],
            control_delta=None if control_deltas is None else control_deltas[i],
        )
        for i, (d, w) in enumerate(zip(deltas, weights, strict=True))
    ]
    if strategy.needs_client_deltas:
        return strategy.aggregate(global_params, parts, state)
    size = chunk_size or max(1, len(parts))
    chunks = [sum_all(parts[i : i + size]) for i in range(0, len(parts), size)]
    return strategy.aggregate(global_params, sum_all(chunks), state)
