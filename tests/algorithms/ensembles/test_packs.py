"""Member packs match the plain sequential loop, member by member."""

from functools import partial

import pytest
import torch

from troupe.algorithms.ensembles import (
    init_pack,
    member_batches,
    pack_features,
    pack_logits,
    train_pack,
    train_single,
    unstack,
)
from troupe.algorithms.models import build_model

SEEDS = [3, 11, 42, 7]
TRAIN = dict(steps=12, batch_size=16, lr=0.1, momentum=0.9, weight_decay=1e-3)


def _data(n=100, features=20, classes=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, features, generator=g), torch.randint(0, classes, (n,), generator=g)


def _mlp(features=20, classes=4):
    return partial(build_model, "mlp", in_shape=(features,), classes=classes, hidden=[32])


def test_pack_matches_plain_loop_per_member():
    x, y = _data()
    model_fn = _mlp()
    state = init_pack(model_fn, SEEDS, device="cpu")
    state, losses = train_pack(state, x, y, model=model_fn(), **TRAIN)
    assert losses.shape == (TRAIN["steps"], len(SEEDS))
    assert state.step == TRAIN["steps"]
    for seed, member in zip(SEEDS, unstack(state), strict=True):
        reference = train_single(model_fn, seed, x, y, device="cpu", **TRAIN)
        assert reference.keys() == member.keys()
        for name in reference:
            torch.testing.assert_close(member[name], reference[name], atol=1e-5, rtol=1e-5)


def test_member_does_not_depend_on_rest_of_pack():
    x, y = _data()
    model_fn = _mlp()
    full, _ = train_pack(init_pack(model_fn, SEEDS, device="cpu"), x, y, model=model_fn(), **TRAIN)
    alone, _ = train_pack(init_pack(model_fn, [42], device="cpu"), x, y, model=model_fn(), **TRAIN)
    for name, value in unstack(alone)[0].items():
        torch.testing.assert_close(unstack(full)[2][name], value, atol=1e-5, rtol=1e-5)


def test_training_in_two_calls_equals_one_call():
    x, y = _data()
    model_fn = _mlp()
    settings = {k: v for k, v in TRAIN.items() if k != "steps"}
    once, _ = train_pack(init_pack(model_fn, SEEDS, device="cpu"), x, y, model=model_fn(), **TRAIN)
    twice = init_pack(model_fn, SEEDS, device="cpu")
    twice, _ = train_pack(twice, x, y, model=model_fn(), steps=5, **settings)
    twice, _ = train_pack(twice, x, y, model=model_fn(), steps=7, chunk=3, **settings)
    for name in once.params:
        torch.testing.assert_close(twice.params[name], once.params[name], atol=1e-5, rtol=1e-5)


def test_train_pack_leaves_input_state_unchanged():
    x, y = _data()
    model_fn = _mlp()
    state = init_pack(model_fn, SEEDS, device="cpu")
    before = {k: v.clone() for k, v in state.params.items()}
    train_pack(state, x, y, model=model_fn(), **TRAIN)
    for name, value in before.items():
        assert torch.equal(state.params[name], value)


def test_init_pack_matches_manual_seed_and_keeps_global_rng():
    model_fn = _mlp()
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    state = init_pack(model_fn, SEEDS, device="cpu")
    assert torch.equal(torch.rand(1), expected_next)
    torch.manual_seed(SEEDS[1])
    plain = model_fn()
    for name, value in plain.named_parameters():
        assert torch.equal(state.params[name][1], value.detach())


def test_member_batches_are_per_member_epochs():
    batches = member_batches([5, 6], n=10, batch_size=3, steps=6, device="cpu")
    assert batches.shape == (6, 2, 3) and batches.dtype == torch.int64
    # Three batches per epoch (one example dropped), no repeats within an epoch.
    for member in range(2):
        for epoch in range(2):
            seen = batches[3 * epoch : 3 * epoch + 3, member].flatten()
            assert len(set(seen.tolist())) == 9
    alone = member_batches([6], n=10, batch_size=3, steps=6, device="cpu")
    assert torch.equal(alone[:, 0], batches[:, 1])
    resumed = member_batches([5, 6], n=10, batch_size=3, steps=2, device="cpu", start=4)
    assert torch.equal(resumed, batches[4:6])


def test_member_batches_rejects_batch_larger_than_data():
    with pytest.raises(ValueError, match="batch_size"):
        member_batches([0], n=4, batch_size=5, steps=1, device="cpu")


def test_cnn_pack_matches_plain_loop():
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(40, 1, 8, 8, generator=g), torch.randint(0, 3, (40,), generator=g)
    model_fn = partial(
        build_model, "cnn", in_shape=(1, 8, 8), classes=3, hidden=[16], channels=[4, 8]
    )
    settings = dict(steps=4, batch_size=8, lr=0.05, momentum=0.5, weight_decay=1e-4)
    state, losses = train_pack(
        init_pack(model_fn, [0, 1], device="cpu"), x, y, model=model_fn(), **settings
    )
    assert losses.shape == (4, 2) and torch.isfinite(losses).all()
    reference = train_single(model_fn, 1, x, y, device="cpu", **settings)
    for name, value in reference.items():
        torch.testing.assert_close(unstack(state)[1][name], value, atol=1e-5, rtol=1e-5)
    assert pack_logits(state, x, model=model_fn()).shape == (2, 40, 3)


def test_losses_decrease_on_separable_problem():
    g = torch.Generator().manual_seed(0)
    centers = torch.randn(3, 10, generator=g) * 4
    y = torch.randint(0, 3, (300,), generator=g)
    x = centers[y] + 0.3 * torch.randn(300, 10, generator=g)
    model_fn = _mlp(features=10, classes=3)
    state = init_pack(model_fn, [0, 1, 2], device="cpu")
    state, losses = train_pack(state, x, y, model=model_fn(), steps=60, batch_size=32, lr=0.1)
    assert (losses[-5:].mean(0) < 0.2 * losses[:5].mean(0)).all()
    accuracy = (pack_logits(state, x, model=model_fn()).argmax(-1) == y).float().mean(1)
    assert (accuracy > 0.95).all()


def test_pack_features_and_logits_shapes_and_consistency():
    x, _ = _data(n=30)
    model_fn = _mlp()
    template = model_fn().to("meta")
    state = init_pack(model_fn, SEEDS, device="cpu")
    features = pack_features(state, x, model=template, batch=7)
    assert features.shape == (len(SEEDS), 30, 32)
    logits = pack_logits(state, x, model=template, batch=7)
    assert logits.shape == (len(SEEDS), 30, 4)
    head_w, head_b = state.params["head.weight"], state.params["head.bias"]
    expected = torch.einsum("pnf,pcf->pnc", features, head_w) + head_b[:, None]
    torch.testing.assert_close(logits, expected, atol=1e-5, rtol=1e-5)
