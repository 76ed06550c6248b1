"""Synthetic(alpha, beta) of Li et al. (MLSys 2020): shapes, determinism, heterogeneity."""

import numpy as np
import pytest

from troupe.data.synthetic_fedprox import synthetic_fedprox


def test_shapes_and_types():
    x, y, c = synthetic_fedprox(alpha=0.5, beta=0.5, clients=30, seed=0)
    assert x.dtype == np.float32 and y.dtype == np.int64 and c.dtype == np.int64
    assert x.shape == (len(y), 60) and c.shape == y.shape
    assert np.all(np.diff(c) >= 0) and set(np.unique(c)) == set(range(30))
    sizes = np.bincount(c)
    assert sizes.min() >= 10 and sizes.max() <= 2000
    assert y.min() >= 0 and y.max() < 10


def test_deterministic():
    one = synthetic_fedprox(alpha=1, beta=1, clients=10, seed=5, dim=8, classes=3)
    two = synthetic_fedprox(alpha=1, beta=1, clients=10, seed=5, dim=8, classes=3)
    assert all(np.array_equal(a, b) for a, b in zip(one, two, strict=True))


def _label_skew(y, c, classes=10):
    glob = np.bincount(y, minlength=classes) / len(y)
    per = [np.bincount(y[c == k], minlength=classes) / np.sum(c == k) for k in np.unique(c)]
    return np.mean([0.5 * np.abs(p - glob).sum() for p in per])


def test_alpha_makes_clients_label_skewed():
    kw = dict(clients=40, seed=1, samples_per_client=100, min_samples=50, max_samples=200)
    iid = _label_skew(*synthetic_fedprox(alpha=0, beta=0, iid=True, **kw)[1:])
    skewed = _label_skew(*synthetic_fedprox(alpha=1, beta=1, **kw)[1:])
    assert skewed > iid + 0.2


def test_beta_spreads_client_inputs():
    def spread(beta):
        x, _, c = synthetic_fedprox(alpha=0, beta=beta, clients=40, seed=2, dim=10)
        means = np.stack([x[c == k].mean(0) for k in range(40)])
        return means.mean(1).std()

    assert spread(5.0) > 2 * spread(0.0)


def test_ten_thousand_clients_bounded():
    x, y, c = synthetic_fedprox(
        alpha=1,
        beta=1,
        clients=10_000,
        seed=0,
        samples_per_client=15,
        min_samples=5,
        max_samples=100,
    )
    assert len(np.unique(c)) == 10_000
    assert len(y) < 10_000 * 100


def test_errors():
    with pytest.raises(ValueError, match="clients"):
        synthetic_fedprox(alpha=1, beta=1, clients=0, seed=0)
    with pytest.raises(ValueError, match="samples_per_client"):
        synthetic_fedprox(alpha=1, beta=1, clients=3, seed=0, samples_per_client=5)
