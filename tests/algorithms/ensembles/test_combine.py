"""Combining members' predictions, checked on hand-made logits."""

import math

import pytest
import torch

from troupe.algorithms.ensembles import (
    ensemble_accuracy_curve,
    majority_vote,
    mean_probs,
    member_accuracy,
    member_loss,
    nll,
)

BIG = 20.0  # logits this far apart make softmax effectively one-hot


def _one_hot_logits(preds):
    """(P, N) predicted classes -> near-one-hot logits with 3 classes."""
    return torch.nn.functional.one_hot(torch.tensor(preds), 3).float() * BIG


def test_mean_probs_averages_softmax():
    logits = torch.tensor([[[0.0, 0.0]], [[math.log(3.0), 0.0]]])
    torch.testing.assert_close(mean_probs(logits), torch.tensor([[0.625, 0.375]]))


def test_majority_vote_breaks_ties_towards_lowest_class():
    logits = _one_hot_logits([[2, 1, 0], [2, 0, 2], [1, 0, 1], [1, 1, 2]])
    assert majority_vote(logits).tolist() == [1, 0, 2]


def test_member_accuracy_and_loss():
    logits = _one_hot_logits([[0, 1, 2, 2], [0, 0, 0, 0]])
    y = torch.tensor([0, 1, 2, 0])
    torch.testing.assert_close(member_accuracy(logits, y), torch.tensor([0.75, 0.5]))
    uniform = torch.zeros(2, 4, 3)
    torch.testing.assert_close(member_loss(uniform, y), torch.full((2,), math.log(3.0)))
    expected = torch.stack([torch.nn.functional.cross_entropy(m, y) for m in logits])
    torch.testing.assert_close(member_loss(logits, y), expected)


def test_nll_of_probabilities():
    probs = torch.tensor([[0.5, 0.5], [0.25, 0.75]])
    assert nll(probs, torch.tensor([0, 1])) == pytest.approx(-(math.log(0.5) + math.log(0.75)) / 2)
    assert math.isfinite(nll(torch.tensor([[1.0, 0.0]]), torch.tensor([1])))


def test_ensemble_accuracy_curve_uses_first_members():
    # Member 0 is right on point 0 only; adding members 1 and 2 outvotes it.
    logits = _one_hot_logits([[0, 0], [1, 1], [1, 1]])
    y = torch.tensor([0, 1])
    assert ensemble_accuracy_curve(logits, y, [1, 3, 2]) == [0.5, 0.5, 0.5]
    y = torch.tensor([1, 1])
    assert ensemble_accuracy_curve(logits, y, [3, 1]) == [1.0, 0.0]
    with pytest.raises(ValueError):
        ensemble_accuracy_curve(logits, y, [4])
