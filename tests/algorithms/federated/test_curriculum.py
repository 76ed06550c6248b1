"""Example ordering, paced local batches and client curricula."""

import numpy as np
import pytest

from troupe.algorithms.federated.client_curriculum import eligible_clients, sample_cohort
from troupe.algorithms.federated.curriculum import curriculum_batches, order_examples
from troupe.algorithms.federated.pacing import local_total_steps, pacing

SCORES = np.array([0.5, 0.1, 0.9, 0.3, 0.7])


def test_orders():
    assert order_examples(SCORES, "curriculum", seed=0).tolist() == [1, 3, 0, 4, 2]
    assert order_examples(SCORES, "anti", seed=0).tolist() == [2, 4, 0, 3, 1]
    assert order_examples(SCORES, "none", seed=0).tolist() == [0, 1, 2, 3, 4]
    r = order_examples(SCORES, "random", seed=3)
    assert sorted(r.tolist()) == [0, 1, 2, 3, 4]
    assert np.array_equal(r, order_examples(SCORES, "random", seed=3))
    with pytest.raises(ValueError, match="unknown order"):
        order_examples(SCORES, "hardest", seed=0)


def test_paced_batches_use_only_the_allowed_prefix():
    n, bs, epochs, a, b = 95, 10, 3, 0.8, 0.2
    order = np.random.default_rng(1).permutation(n)
    batches = curriculum_batches(
        order, pacing="linear", batch_size=bs, local_epochs=epochs, a=a, b=b, seed=0
    )
    total = local_total_steps(n, bs, epochs)
    assert len(batches) == total
    rank = np.empty(n, dtype=int)
    rank[order] = np.arange(n)
    step = 0
    while step < total:  # each pass draws from the prefix allowed where it starts
        m = pacing("linear", step, n=n, total_steps=total, a=a, b=b, batch_size=bs)
        pass_len = -(-m // bs)
        seen = np.concatenate(batches[step : step + pass_len])
        assert rank[seen].max() < m
        if step + pass_len <= total:
            assert sorted(rank[seen].tolist()) == list(range(m))  # a pass covers the prefix
        step += pass_len
    assert all(1 <= len(x) <= bs for x in batches)


def test_first_pass_is_at_least_one_batch():
    batches = curriculum_batches(
        np.arange(100), pacing="linear", batch_size=32, local_epochs=1, a=0.8, b=0.0, seed=0
    )
    assert len(batches[0]) == 32 and batches[0].max() < 32


def test_plain_epochs_cover_everything_each_epoch():
    order = np.arange(23)
    batches = curriculum_batches(
        order, pacing="none", batch_size=5, local_epochs=2, a=0.8, b=0.2, seed=0
    )
    assert [len(x) for x in batches] == [5, 5, 5, 5, 3] * 2
    for epoch in (batches[:5], batches[5:]):
        assert sorted(np.concatenate(epoch).tolist()) == list(range(23))


def test_batches_are_seeded():
    kw = dict(pacing="sqrt", batch_size=4, local_epochs=2, a=0.5, b=0.1)
    one = curriculum_batches(np.arange(30), seed=7, **kw)
    two = curriculum_batches(np.arange(30), seed=7, **kw)
    three = curriculum_batches(np.arange(30), seed=8, **kw)
    assert all(np.array_equal(x, y) for x, y in zip(one, two, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(one, three, strict=True))


def test_eligible_clients_grow_with_rounds():
    scores = np.array([0.4, 0.2, 0.8, 0.6, 0.0, 1.0, 0.9, 0.1, 0.3, 0.5])
    kw = dict(total_rounds=10, pacing="linear", a=0.8, b=0.2, seed=0)
    first = eligible_clients(scores, "curriculum", round=0, **kw)
    assert first.tolist() == [4, 7]
    assert eligible_clients(scores, "anti", round=0, **kw).tolist() == [5, 6]
    sizes = [len(eligible_clients(scores, "curriculum", round=r, **kw)) for r in range(11)]
    assert sizes == sorted(sizes) and sizes[-1] == 10
    assert len(eligible_clients(scores, "none", round=0, **kw)) == 10


def test_sample_cohort():
    pool = np.array([9, 3, 7, 1, 5])
    c = sample_cohort(pool, 3, seed=0)
    assert c.tolist() == sorted(c.tolist()) and len(set(c.tolist())) == 3
    assert set(c.tolist()) <= set(pool.tolist())
    assert np.array_equal(c, sample_cohort(pool, 3, seed=0))
    assert sample_cohort(pool, 10, seed=0).tolist() == [1, 3, 5, 7, 9]
