"""CAT_n features and the linear probe (Zhang & Bottou, 2022)."""

import numpy as np
import pytest
import torch

from troupe.algorithms.ensembles import concat_features, linear_probe, split_by_classes


def test_concat_features_puts_members_side_by_side():
    features = torch.arange(3 * 2 * 4).view(3, 2, 4)
    cat = concat_features(features, 2)
    assert cat.shape == (2, 8)
    assert torch.equal(cat[1], torch.cat([features[0, 1], features[1, 1]]))
    with pytest.raises(ValueError):
        concat_features(features, 4)


def test_linear_probe_separates_separable_data():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 400)
    x = np.eye(3)[y] * 3 + 0.3 * rng.normal(size=(400, 3))
    x = np.hstack([x, rng.normal(size=(400, 5))])
    accuracy = linear_probe(torch.tensor(x[:300]), torch.tensor(y[:300]), x[300:], y[300:], seed=0)
    assert accuracy > 0.95


def test_split_by_classes_keeps_and_relabels():
    x = np.arange(12).reshape(6, 2)
    y = np.array([5, 0, 7, 5, 9, 1])
    xs, ys = split_by_classes(x, y, [7, 5])
    assert xs.tolist() == [[0, 1], [4, 5], [6, 7]]
    assert ys.tolist() == [1, 0, 1]
    xt, yt = split_by_classes(torch.tensor(x), torch.tensor(y), [7, 5])
    assert isinstance(xt, torch.Tensor) and torch.equal(xt, torch.tensor(xs))
    assert yt.tolist() == [1, 0, 1]
