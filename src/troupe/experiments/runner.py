"""Run one experiment end to end: check, load data, connect, run the workload, record.

The order matters for the bad-input contract: the config is validated and the data
loaded *before* the run directory exists, so a bad key or a corrupt file leaves
nothing behind. Once the directory exists every outcome is recorded: a failure
writes ``summary.json`` with ``status: failed`` and keeps the metrics so far.
"""

from __future__ import annotations

import importlib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from troupe import __version__
from troupe.config import TroupeConfig, from_yaml, to_yaml
from troupe.data import Dataset, load
from troupe.results.metrics import MetricsLog, finite
from troupe.results.rundir import RunDir


@dataclass(frozen=True)
class Workload:
    """What a sweep needs to know of a workload before running it, without importing it (or torch).

    Attributes:
        reports: the final metrics its ``ctx.report`` sends (what a sweep may optimize).
        pack_keys: config keys that may differ between configurations trained as one member
            pack (its module then has ``run_pack``); empty when the workload cannot pack trials.
    """

    reports: tuple[str, ...]
    pack_keys: tuple[str, ...] = ()


_ACTIVE = ("own", "robust", "prior", "uniform", "greedy")
WORKLOADS = {
    "ensemble": Workload(("test_accuracy", "test_loss", "vote_accuracy", "member_accuracy_mean",
                          "member_accuracy_std", "disagreement"),
                         # anything else (width, steps, batch size, members) changes shapes or batch streams
                         pack_keys=("ensemble.lr", "ensemble.momentum", "ensemble.weight_decay", "seed")),
    "ensemble_concat": Workload(("cat_probe_accuracy", "wide_probe_accuracy", "source_accuracy_mean",
                                 "cat_minus_wide")),
    "federated": Workload(("test_accuracy", "test_loss")),
    "fl_curriculum": Workload(("test_accuracy", "test_loss")),
    "active": Workload((*(f"{m}_error_mean" for m in _ACTIVE), "robust_max_gap", "robust_max_gap_heldout")),
}


@dataclass
class Result:
    """What a run returns: where it went, its summary and its metrics."""

    run_dir: str
    summary: dict

    @property
    def metrics(self):
        """``metrics.parquet`` as a pandas DataFrame (read through pyarrow)."""
        return RunDir.open(self.run_dir).read_table("metrics.parquet").to_pandas()


@dataclass
class RunContext:
    """Everything a workload's ``run(cfg, ctx)`` needs besides the config."""

    cfg: TroupeConfig
    run_dir: RunDir
    data: Dataset
    metrics: MetricsLog
    report: Callable[..., None] | None = None  # Ray Tune's tune.report inside a trial
    train_seconds: float | None = None
    extra: dict = field(default_factory=dict)
    _t_train: float | None = None

    def start_training(self) -> None:
        """Mark the start of the workload proper (after Ray and the workers are up)."""
        self._t_train = time.perf_counter()

    def stop_training(self) -> None:
        if self._t_train is not None:
            self.train_seconds = time.perf_counter() - self._t_train

    def flush(self) -> None:
        """Write ``metrics.parquet`` now, so an interrupted run keeps what it measured."""
        self.run_dir.write_table("metrics.parquet", self.metrics.table())

    def log(self, message: str) -> None:
        """A line for the user (stderr, so stdout stays machine-readable)."""
        if self.cfg.progress:
            print(message, file=sys.stderr)


def versions() -> dict:
    import platform

    import ray
    import torch

    return {"troupe": __version__, "ray": ray.__version__, "torch": torch.__version__,
            "python": platform.python_version()}


def model_spec(cfg: TroupeConfig, in_shape: tuple[int, ...], classes: int, width_mult: int = 1) -> dict:
    """Keyword arguments of ``troupe.algorithms.models.build_model`` for this config and data shape."""
    return {"name": cfg.model.name, "in_shape": tuple(in_shape), "classes": int(classes),
            "hidden": list(cfg.model.hidden), "channels": list(cfg.model.channels), "width_mult": width_mult}


def workload_module(name: str):
    """``troupe.experiments.<name>``, which defines ``run(cfg, ctx) -> dict``."""
    if name not in WORKLOADS:
        raise ValueError(f"unknown workload {name!r}; known: {', '.join(WORKLOADS)}")
    return importlib.import_module(f"troupe.experiments.{name}")


def execute(cfg: TroupeConfig, *, report: Callable[..., None] | None = None,
            data: Dataset | None = None) -> Result:
    """Run ``cfg`` and write its run directory; return the :class:`Result`."""
    from troupe.cluster import connect

    t0 = time.perf_counter()
    module = workload_module(cfg.workload)
    if cfg.resume:
        run_dir = RunDir.open(cfg.resume)
        previous = from_yaml(run_dir.read_text("config.yaml"))
        cfg = _resumed(previous, cfg)
    data = data if data is not None else load(cfg.data, seed=cfg.seed, clients=cfg.fl.clients)
    check = getattr(module, "check", None)  # a workload's own bad-input checks, before anything is written
    if check is not None:
        check(cfg, data)
    if not cfg.resume:
        run_dir = RunDir.create(cfg.results.dir, cfg.experiment)
    run_dir.write_text("config.yaml", to_yaml(cfg))
    metrics = MetricsLog(run_id=Path(run_dir.path).name)
    ctx = RunContext(cfg, run_dir, data, metrics, report)
    summary: dict[str, Any] = {"experiment": cfg.experiment, "workload": cfg.workload, "seed": cfg.seed,
                               "run_dir": str(run_dir), "versions": versions()}
    try:
        log_file = run_dir.join("ray.log") if "://" not in str(run_dir) else None
        connect(cfg.cluster, log_file=log_file)
        final = module.run(cfg, ctx)
        if ctx.train_seconds is None:
            ctx.stop_training()
        summary.update(status="ok", metrics={k: finite(v) for k, v in final.items()})
    except BaseException as exc:
        # Tune ends an early-stopped trial with SystemExit; the contract keeps ok|failed, the error says why.
        reason = "stopped early" if isinstance(exc, (SystemExit, KeyboardInterrupt)) else type(exc).__name__
        summary.update(status="failed", error=f"{reason}: {exc}".splitlines()[0],
                       metrics={k: finite(v) for k, v in metrics.latest.items()})
        raise
    finally:
        summary.update(wall_seconds=time.perf_counter() - t0, train_seconds=ctx.train_seconds)
        if ctx.extra:
            summary.update(ctx.extra)
        ctx.flush()
        run_dir.write_json("summary.json", summary)
    if cfg.results.plots:
        from troupe.results.plots import draw

        draw(run_dir)
    return Result(str(run_dir), summary)


def _resumed(previous: TroupeConfig, requested: TroupeConfig) -> TroupeConfig:
    """Continue a run with its own config; only the resume path and progress come from now."""
    previous.resume = requested.resume
    previous.progress = requested.progress
    previous.cluster = requested.cluster
    return previous


def run(experiment: str, overrides: list[str] | tuple[str, ...] = (), **kwargs) -> Result:
    """The Python API: ``troupe.run("ensemble", overrides=["ensemble.members=8"])``."""
    from troupe.config import load_config

    cfg = load_config([f"experiment={experiment}", *overrides])
    return execute(cfg, **kwargs)
