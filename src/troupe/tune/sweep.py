"""The sweep driver: ``troupe sweep`` composes, checks, runs Tune with Optuna, and records.

    plan = prepare(["sweep=ensemble_lr", "ensemble.steps=100"])   # ConfigError before any trial
    result = run_sweep(plan)                                        # runs/sweeps/ensemble_lr/<ts>-<id>/
    result = resume(result.run_dir)                                 # after the driver was killed

The sweep's run directory holds ``config.yaml`` (the experiment's config with its
``sweep``), ``sweep.json`` (the command-line overrides), ``study.db`` (the Optuna study,
unless ``sweep.storage`` points elsewhere), ``tune/`` (Tune's experiment state, for
restore), ``trials/<tune trial id>/`` (each trial's own run directory), and at the end
``trials.parquet``, ``metrics.parquet``, ``best.yaml``, ``summary.json`` and ``plots/``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import threading
import time
from dataclasses import dataclass

import optuna
from ray.tune import Callback

from troupe.config import ConfigError, TroupeConfig, from_yaml, load_config, to_yaml
from troupe.results.rundir import RunDir
from troupe.tune.outputs import best_trials, best_yaml, draw_plots, metrics_table, trials_table
from troupe.tune.space import Param, check_sweep, objectives
from troupe.tune.study import StudyRecorder, open_study, storage_url

# How often Tune saves the experiment state while a sweep runs (what a killed driver's
# resume starts from; finished trials after the last save run again).
CHECKPOINT_SECONDS = 2.0


@dataclass
class SweepPlan:
    """A checked sweep: the experiment config it sweeps and what it varies."""

    name: str
    cfg: TroupeConfig  # the experiment's config, with ``sweep`` set
    params: list[Param]
    metrics: list[str]
    modes: list[str]
    overrides: list[str]  # experiment overrides from the command line (repeated in best.yaml)

    @property
    def base(self) -> TroupeConfig:
        """The experiment's config without the sweep (what each trial starts from)."""
        return dataclasses.replace(self.cfg, sweep=None)

    @property
    def seed(self) -> int:
        return self.cfg.sweep.seed if self.cfg.sweep.seed is not None else self.cfg.seed


@dataclass
class SweepResult:
    run_dir: str
    summary: dict


def _sweep_name(overrides: list[str]) -> str:
    names = [m.group(1) for o in overrides if (m := re.fullmatch(r"\+?sweep=([\w-]+)", o))]
    return names[-1] if names else "sweep"


def _experiment_overrides(overrides: list[str]) -> list[str]:
    """The overrides that shape the experiment (not the sweep, where results go or the cluster)."""
    return [o for o in overrides if not re.match(r"[+~]?(sweep|experiment|results|cluster|progress)([.=]|$)", o)]


def prepare(overrides: list[str]) -> SweepPlan:
    """Compose ``conf/`` with the overrides, pick the sweep's experiment, check everything."""
    overrides = list(overrides)
    cfg = load_config(overrides)
    if cfg.sweep is None:
        raise ConfigError("sweep", "no sweep chosen: add sweep=NAME (one of conf/sweep/*.yaml)")
    explicit = any(re.match(r"\+?experiment=", o) for o in overrides)
    if cfg.sweep.experiment and not explicit and cfg.sweep.experiment != cfg.experiment:
        cfg = load_config([f"experiment={cfg.sweep.experiment}", *overrides])
    return _plan(_sweep_name(overrides), cfg, _experiment_overrides(overrides))


def _plan(name: str, cfg: TroupeConfig, overrides: list[str]) -> SweepPlan:
    base = dataclasses.replace(cfg, sweep=None)
    params = check_sweep(cfg.sweep, base)
    metrics, modes = objectives(cfg.sweep)
    return SweepPlan(name, cfg, params, metrics, modes, overrides)


def expected_reports(cfg: TroupeConfig) -> int:
    """How many times a trial reports (the scheduler's time budget)."""
    if cfg.workload in ("federated", "fl_curriculum"):
        return max(1, math.ceil(cfg.fl.rounds / cfg.fl.eval_every))
    return 1


def user_data(plan: SweepPlan):
    """The sweep's dataset when it is the user's file (``data.path``), else ``None``.

    Read by the driver before anything is written, so a missing or corrupt file is one
    clear error and exit code 2, as with ``troupe run``; bundled and synthetic datasets
    cannot be, and load while the trial processes start (see :func:`_trainable`).
    """
    if plan.base.data.path is None:
        return None
    from troupe.tune.trainable import load_data

    return load_data(plan.base)


