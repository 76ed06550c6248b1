"""Pacing functions against the formulas of Vahidian et al. (ICCV 2023)."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from troupe.algorithms.federated.pacing import PACINGS, local_total_steps, pacing

N, T, A, B = 100, 50, 0.8, 0.2  # aT = 40, start = 20


def test_local_total_steps():
    assert local_total_steps(95, 10, 2) == 20
    assert local_total_steps(100, 10, 1) == 11


@pytest.mark.parametrize(
    ("name", "step", "expected"),
    [
        ("linear", 0, 20),
        ("linear", 20, 20 + 80 * 0.5),
        ("linear", 40, 100),
        ("quad", 20, 20 + 80 * 0.25),
        ("sqrt", 10, 20 + 80 * 0.5),
        ("exp", 20, 20 + 80 * math.expm1(5) / math.expm1(10)),
        ("log", 20, 20 + 80 * (1 + math.log(0.5 + math.exp(-10)) / 10)),
        ("step", 39, 20),
        ("step", 40, 100),
    ],
)
def test_formula(name, step, expected):
    assert PACINGS[name](step, n=N, total_steps=T, a=A, b=B) == int(expected)


@pytest.mark.parametrize("name", sorted(PACINGS))
def test_starts_at_b_and_ends_at_n(name):
    assert PACINGS[name](0, n=N, total_steps=T, a=A, b=B) == 20
    assert PACINGS[name](T, n=N, total_steps=T, a=A, b=B) == N


@given(
    name=st.sampled_from(sorted(PACINGS)),
    n=st.integers(1, 10_000),
    total=st.integers(1, 500),
    a=st.floats(0.01, 5.0),
    b=st.floats(0.0, 1.0),
    batch=st.integers(1, 64),
)
def test_clipped_and_monotone(name, n, total, a, b, batch):
    values = [
        pacing(name, t, n=n, total_steps=total, a=a, b=b, batch_size=batch)
        for t in range(0, total + 1, max(1, total // 10))
    ]
    assert all(1 <= v <= n for v in values)
    assert all(v >= min(batch, n) for v in values)
    assert values == sorted(values)


def test_errors():
    with pytest.raises(ValueError, match="unknown pacing"):
        pacing("cubic", 0, n=10, total_steps=10, a=1, b=0.1)
    with pytest.raises(ValueError, match="a > 0"):
        pacing("linear", 0, n=10, total_steps=10, a=0, b=0.1)


def test_infinite_a_stays_at_start():
    assert pacing("step", 1000, n=100, total_steps=10, a=math.inf, b=0.3) == 30
