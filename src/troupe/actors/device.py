"""Which torch device a worker computes on."""

from __future__ import annotations

import warnings

import numpy as np
import torch


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA where this process can see a GPU (Ray hides GPUs a worker does not hold)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device=cuda but this worker sees no GPU (set cluster.worker_gpus > 0)")
    return torch.device(name)


def shared_tensors(arrays: dict[str, np.ndarray], device: torch.device) -> dict[str, torch.Tensor]:
    """Tensors over arrays from Ray's object store (zero-copy on CPU).

    Those arrays are read-only views; workers never write to them, so torch's warning about
    non-writable arrays is silenced here rather than the data copied.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return {k: torch.as_tensor(np.asarray(v), device=device) for k, v in arrays.items()}