def _trainable(plan: SweepPlan, run_dir: RunDir, data=None):
    from ray import tune

    from troupe.actors import prefetch, share
    from troupe.tune.trainable import data_key, load_data, run_pack_trial, run_trial

    sweep = plan.cfg.sweep
    fn = run_pack_trial if sweep.pack > 1 else run_trial
    # The dataset is loaded once and trials read it from the object store; unless the driver
    # has it already, a task loads it while the trial processes start.
    shared = (data_key(plan.base), share(data) if data is not None else prefetch(load_data, plan.base))
    bound = tune.with_parameters(fn, base=to_yaml(plan.base), root=run_dir.join("trials"),
                                 params=plan.params, cpus=sweep.trial_cpus, data=shared)
    return tune.with_resources(bound, {"cpu": sweep.trial_cpus})


def _searcher(plan: SweepPlan):
    from ray.tune.search import ConcurrencyLimiter
    from ray.tune.search.optuna import OptunaSearch

    from troupe.experiments.runner import WORKLOADS
    from troupe.tune.packing import PackSearch
    from troupe.tune.search import make_sampler

    sweep = plan.cfg.sweep
    sampler = make_sampler(sweep.searcher, plan.seed, objectives=len(plan.metrics), samples=sweep.samples)
    if sweep.pack > 1:
        searcher = PackSearch(plan.params, plan.metrics, plan.modes, sampler, pack=sweep.pack,
                              samples=sweep.samples, pack_keys=WORKLOADS[plan.cfg.workload].pack_keys)
    else:
        multi = len(plan.metrics) > 1
        searcher = OptunaSearch(space={p.key: p.distribution for p in plan.params},
                                metric=plan.metrics if multi else plan.metrics[0],
                                mode=plan.modes if multi else plan.modes[0], sampler=sampler)
    return ConcurrencyLimiter(searcher, max_concurrent=sweep.max_concurrent)


def _tune_env() -> None:
    # Tune saves its experiment state every 2 s (and at the end); the study records a trial
    # only once a save holds it (StudyRecorder), so a resumed sweep neither loses a recorded
    # trial nor records one twice. A save costs O(trials): not after every controller step.
    os.environ["TUNE_GLOBAL_CHECKPOINT_S"] = str(CHECKPOINT_SECONDS)
    # Per-trial CSV/JSON/TensorBoard loggers: troupe writes its own tables.
    os.environ["TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"] = "1"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    os.environ["RAY_AIR_NEW_OUTPUT"] = "0"  # with verbose=0: Tune prints nothing; troupe's status line does
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "100000")


