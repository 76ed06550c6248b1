"""Thin actors: plain classes holding state on a device; ``pool`` hosts them on Ray.

Importing the package does not import torch (the sweep driver uses :func:`prefetch`);
the worker classes (``actors.ensemble``, ``actors.federated``, ...) and ``actors.device`` do.
"""

from troupe.actors.pool import Call, CallError, WorkerPool, prefetch, share, start_pool

__all__ = ["Call", "CallError", "WorkerPool", "prefetch", "share", "start_pool"]
