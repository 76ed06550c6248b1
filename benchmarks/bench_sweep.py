"""Sweeps: plain Optuna, Ray Tune + OptunaSearch, and ``troupe sweep``, side by side.

Workload: a sweep of the digits MLP (64-128-10, 200 SGD steps, batch 64, momentum 0.9),
lr log-uniform 1e-3..1, weight decay log-uniform 1e-6..1e-2, TPE seeded with 0, test
accuracy maximized. Every way trains with the same code (an inline ``EnsembleWorker``);
only the orchestration differs:
  (a) plain Optuna: ``study.optimize`` in this process, one trial after another;
  (b) Tune + OptunaSearch with Tune's defaults (a fresh trial actor per trial);
  (c) Tune + OptunaSearch with ``reuse_actors=True``;
  (d) ``troupe sweep`` (``troupe.tune.run_sweep``: reused actors, data cached per actor,
      no per-trial loggers, study in SQLite, tables and plots at the end);
  (e) ``troupe sweep`` with ``sweep.pack=P`` (P configurations per vmapped member pack).
Tune runs on an embedded Ray instance with ``--cpus`` CPUs (one trial per CPU).
Run: python benchmarks/bench_sweep.py [--trials 100] [--pack 50] [--pack-cpus 2] [--cpus 2] [--ways abcde]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

STEPS, BATCH, HIDDEN, MOMENTUM = 200, 64, [128], 0.9
SPACE = {"lr": (1e-3, 1.0), "weight_decay": (1e-6, 1e-2)}


def _worker():
    """An inline ensemble worker on digits (what a trial trains with)."""
    from troupe.actors.ensemble import EnsembleWorker
    from troupe.config import DataConfig, TroupeConfig
    from troupe.data import load
    from troupe.experiments.ensemble import model_spec

    data = load(DataConfig(name="digits"), seed=0)
    cfg = TroupeConfig()
    cfg.model.hidden = HIDDEN
    arrays = {"x_train": data.x_train, "y_train": data.y_train, "x_eval": data.x_test}
    return EnsembleWorker(arrays, model_spec(cfg, data.in_shape, data.classes), "cpu"), data.y_test


def accuracy(lr: float, weight_decay: float, worker=None) -> float:
    """Train one MLP with these hyperparameters (seed 0); its test accuracy."""
    worker, y = worker or _worker()
    out = worker.train([0], {"steps": STEPS, "batch_size": BATCH, "lr": lr, "momentum": MOMENTUM,
                             "weight_decay": weight_decay})
    return float((out["logits"][0].argmax(-1) == y).mean())


def plain_optuna(trials: int) -> float:
    import optuna

    worker = _worker()

    def objective(trial):
        return accuracy(trial.suggest_float("lr", *SPACE["lr"], log=True),
                        trial.suggest_float("weight_decay", *SPACE["weight_decay"], log=True), worker)

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0))
    study.optimize(objective, n_trials=trials)
    return study.best_value


def _tune_trainable(config):
    import torch
    from ray import tune

    torch.set_num_threads(1)
    tune.report({"test_accuracy": accuracy(config["lr"], config["weight_decay"])})


def tune_optuna(trials: int, reuse: bool, root: str) -> float:
    import optuna
    from ray import tune
    from ray.tune.search.optuna import OptunaSearch

    space = {k: optuna.distributions.FloatDistribution(lo, hi, log=True) for k, (lo, hi) in SPACE.items()}
    searcher = OptunaSearch(space, metric="test_accuracy", mode="max", sampler=optuna.samplers.TPESampler(seed=0))
    tuner = tune.Tuner(_tune_trainable,
                       tune_config=tune.TuneConfig(search_alg=searcher, num_samples=trials, reuse_actors=reuse),
                       run_config=tune.RunConfig(storage_path=root, name=f"reuse{int(reuse)}", verbose=0))
    grid = tuner.fit()
    return float(grid.get_best_result("test_accuracy", "max").metrics["test_accuracy"])


def troupe_sweep(trials: int, pack: int, root: str, trial_cpus: int = 1) -> float:
    from troupe.tune.sweep import prepare, run_sweep

    plan = prepare(["sweep=ensemble_lr", f"sweep.samples={trials}", f"sweep.pack={pack}", "sweep.seed=0",
                    f"sweep.trial_cpus={trial_cpus}",
                    "ensemble.members=1", f"ensemble.steps={STEPS}", f"ensemble.batch_size={BATCH}",
                    f"ensemble.momentum={MOMENTUM}", f"model.hidden=[{HIDDEN[0]}]", "progress=false",
                    f"results.dir={root}"])
    result = run_sweep(plan)
    return float(result.summary["best"]["values"]["test_accuracy"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--pack", type=int, default=50)
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--pack-cpus", type=int, default=2, help="sweep.trial_cpus of (e): torch threads per pack")
    parser.add_argument("--ways", default="abcde")
    parser.add_argument("--out", default=None, help="write the table as JSON here")
    args = parser.parse_args()

    from troupe.cluster import connect
    from troupe.config import ClusterConfig

    root = tempfile.mkdtemp(prefix="bench_sweep_")
    ways = {
        "a": ("plain Optuna, one process", lambda: plain_optuna(args.trials)),
        "b": ("Tune + OptunaSearch, defaults", lambda: tune_optuna(args.trials, False, root)),
        "c": ("Tune + OptunaSearch, reused actors", lambda: tune_optuna(args.trials, True, root)),
        "d": ("troupe sweep", lambda: troupe_sweep(args.trials, 1, root)),
        "e": (f"troupe sweep, sweep.pack={args.pack}, sweep.trial_cpus={args.pack_cpus}",
              lambda: troupe_sweep(args.trials, args.pack, root, args.pack_cpus)),
    }
    connect(ClusterConfig(num_cpus=args.cpus, num_gpus=0))
    rows = {}
    for key in args.ways:  # (b) and (c) run before (d), which sets troupe's Tune environment
        name, fn = ways[key]
        t0 = time.perf_counter()
        best = fn()
        rows[key] = {"way": name, "seconds": time.perf_counter() - t0, "best_accuracy": best}
        print(f"({key}) {name}: {rows[key]['seconds']:.1f}s, best accuracy {best:.4f}", file=sys.stderr, flush=True)

    print(f"\n{args.trials} trials x {STEPS} steps, digits MLP, {args.cpus} CPUs, load avg {os.getloadavg()[0]:.1f}")
    print("| way | wall s | trials/s | best test acc | vs (b) | vs (c) |\n|---|---:|---:|---:|---:|---:|")
    for key, r in rows.items():
        vs = {k: f"{rows[k]['seconds'] / r['seconds']:.1f}x" if k in rows else "-" for k in "bc"}
        print(f"| ({key}) {r['way']} | {r['seconds']:.1f} | {args.trials / r['seconds']:.2f} | "
              f"{r['best_accuracy']:.4f} | {vs['b']} | {vs['c']} |")
    if "b" in rows and "d" in rows:
        print(f"(d) vs (b): {rows['b']['seconds'] / rows['d']['seconds']:.1f}x faster (target >= 5x)")
    if "c" in rows and "e" in rows:
        print(f"(e) vs (c): {rows['c']['seconds'] / rows['e']['seconds']:.1f}x faster (target >= 3x)")
    if args.out:
        Path(args.out).write_text(json.dumps({"trials": args.trials, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