def _preload_outputs() -> None:
    """Import what :func:`finish` plots with (matplotlib; sklearn for Optuna's fANOVA importances).

    Run in a background thread while Tune starts the first trials, when the driver only waits.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401
    import optuna.importance  # noqa: F401
    import optuna.visualization.matplotlib  # noqa: F401


class _Preload(Callback):
    """Loads the plotting libraries in a thread once the first trial runs (the driver only waits then)."""

    def __init__(self):
        self.started = False

    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        if not self.started:
            self.started = True
            threading.Thread(target=_preload_outputs, name="troupe-preload", daemon=True).start()


def _callbacks(plan: SweepPlan, run_dir: RunDir):
    from troupe.tune.status import StatusLine

    sweep = plan.cfg.sweep
    url = storage_url(sweep.storage, run_dir.path)
    preload = [_Preload()] if plan.cfg.results.plots else []
    return [*preload, StudyRecorder(url, sweep.study_name or plan.name, plan.params, plan.metrics, plan.modes,
                                         max_reports=expected_reports(plan.base)),
            StatusLine(plan.name, [p.key for p in plan.params], plan.metrics[0], plan.modes[0], sweep.samples,
                       enabled=plan.cfg.progress)]


def _tuner(plan: SweepPlan, run_dir: RunDir, data=None):
    from ray import tune

    from troupe.tune.search import make_scheduler

    sweep = plan.cfg.sweep
    scheduler = make_scheduler(sweep, plan.metrics[0], plan.modes[0], max_t=expected_reports(plan.base))
    tune_config = tune.TuneConfig(search_alg=_searcher(plan), scheduler=scheduler, num_samples=sweep.samples,
                                  reuse_actors=True)
    run_config = tune.RunConfig(name="tune", storage_path=run_dir.path, callbacks=_callbacks(plan, run_dir),
                                verbose=0, failure_config=tune.FailureConfig(max_failures=0))
    return tune.Tuner(_trainable(plan, run_dir, data), tune_config=tune_config, run_config=run_config)


def _connect(plan: SweepPlan, run_dir: RunDir) -> None:
    from troupe.cluster import connect

    connect(plan.cfg.cluster, log_file=run_dir.join("ray.log"))


def run_sweep(plan: SweepPlan) -> SweepResult:
    """Run a prepared sweep in a new run directory; return where it went and its summary."""
    t0 = time.perf_counter()
    data = user_data(plan)
    run_dir = RunDir.create(f"{plan.cfg.results.dir.rstrip('/')}/sweeps", plan.name)
    run_dir.write_text("config.yaml", to_yaml(plan.cfg))
    run_dir.write_json("sweep.json", {"name": plan.name, "overrides": plan.overrides})
    _connect(plan, run_dir)
    _tune_env()
    _tuner(plan, run_dir, data).fit()
    return finish(plan, run_dir, time.perf_counter() - t0)


def load_plan(location: str) -> tuple[SweepPlan, RunDir]:
    """The plan of an existing sweep run directory (from its own config, not from conf/)."""
    run_dir = RunDir.open(location)
    if not run_dir.exists("sweep.json"):
        raise ConfigError("--resume", f"{location} is not a sweep run directory (no sweep.json)")
    meta = run_dir.read_json("sweep.json")
    return _plan(meta["name"], from_yaml(run_dir.read_text("config.yaml")), meta["overrides"]), run_dir


def resume(location: str, *, progress: bool | None = None) -> SweepResult:
    """Finish a sweep whose driver stopped: Tune restores its trials, the study keeps its records."""
    from ray import tune

    t0 = time.perf_counter()
    plan, run_dir = load_plan(location)
    if progress is not None:
        plan.cfg.progress = progress
    data = user_data(plan)
    _connect(plan, run_dir)
    _tune_env()
    path = run_dir.join("tune")
    if tune.Tuner.can_restore(path):
        tuner = tune.Tuner.restore(path, trainable=_trainable(plan, run_dir, data), resume_unfinished=True,
                                   resume_errored=False)
    else:  # killed before Tune saved anything: start the trials afresh in the same directory
        tuner = _tuner(plan, run_dir, data)
    tuner.fit()
    previous = run_dir.read_json("summary.json").get("wall_seconds", 0.0) if run_dir.exists("summary.json") else 0.0
    return finish(plan, run_dir, previous + time.perf_counter() - t0)


def finish(plan: SweepPlan, run_dir: RunDir, wall_seconds: float) -> SweepResult:
    """Write trials.parquet, metrics.parquet, best.yaml, plots and summary.json from the study."""
    sweep = plan.cfg.sweep
    study = open_study(storage_url(sweep.storage, run_dir.path), sweep.study_name or plan.name, plan.modes)
    run_dir.write_table("trials.parquet", trials_table(study, plan.params))
    metrics = metrics_table(study, run_dir.join("trials"))
    if metrics is not None:
        run_dir.write_table("metrics.parquet", metrics)
    states = [t.user_attrs.get("status", t.state.name.lower()) for t in study.get_trials(deepcopy=False)]
    summary: dict = {"sweep": plan.name, "experiment": plan.cfg.experiment, "workload": plan.cfg.workload,
                     "samples": sweep.samples, "trials": len(states),
                     **{s: states.count(s) for s in ("complete", "pruned", "failed")},
                     "metric": plan.metrics, "mode": plan.modes, "storage": storage_url(sweep.storage, run_dir.path),
                     "study_name": sweep.study_name or plan.name, "wall_seconds": wall_seconds,
                     "status": "ok" if len(states) >= sweep.samples else "incomplete"}
    best = best_trials(study, plan.modes)
    if best:
        text = best_yaml(best[0], plan.params, experiment=plan.cfg.experiment, overrides=plan.overrides,
                         metrics=plan.metrics, modes=plan.modes, path=run_dir.join("best.yaml"))
        run_dir.write_text("best.yaml", text)
        summary["best"] = {"trial": best[0].number, "values": dict(zip(plan.metrics, best[0].values, strict=True)),
                           "params": best[0].params, "pareto_front": [t.number for t in best]}
    if plan.cfg.results.plots:
        summary["plots"] = draw_plots(run_dir, study, plan.metrics)
    run_dir.write_json("summary.json", summary)
    return SweepResult(str(run_dir), summary)


def describe(result: SweepResult) -> str:
    """The closing lines ``troupe sweep`` prints."""
    s = result.summary
    lines = [f"sweep {s['sweep']} ({s['experiment']}): {s['trials']} trials, {s['complete']} complete, "
             f"{s['pruned']} pruned, {s['failed']} failed in {s['wall_seconds']:.1f}s"]
    if "best" in s:
        values = ", ".join(f"{k}={v:.4f}" for k, v in s["best"]["values"].items())
        lines.append(f"best: trial {s['best']['trial']}, {values}")
        lines.append(f"run it: troupe run +best={result.run_dir}/best.yaml")
    lines.append(f"results: {result.run_dir}")
    return "\n".join(lines)


