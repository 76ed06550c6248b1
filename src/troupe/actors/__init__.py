"""Thin actors: plain classes holding state on a device; ``pool`` hosts them on Ray."""

from troupe.actors.device import resolve_device
from troupe.actors.pool import Call, CallError, WorkerPool, start_pool

__all__ = ["Call", "CallError", "WorkerPool", "resolve_device", "start_pool"]
