"""Model registry: small classifiers split into a feature ``body`` and a linear ``head``.

Every model is a :class:`Classifier`, so ``features(x)`` (the penultimate
representation) and ``forward(x) = head(features(x))`` are available both on a
plain module and through ``torch.func.functional_call`` on ``model.body``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

ModelBuilder = Callable[..., nn.Module]

MODELS: dict[str, ModelBuilder] = {}


class Classifier(nn.Module):
    """A feature extractor ``body`` followed by a linear ``head``."""

    def __init__(self, body: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.body = body
        self.head = head

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate representation of ``x``."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def register_model(name: str) -> Callable[[ModelBuilder], ModelBuilder]:
    """Decorator adding a builder to :data:`MODELS` under ``name``.

    A builder takes keyword arguments ``in_shape, classes, hidden, channels,
    width_mult`` (it may ignore some) and returns a :class:`Classifier`.
    """

    def add(builder: ModelBuilder) -> ModelBuilder:
        if name in MODELS:
            raise ValueError(f"model {name!r} is already registered")
        MODELS[name] = builder
        return builder

    return add


def build_model(
    name: str,
    *,
    in_shape: tuple[int, ...],
    classes: int,
    hidden: Sequence[int] = (128,),
    channels: Sequence[int] = (16, 32),
    width_mult: int = 1,
) -> nn.Module:
    """Build the registered model ``name``.

    Args:
        name: a key of :data:`MODELS` (``"mlp"``, ``"cnn"``, ...).
        in_shape: shape of one input without the batch dim, e.g. ``(64,)`` or ``(1, 8, 8)``.
        classes: number of output classes.
        hidden: widths of the fully connected hidden layers.
        channels: conv widths (convolutional models only).
        width_mult: multiplies every hidden width and channel count; the "one
            network n times as wide" baseline of Zhang & Bottou (2022).

    Returns:
        A :class:`Classifier` with ``.body`` and ``.head``.
    """
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; known: {sorted(MODELS)}")
    if width_mult < 1:
        raise ValueError(f"width_mult must be >= 1, got {width_mult}")
    return MODELS[name](
        in_shape=tuple(in_shape),
        classes=classes,
        hidden=list(hidden),
        channels=list(channels),
        width_mult=width_mult,
    )


def _dense_stack(in_features: int, widths: Sequence[int]) -> tuple[list[nn.Module], int]:
    layers: list[nn.Module] = []
    for width in widths:
        layers += [nn.Linear(in_features, width), nn.ReLU()]
        in_features = width
    return layers, in_features


@register_model("mlp")
def mlp(
    *, in_shape: tuple[int, ...], classes: int, hidden: list[int], width_mult: int = 1, **_: object
) -> Classifier:
    """Multi-layer perceptron: Flatten, then Linear+ReLU per hidden width, then a linear head."""
    layers, out = _dense_stack(math.prod(in_shape), [w * width_mult for w in hidden])
    return Classifier(nn.Sequential(nn.Flatten(), *layers), nn.Linear(out, classes))


@register_model("cnn")
def cnn(
    *,
    in_shape: tuple[int, ...],
    classes: int,
    hidden: list[int],
    channels: list[int],
    width_mult: int = 1,
    **_: object,
) -> Classifier:
    """Small conv net for ``(C, H, W)`` inputs: 3x3 convs + ReLU, 2x2 max pool, dense layers.

    The pooled map is averaged down to at most 4x4 so the first dense layer does
    not grow with the image size (for digits' 8x8 it is already 4x4).
    """
    if len(in_shape) != 3:
        raise ValueError(f"cnn needs in_shape (C, H, W), got {in_shape}")
    c, h, w = in_shape
    layers: list[nn.Module] = []
    for ch in channels:
        layers += [nn.Conv2d(c, ch * width_mult, kernel_size=3, padding=1), nn.ReLU()]
        c = ch * width_mult
    pooled = (max(1, min(h // 2, 4)), max(1, min(w // 2, 4)))
    layers += [nn.MaxPool2d(2) if min(h, w) >= 2 else nn.Identity()]
    layers += [nn.AdaptiveAvgPool2d(pooled), nn.Flatten()]
    dense, out = _dense_stack(c * pooled[0] * pooled[1], [u * width_mult for u in hidden])
    return Classifier(nn.Sequential(*layers, *dense), nn.Linear(out, classes))
