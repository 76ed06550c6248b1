"""Experiments: one module per workload, each ``run(cfg, ctx) -> dict`` (orchestration only)."""

from troupe.experiments.runner import WORKLOADS, Result, RunContext, execute, run

__all__ = ["WORKLOADS", "Result", "RunContext", "execute", "run"]
