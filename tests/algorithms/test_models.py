"""The model registry and the body/head split."""

import pytest
import torch
from torch import nn

from troupe.algorithms.models import MODELS, build_model, register_model


def test_mlp_shapes_and_width_mult():
    model = build_model("mlp", in_shape=(1, 8, 8), classes=10, hidden=[32, 16], width_mult=2)
    x = torch.randn(5, 1, 8, 8)
    assert model(x).shape == (5, 10)
    assert model.features(x).shape == (5, 32)
    torch.testing.assert_close(model(x), model.head(model.body(x)))
    widths = [m.out_features for m in model.modules() if isinstance(m, nn.Linear)]
    assert widths == [64, 32, 10]


def test_mlp_without_hidden_layers_is_linear():
    model = build_model("mlp", in_shape=(6,), classes=3, hidden=[])
    assert model.features(torch.randn(2, 6)).shape == (2, 6)


@pytest.mark.parametrize("in_shape", [(1, 8, 8), (3, 28, 28), (1, 3, 3)])
def test_cnn_shapes(in_shape):
    model = build_model("cnn", in_shape=in_shape, classes=4, hidden=[24], channels=[4, 8])
    x = torch.randn(2, *in_shape)
    assert model(x).shape == (2, 4)
    assert model.features(x).shape == (2, 24)


def test_unknown_model_and_duplicate_registration():
    with pytest.raises(KeyError, match="unknown model"):
        build_model("nope", in_shape=(2,), classes=2)
    with pytest.raises(ValueError, match="already registered"):
        register_model("mlp")(lambda **_: None)


def test_register_model_adds_builder():
    @register_model("_test_linear")
    def linear(*, in_shape, classes, **_):
        return nn.Linear(in_shape[0], classes)

    try:
        assert isinstance(build_model("_test_linear", in_shape=(3,), classes=2), nn.Linear)
    finally:
        del MODELS["_test_linear"]


def test_builtin_model_names_are_the_registered_ones():
    # the config checks these names without importing torch; the registry is the truth
    from troupe.config import BUILTIN_MODELS

    assert set(BUILTIN_MODELS) <= set(MODELS)
    assert set(MODELS) - set(BUILTIN_MODELS) <= {"_test_linear"}


def test_config_accepts_a_registered_model_and_names_an_unknown_one():
    from troupe.config import ConfigError, load_config

    @register_model("_test_linear")
    def linear(*, in_shape, classes, **_):
        return nn.Linear(in_shape[0], classes)

    try:
        assert load_config(["model.name=_test_linear"]).model.name == "_test_linear"
    finally:
        del MODELS["_test_linear"]
    with pytest.raises(ConfigError, match="model.name.*not a registered model"):
        load_config(["model.name=_test_linear"])
