"""Diversity measures against brute-force pairwise versions."""

import itertools

import pytest
import torch

from troupe.algorithms.ensembles import disagreement, mean_pairwise_kl


def _brute_disagreement(logits):
    preds = logits.argmax(-1)
    pairs = itertools.combinations(range(len(preds)), 2)
    return torch.stack([(preds[i] != preds[j]).double().mean() for i, j in pairs]).mean().item()


def _brute_kl(logits):
    log_p = torch.log_softmax(logits.double(), -1)
    pairs = itertools.permutations(range(len(logits)), 2)
    kls = [(log_p[i].exp() * (log_p[i] - log_p[j])).sum(-1).mean() for i, j in pairs]
    return torch.stack(kls).mean().item()


def test_disagreement_hand_made():
    logits = torch.nn.functional.one_hot(torch.tensor([[0, 1], [0, 2], [1, 2]]), 3).float()
    # Point 0: predictions 0,0,1 -> 2 of 3 pairs differ; point 1: 1,2,2 -> 2 of 3.
    assert disagreement(logits) == pytest.approx(2 / 3)
    assert disagreement(logits[[0, 0]]) == 0.0


def test_disagreement_matches_brute_force():
    logits = torch.randn(9, 50, 4, generator=torch.Generator().manual_seed(0))
    assert disagreement(logits) == pytest.approx(_brute_disagreement(logits), abs=1e-12)


def test_mean_pairwise_kl_matches_brute_force():
    logits = torch.randn(5, 20, 3, generator=torch.Generator().manual_seed(1))
    assert mean_pairwise_kl(logits) == pytest.approx(_brute_kl(logits), rel=1e-9)
    assert mean_pairwise_kl(logits[[2, 2]]) == pytest.approx(0.0, abs=1e-12)


def test_diversity_needs_two_members():
    with pytest.raises(ValueError):
        disagreement(torch.zeros(1, 3, 2))
    with pytest.raises(ValueError):
        mean_pairwise_kl(torch.zeros(1, 3, 2))
