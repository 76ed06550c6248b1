"""Connecting to Ray: an embedded local instance by default, an existing cluster on request.

Only ``troupe.cluster`` talks to the cluster. Ray's token authentication stays on (Ray
2.60's default), the dashboard of an embedded instance is off, and Ray's own log lines
go to a file (the run directory's ``ray.log``) instead of the terminal.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import ray

from troupe.config import ClusterConfig

_RAY_LOGGERS = ("ray", "ray.tune", "ray.train", "ray.data")


def route_ray_logs(log_file: str | Path | None) -> None:
    """Send Ray's Python log lines to ``log_file`` (or drop them below ERROR).

    One file handler serves every Ray logger; the handler of an earlier run is closed.
    """
    handler = None
    if log_file is not None:
        handler = logging.FileHandler(log_file)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler._troupe = True
    for name in _RAY_LOGGERS:
        logger = logging.getLogger(name)
        for old in list(logger.handlers):
            if getattr(old, "_troupe", False) or not isinstance(old, logging.FileHandler):
                logger.removeHandler(old)
                old.close()
        logger.propagate = False
        if handler is not None:
            logger.addHandler(handler)
        logger.setLevel(logging.INFO if handler is not None else logging.ERROR)


def connect(cfg: ClusterConfig, *, log_file: str | Path | None = None) -> dict:
    """Start or join Ray once per process; return the cluster's resources.

    ``cfg.address`` null starts an embedded local instance sized by ``num_cpus`` and
    ``num_gpus`` (default: the machine); otherwise joins that cluster. Inside a Ray job
    (``RAY_ADDRESS`` set) the job's own cluster is joined. Calling it again is a no-op.
    """
    route_ray_logs(log_file)
    if not ray.is_initialized():
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        kwargs: dict = dict(
            namespace=cfg.namespace,
            log_to_driver=False,
            configure_logging=False,
            ignore_reinit_error=True,
        )
        address = cfg.address or os.environ.get("RAY_ADDRESS")
        if address:
            kwargs["address"] = address
        else:
            kwargs.update(num_cpus=cfg.num_cpus, num_gpus=cfg.num_gpus, include_dashboard=False)
        # ray.init replaces the handlers of the "ray" logger; its start-up lines would then reach
        # the terminal through logging.lastResort, so that goes to the log file meanwhile.
        last_resort = logging.lastResort
        logging.lastResort = logging.FileHandler(log_file) if log_file else logging.NullHandler()
        try:
            ray.init(**kwargs)
        finally:
            logging.lastResort.close()
            logging.lastResort = last_resort
        route_ray_logs(log_file)
    return ray.cluster_resources()


def disconnect() -> None:
    """Shut down the embedded instance (or leave the cluster)."""
    if ray.is_initialized():
        ray.shutdown()


def pool_size(cfg: ClusterConfig) -> int:
    """Workers to start: one per slot of ``worker_cpus`` (and ``worker_gpus``) the cluster has."""
    if cfg.num_workers is not None:
        return cfg.num_workers
    resources = ray.cluster_resources()
    slots = int(resources.get("CPU", 1) // cfg.worker_cpus)
    if cfg.worker_gpus > 0:
        slots = min(slots, int(resources.get("GPU", 0) // cfg.worker_gpus))
    return max(1, slots)
