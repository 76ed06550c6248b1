"""Which torch device a worker computes on."""

from __future__ import annotations

import torch


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA where this process can see a GPU (Ray hides GPUs a worker does not hold)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device=cuda but this worker sees no GPU (set cluster.worker_gpus > 0)")
    return torch.device(name)
