"""Partial sums over clients: what a worker sends back for a chunk of a cohort.

A worker trains its chunk of clients one after another and keeps a running
``ClientSums``; the server combines the chunks with ``add_sums`` in a fixed chunk
order, so a seeded run gives the same floats whatever the number of workers
(see the pfl-research design: workers return weighted partial sums, never
per-client models). Every field is a plain sum, so summing is associative:

    count    number of clients                          sum_i 1
    weight   total example weight                       sum_i n_i
    delta    weighted (normalized) update               sum_i n_i * delta_i / a_i
    steps    FedNova's weighted normalizer              sum_i n_i * a_i
    control  SCAFFOLD's control-variate changes         sum_i (c_i+ - c_i)

a_i = 1 except for FedNova. A single client's contribution is ``client_sums``.
"""

from __future__ import annotations

from typing import NamedTuple

from troupe.algorithms.federated.params import Params, tree_add, tree_scale


class ClientSums(NamedTuple):
    """Named partial sums over a set of clients (see the module docstring)."""

    count: int
    weight: float
    delta: Params
    steps: float = 0.0
    control: Params | None = None


def client_sums(
    delta: Params,
    n_examples: float,
    *,
    normalizer: float = 1.0,
    control_delta: Params | None = None,
) -> ClientSums:
    """One client's contribution: n * delta / a, n * a, and its control change.

    Args:
        delta: local_params - global_params after local training.
        n_examples: the client's weight n_i (its number of examples).
        normalizer: a_i (FedNova's ``fednova_normalizer``; 1 otherwise).
        control_delta: SCAFFOLD's c_i+ - c_i, or None.
    """
    if n_examples <= 0 or normalizer <= 0:
        raise ValueError(f"need n_examples > 0 and normalizer > 0; got {n_examples}, {normalizer}")
    return ClientSums(
        count=1,
        weight=float(n_examples),
        delta=tree_scale(delta, float(n_examples) / float(normalizer)),
        steps=float(n_examples) * float(normalizer),
        control=control_delta,
    )


def add_sums(a: ClientSums | None, b: ClientSums) -> ClientSums:
    """a + b field by field; ``None`` is the empty sum, so a running sum starts at None."""
    if a is None:
        return b
    if (a.control is None) != (b.control is None):
        raise ValueError("cannot add sums with and without control variates")
    return ClientSums(
        count=a.count + b.count,
        weight=a.weight + b.weight,
        delta=tree_add(a.delta, b.delta),
        steps=a.steps + b.steps,
        control=None if a.control is None else tree_add(a.control, b.control),
    )


def sum_all(parts: list[ClientSums]) -> ClientSums:
    """Left-to-right sum of parts (the fixed order keeps results bit-for-bit repeatable)."""
    if not parts:
        raise ValueError("nothing to sum: no client results")
    total: ClientSums | None = None
    for part in parts:
        total = add_sums(total, part)
    return total


def mean_delta(sums: ClientSums) -> Params:
    """The weighted mean update sum_i n_i delta_i / sum_i n_i."""
    if sums.weight <= 0:
        raise ValueError(f"total client weight must be positive, got {sums.weight}")
    return tree_scale(sums.delta, 1.0 / sums.weight)


def single_delta(sums: ClientSums) -> Params:
    """Recover one client's delta from its own ``client_sums`` (count must be 1)."""
    if sums.count != 1:
        raise ValueError(f"expected one client's sums, got a sum over {sums.count} clients")
    normalizer = sums.steps / sums.weight  # a_i = (n_i a_i) / n_i
    return tree_scale(sums.delta, normalizer / sums.weight)
