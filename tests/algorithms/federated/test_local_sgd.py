"""local_sgd's hand-written step equals torch.optim.SGD."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from troupe.algorithms.federated import local_sgd, model_params
from troupe.algorithms.models import build_model


@pytest.mark.parametrize("momentum, weight_decay", [(0.0, 0.0), (0.9, 0.0), (0.9, 5e-4)])
def test_local_sgd_matches_torch_optim_sgd(momentum, weight_decay):
    torch.manual_seed(0)
    x, y = torch.randn(40, 6), torch.randint(0, 3, (40,))
    batches = [torch.randperm(40)[:8] for _ in range(7)]
    model = build_model("mlp", in_shape=(6,), classes=3, hidden=[16])
    start = model_params(model)
    trained, losses = local_sgd(model, start, x, y, batches, lr=0.1, momentum=momentum, weight_decay=weight_decay)

    reference = build_model("mlp", in_shape=(6,), classes=3, hidden=[16])
    reference.load_state_dict(start)
    opt = torch.optim.SGD(reference.parameters(), lr=0.1, momentum=momentum, weight_decay=weight_decay)
    expected_losses = []
    for idx in batches:
        opt.zero_grad()
        loss = F.cross_entropy(reference(x[idx]), y[idx])
        loss.backward()
        opt.step()
        expected_losses.append(loss.item())
    torch.testing.assert_close(trained, model_params(reference), rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(losses, torch.tensor(expected_losses), rtol=1e-6, atol=1e-7)
    assert all(not torch.equal(trained[k], start[k]) for k in start)
