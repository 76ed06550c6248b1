"""Seed-concatenated representations and their linear probe.

"Learning useful representations for shifting tasks and distributions"
(Zhang & Bottou, 2022): train n networks of one architecture from different
seeds, concatenate their penultimate features (CAT_n) and fit a linear probe
on a new task or distribution. The probe here is scikit-learn's logistic
regression on standardised features; the paper's exact probe settings (solver,
regularisation, augmentation) are not reproduced, only the idea.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

ArrayLike = Tensor | np.ndarray


def concat_features(features: Tensor, n: int) -> Tensor:
    """CAT_n: the first ``n`` members' features side by side.

    Args:
        features: ``(P, N, F)`` per-member features, e.g. from ``pack_features``.
        n: how many members to concatenate, ``1 <= n <= P``.

    Returns:
        ``(N, n * F)``; columns ``[i * F, (i + 1) * F)`` are member ``i``'s features.
    """
    members, count, width = features.shape
    if not 1 <= n <= members:
        raise ValueError(f"n must lie in [1, {members}], got {n}")
    return features[:n].permute(1, 0, 2).reshape(count, n * width)


def _numpy(a: ArrayLike) -> np.ndarray:
    return a.detach().cpu().numpy() if isinstance(a, Tensor) else np.asarray(a)


def linear_probe(
    train_x: ArrayLike,
    train_y: ArrayLike,
    test_x: ArrayLike,
    test_y: ArrayLike,
    *,
    seed: int,
    C: float = 1.0,
    max_iter: int = 1000,
) -> float:
    """Test accuracy of a logistic-regression probe fit on standardised training features.

    Args:
        train_x, test_x: ``(N, F)`` features; train_y, test_y: ``(N,)`` labels.
        seed: the solver's ``random_state``.
        C: inverse L2 regularisation strength.
        max_iter: solver iteration cap.
    """
    # imported here: only probes need sklearn, about a second to import
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(_numpy(train_x))
    probe = LogisticRegression(C=C, max_iter=max_iter, random_state=seed)
    probe.fit(scaler.transform(_numpy(train_x)), _numpy(train_y))
    return float(probe.score(scaler.transform(_numpy(test_x)), _numpy(test_y)))


def split_by_classes(
    x: ArrayLike, y: ArrayLike, classes: Sequence[int]
) -> tuple[ArrayLike, ArrayLike]:
    """Keep the examples whose label is in ``classes`` and relabel ``classes[k]`` as ``k``.

    Used to make a source task (e.g. digits 0-4) and a shifted target task (5-9).
    Tensors stay tensors and arrays stay arrays.
    """
    if isinstance(y, Tensor):
        wanted = torch.as_tensor(list(classes), dtype=y.dtype, device=y.device)
        keep = torch.isin(y, wanted)
        # Each kept label matches exactly one entry of `classes`; its position is the new label.
        return x[keep], (y[keep].unsqueeze(1) == wanted).long().argmax(dim=1)
    y = np.asarray(y)
    keep = np.isin(y, classes)
    remap = {c: k for k, c in enumerate(classes)}
    return np.asarray(x)[keep], np.array([remap[c] for c in y[keep].tolist()], dtype=np.int64)
