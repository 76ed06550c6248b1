"""The only package that talks to the cluster: connecting, resources, job submission."""

from troupe.cluster.connect import connect, disconnect, pool_size

__all__ = ["connect", "disconnect", "pool_size"]
