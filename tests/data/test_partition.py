"""Partitioners: disjoint cover, minimum sizes, determinism, errors, heterogeneity."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from troupe.data.partition import SCHEMES, partition

RNG_Y = np.random.default_rng(0).integers(0, 10, 1797)
SYNTH = [s for s in SCHEMES if s != "natural"]


def assert_cover(parts, n):
    allidx = np.concatenate(parts)
    assert len(allidx) == n
    assert np.array_equal(np.sort(allidx), np.arange(n))
    for p in parts:
        assert p.dtype == np.int64
        assert np.all(np.diff(p) > 0)


@pytest.mark.parametrize("scheme", SYNTH)
def test_cover_min_size_determinism(scheme):
    parts = partition(RNG_Y, scheme=scheme, clients=50, seed=3, alpha=0.1, min_size=5)
    assert len(parts) == 50
    assert_cover(parts, len(RNG_Y))
    assert min(len(p) for p in parts) >= 5
    again = partition(RNG_Y, scheme=scheme, clients=50, seed=3, alpha=0.1, min_size=5)
    assert all(np.array_equal(a, b) for a, b in zip(parts, again, strict=True))
    other = partition(RNG_Y, scheme=scheme, clients=50, seed=4, alpha=0.1, min_size=5)
    assert not all(np.array_equal(a, b) for a, b in zip(parts, other, strict=True))


def test_natural():
    ids = np.array([7, 3, 7, 9, 3, 3])
    parts = partition(np.zeros(6, dtype=int), scheme="natural", clients=3, seed=0, client_ids=ids)
    assert [p.tolist() for p in parts] == [[1, 4, 5], [0, 2], [3]]
    with pytest.raises(ValueError, match="distinct ids"):
        partition(np.zeros(6, dtype=int), scheme="natural", clients=4, seed=0, client_ids=ids)
    with pytest.raises(ValueError, match="min_size"):
        partition(
            np.zeros(6, dtype=int), scheme="natural", clients=3, seed=0, client_ids=ids, min_size=2
        )
    with pytest.raises(ValueError, match="client_ids"):
        partition(np.zeros(6, dtype=int), scheme="natural", clients=3, seed=0)


def test_impossible_request():
    with pytest.raises(ValueError) as err:
        partition(RNG_Y, scheme="dirichlet", clients=10_000, seed=0)
    assert str(err.value) == "cannot give 10000 clients at least 1 examples each from 1797 examples"


def test_many_tiny_clients_fixed_up():
    parts = partition(RNG_Y, scheme="dirichlet", clients=1797, seed=0, alpha=0.05)
    assert_cover(parts, len(RNG_Y))
    assert all(len(p) == 1 for p in parts)


def test_unknown_scheme():
    with pytest.raises(ValueError, match="unknown partition scheme"):
        partition(RNG_Y, scheme="zipf", clients=3, seed=0)


def test_pathological_classes_per_client():
    parts = partition(RNG_Y, scheme="pathological", clients=20, seed=1, classes_per_client=2)
    assert all(len(np.unique(RNG_Y[p])) <= 2 for p in parts)
    assert_cover(parts, len(RNG_Y))
    with pytest.raises(ValueError, match="unassigned"):
        partition(RNG_Y, scheme="pathological", clients=4, seed=1, classes_per_client=2)


def test_shards_have_few_labels():
    parts = partition(RNG_Y, scheme="shards", clients=20, seed=1, shards_per_client=2)
    # a shard spans at most two labels, so a client sees at most four
    assert all(len(np.unique(RNG_Y[p])) <= 4 for p in parts)


def test_iid_sizes_balanced():
    sizes = [len(p) for p in partition(RNG_Y, scheme="iid", clients=7, seed=0)]
    assert max(sizes) - min(sizes) <= 1


def _label_skew(parts, y, k=10):
    # mean total-variation distance between each client's label mix and the global mix
    glob = np.bincount(y, minlength=k) / len(y)
    return np.mean(
        [0.5 * np.abs(np.bincount(y[p], minlength=k) / len(p) - glob).sum() for p in parts]
    )


@pytest.mark.parametrize("scheme", ["dirichlet", "dirichlet_prior"])
def test_heterogeneity_decreases_with_alpha(scheme):
    skews = [
        np.mean(
            [
                _label_skew(partition(RNG_Y, scheme=scheme, clients=20, seed=s, alpha=a), RNG_Y)
                for s in range(3)
            ]
        )
        for a in (0.05, 0.5, 100.0)
    ]
    assert skews[0] > skews[1] > skews[2]


def test_dirichlet_prior_follows_class_prior():
    # an imbalanced label set: the rare class gets a smaller concentration
    y = np.concatenate([np.zeros(900, dtype=int), np.ones(100, dtype=int)])
    parts = partition(y, scheme="dirichlet_prior", clients=5, seed=0, alpha=1.0)
    assert_cover(parts, len(y))


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 300),
    k=st.integers(1, 12),
    clients=st.integers(1, 40),
    scheme=st.sampled_from(["iid", "dirichlet", "dirichlet_prior", "shards"]),
    alpha=st.floats(0.01, 10.0),
    min_size=st.integers(0, 5),
    seed=st.integers(0, 2**31),
)
def test_property_cover(n, k, clients, scheme, alpha, min_size, seed):
    y = np.random.default_rng(seed).integers(0, k, n)
    if clients * min_size > n:
        with pytest.raises(ValueError, match="cannot give"):
            partition(y, scheme=scheme, clients=clients, seed=seed, alpha=alpha, min_size=min_size)
        return
    parts = partition(y, scheme=scheme, clients=clients, seed=seed, alpha=alpha, min_size=min_size)
    assert len(parts) == clients
    assert_cover(parts, n)
    assert min(len(p) for p in parts) >= min_size
