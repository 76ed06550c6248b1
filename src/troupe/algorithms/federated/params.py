"""Arithmetic on params: ordered ``dict[str, torch.Tensor]`` as from ``named_parameters``.

Deltas (``local - global``), control variates and optimizer moments share this
shape, so the strategies are written with these few maps over keys.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

Params = dict[str, torch.Tensor]


def tree_add(x: Params, y: Params) -> Params:
    """x + y, key by key."""
    return {k: x[k] + y[k] for k in x}


def tree_sub(x: Params, y: Params) -> Params:
    """x - y, key by key (a delta is ``tree_sub(local, global)``)."""
    return {k: x[k] - y[k] for k in x}


def tree_scale(x: Params, s: float | torch.Tensor) -> Params:
    """s * x, key by key."""
    return {k: v * s for k, v in x.items()}


def tree_add_scaled(x: Params, s: float | torch.Tensor, y: Params) -> Params:
    """x + s * y, key by key."""
    return {k: x[k] + s * y[k] for k in x}


def tree_zeros_like(x: Params) -> Params:
    """Zeros in the shape (and dtype, device) of x."""
    return {k: torch.zeros_like(v) for k, v in x.items()}


def tree_sq_norm(x: Params) -> torch.Tensor:
    """Squared Euclidean norm of all entries together, a scalar tensor."""
    return torch.stack([v.pow(2).sum() for v in x.values()]).sum()


def tree_stack(xs: Sequence[Params]) -> Params:
    """Stack a list of params along a new leading (client) axis."""
    return {k: torch.stack([x[k] for x in xs]) for k in xs[0]}


def tree_flatten(x: Params) -> torch.Tensor:
    """All entries of x as one flat vector (keys in dict order)."""
    return torch.cat([v.reshape(-1) for v in x.values()])
