"""The Tune trainables: one experiment run per trial, or one member pack of configurations.

A trial runs the same :func:`troupe.experiments.runner.execute` as ``troupe run``, inline
in the trial's process (``cluster.num_workers=0``: no nested actors), with its run directory
under the sweep's ``trials/<tune trial id>/``. Every ``ctx.report`` of the workload (each
evaluated round or epoch) goes to ``tune.report``, so schedulers can stop a trial early.
Tune reuses the trial processes (``reuse_actors``), and each process keeps the datasets it
has loaded, so later trials start at once.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from ray import tune

from troupe.config import TroupeConfig, from_yaml, to_yaml
from troupe.tune.space import Param, set_values

# Per trial process: datasets and parsed base configs, reused by the trials it runs.
_DATA: dict[tuple, Any] = {}
_BASES: dict[str, TroupeConfig] = {}


def trial_config(base: str, values: dict[str, Any], root: str, params: list[Param]) -> TroupeConfig:
    """The experiment config of one trial: ``base`` (YAML) with the sampled values, run inline."""
    if base not in _BASES:
        _BASES[base] = from_yaml(base)
    decode = {p.key: p.decode for p in params}
    fixed = {"cluster.num_workers": 0, "progress": False, "results.dir": root, "results.plots": False,
             "resume": None}
    return set_values(_BASES[base], {**{k: decode[k](v) for k, v in values.items()}, **fixed})


def data_key(cfg: TroupeConfig) -> tuple:
    """What a trial's dataset depends on."""
    return repr(cfg.data), cfg.seed, cfg.fl.clients


def load_data(cfg: TroupeConfig):
    from troupe.data import load

    return load(cfg.data, seed=cfg.seed, clients=cfg.fl.clients)


def dataset(cfg: TroupeConfig, shared: tuple | None = None):
    """The trial's dataset, loaded once per process and data config.

    ``shared`` is ``(data_key, ref)``: the sweep's dataset, loaded once by the driver's
    prefetch task; a trial whose data config differs (a swept ``data.*`` or seed) loads its own.
    """
    key = data_key(cfg)
    if key not in _DATA:
        if len(_DATA) > 8:
            _DATA.clear()
        if shared is not None and shared[0] == key:
            import ray

            _DATA[key] = ray.get(shared[1])
        else:
            _DATA[key] = load_data(cfg)
    return _DATA[key]


def _numbers(metrics: dict) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))}


def _threads(cpus: float) -> None:
    import torch

    torch.set_num_threads(max(1, int(cpus)))


def run_trial(config: dict, *, base: str, root: str, params: list[Param], cpus: float = 1.0,
              data: tuple | None = None) -> None:
    """One configuration: ``execute`` the experiment, reporting every ``ctx.report`` to Tune."""
    from troupe.experiments.runner import execute

    _threads(cpus)
    trial_id = tune.get_context().get_trial_id()
    cfg = trial_config(base, config, f"{root}/{trial_id}", params)
    execute(cfg, report=lambda metrics: tune.report(_numbers(metrics)), data=dataset(cfg, data))


def run_pack_trial(config: dict, *, base: str, root: str, params: list[Param], cpus: float = 1.0,
                   data: tuple | None = None) -> None:
    """A pack of configurations (``config['pack']``) trained as one vmapped member pack.

    Reports once, with ``pack/<j>/<metric>`` for configuration ``j`` (``time_total_s`` is the
    pack's); the run directory's metrics carry ``trial=j``.
    """
    from troupe.experiments.runner import RunContext, versions, workload_module
    from troupe.results.metrics import MetricsLog
    from troupe.results.rundir import RunDir

    _threads(cpus)
    trial_id = tune.get_context().get_trial_id()
    cfgs = [trial_config(base, values, f"{root}/{trial_id}", params) for values in config["pack"]]
    t0 = time.perf_counter()
    run_dir = RunDir.create(cfgs[0].results.dir, cfgs[0].experiment)
    run_dir.write_text("config.yaml", to_yaml(cfgs[0]))
    ctx = RunContext(cfgs[0], run_dir, dataset(cfgs[0], data), MetricsLog(run_id=Path(run_dir.path).name))
    status = "failed"
    try:
        finals = workload_module(cfgs[0].workload).run_pack(cfgs, ctx)
        status = "ok"
    finally:
        ctx.stop_training()
        ctx.flush()
        run_dir.write_json("summary.json", {
            "experiment": cfgs[0].experiment, "workload": cfgs[0].workload, "status": status,
            "pack": config["pack"], "wall_seconds": time.perf_counter() - t0,
            "train_seconds": ctx.train_seconds, "versions": versions()})
    seconds = time.perf_counter() - t0  # a packed configuration's time is its pack's
    result = {f"pack/{j}/{k}": v for j, final in enumerate(finals)
              for k, v in {**_numbers(final), "time_total_s": seconds}.items()}
    tune.report(result)
