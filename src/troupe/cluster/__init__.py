"""The only package that talks to the cluster: connecting, resources, job submission.

Names are imported lazily so that ``troupe.cluster.k8s`` (manifests) loads without Ray.
"""

from __future__ import annotations

import importlib

__all__ = ["connect", "disconnect", "pool_size"]


def __getattr__(name: str):
    if name in __all__:
        return getattr(importlib.import_module("troupe.cluster.connect"), name)
    raise AttributeError(name)
