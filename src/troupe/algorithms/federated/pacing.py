"""Pacing functions: how much of an ordered dataset a learner may use at step t.

Implements the six pacing functions g(t) of "When Do Curricula Work in Federated
Learning?" (Vahidian et al., ICCV 2023), themselves taken from "When Do Curricula
Work?" (Wu, Dyer, Neyshabur, ICLR 2021). With N examples, T total steps and
start = b * N:

    linear  start + (N - start) * t / (aT)
    quad    start + (N - start) * (t / (aT))^2
    sqrt    start + (N - start) * sqrt(t / (aT))
    exp     start + (N - start) * (e^{c t / (aT)} - 1) / (e^c - 1),   c = 10
    log     start + (N - start) * (1 + ln(t / (aT) + e^{-c}) / c),    c = 10
    step    N * floor(t / (aT)) + start

The value is truncated to an integer (as the reference code does with ``int``) and
clipped to [1, N]. ``a`` is the fraction of the T steps after which all data is in
use, ``b`` the fraction of data used at the start. ``a = inf`` keeps g at start.
"""

from __future__ import annotations

import math
from collections.abc import Callable

_C = 10.0  # steepness of exp and log pacing, fixed at 10 in the paper's code

PacingFn = Callable[..., int]


def local_total_steps(n: int, batch_size: int, local_epochs: int) -> int:
    """Number of local steps T a client with n examples runs: (n // batch + 1) * epochs.

    The paper's reference code (Curriculum-FL) uses this T for the pacing budget.
    """
    if batch_size < 1 or local_epochs < 0 or n < 0:
        raise ValueError(
            f"need batch_size >= 1, local_epochs >= 0, n >= 0; got {batch_size}, {local_epochs}, {n}"
        )
    return (n // batch_size + 1) * local_epochs


def _check(n: int, total_steps: int, a: float) -> None:
    if n < 1:
        raise ValueError(f"pacing needs n >= 1 examples, got {n}")
    if total_steps < 1:
        raise ValueError(f"pacing needs total_steps >= 1, got {total_steps}")
    if not a > 0:
        raise ValueError(f"pacing needs a > 0, got {a}")


def _finish(value: float, n: int) -> int:
    # int() truncates like the reference implementation; then clip to [1, N].
    return int(min(max(int(value), 1), n))


def _progress(step: int, total_steps: int, a: float) -> float:
    return step / (a * total_steps)


def linear_pacing(step: int, *, n: int, total_steps: int, a: float, b: float) -> int:
    """Linear pacing g(t) = start + (N - start) t / (aT) (Vahidian et al., ICCV 2023)."""
    _check(n, total_steps, a)
    start = b * n
    return _finish(start + (n - start) * _progress(step, total_steps, a), n)


def quad_pacing(step: int, *, n: int, total_steps: int, a: float, b: float) -> int:
    """Quadratic pacing g(t) = start + (N - start) (t / (aT))^2 (Vahidian et al., ICCV 2023)."""
    _check(n, total_steps, a)
    start = b * n
    return _finish(start + (n - start) * _progress(step, total_steps, a) ** 2, n)


def sqrt_pacing(step: int, *, n: int, total_steps: int, a: float, b: float) -> int:
    """Square-root pacing g(t) = start + (N - start) sqrt(t / (aT)) (Vahidian et al., ICCV 2023)."""
    _check(n, total_steps, a)
    start = b * n
    return _finish(start + (n - start) * math.sqrt(_progress(step, total_steps, a)), n)


def exp_pacing(step: int, *, n: int, total_steps: int, a: float, b: float) -> int:
    """Exponential pacing, c = 10: start + (N - start)(e^{ct/(aT)} - 1)/(e^c - 1).

    From "When Do Curricula Work in Federated Learning?" (Vahidian et al., ICCV 2023).
    """
    _check(n, total_steps, a)
    start = b * n
    exponent = _C * _progress(step, total_steps, a)
    if exponent > 700.0:  # e^700 is near float64's limit; g is clipped to N long before
        return n
    return _finish(start + (n - start) * math.expm1(exponent) / math.expm1(_C), n)


def log_pacing(step: int, *, n: int, total_steps: int, a: float, b: float) -> int:
    """Logarithmic pacing, c = 10: start + (N - start)(1 + ln(t/(aT) + e^{-c}) / c).

    From "When Do Curricula Work in Federated Learning?" (Vahidian et al., ICCV 2023).
    """
    _check(n, total_steps, a)
    start = b * n
    frac = 1.0 + math.log(_progress(step, total_steps, a) + math.exp(-_C)) / _C
    return _finish(start + (n - start) * frac, n)


def step_pacing(step: int, *, n: int, total_steps: int, a: float, b: float) -> int:
    """Step pacing g(t) = N floor(t / (aT)) + start (Vahidian et al., ICCV 2023)."""
    _check(n, total_steps, a)
    return _finish(n * math.floor(_progress(step, total_steps, a)) + b * n, n)


PACINGS: dict[str, PacingFn] = {
    "linear": linear_pacing,
    "quad": quad_pacing,
    "sqrt": sqrt_pacing,
    "exp": exp_pacing,
    "log": log_pacing,
    "step": step_pacing,
}


def pacing(
    name: str, step: int, *, n: int, total_steps: int, a: float, b: float, batch_size: int = 1
) -> int:
    """Number of leading examples usable at step t: min(N, max(g(t), batch_size)).

    Args:
        name: one of ``PACINGS`` (linear, quad, sqrt, exp, log, step).
        step: the current step t (0-based).
        n: number of examples N being paced.
        total_steps: the budget T.
        a: fraction of T after which g reaches N.
        b: fraction of N available at t = 0.
        batch_size: the paper trains on at least one full batch.

    Returns:
        An int in [1, N]. "When Do Curricula Work in Federated Learning?" (ICCV 2023).
    """
    if name not in PACINGS:
        raise ValueError(f"unknown pacing {name!r}; known: {sorted(PACINGS)}")
    g = PACINGS[name](step, n=n, total_steps=total_steps, a=a, b=b)
    return min(n, max(g, batch_size))
