"""Sweeps end to end on the shared local Ray session: Tune + Optuna, storage, outputs, packing."""

from __future__ import annotations

import optuna
import pandas as pd
import pytest

from troupe.config import load_config
from troupe.tune.sweep import prepare, run_sweep

SMALL = ["ensemble.members=1", "ensemble.steps=20", "progress=false", "cluster.num_cpus=2"]


@pytest.fixture(scope="module")
def single(ray_session, tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    plan = prepare(["sweep=ensemble_lr", "sweep.samples=4", *SMALL, f"results.dir={root}"])
    return run_sweep(plan)


def test_study_in_storage_holds_every_trial(single):
    study = optuna.load_study(study_name="ensemble_lr", storage=f"sqlite:///{single.run_dir}/study.db")
    trials = study.get_trials()
    assert len(trials) == 4
    for t in trials:
        assert t.state == optuna.trial.TrialState.COMPLETE
        assert set(t.params) == {"ensemble.lr", "ensemble.weight_decay"}
        assert 0 <= t.value <= 1 and t.user_attrs["metrics"]["test_accuracy"] == t.value
    assert len({t.user_attrs["tune_trial_id"] for t in trials}) == 4


def test_tables_best_file_and_plots(single, tmp_path):
    run = single.run_dir
    trials = pd.read_parquet(f"{run}/trials.parquet")
    assert len(trials) == 4 and set(trials.status) == {"complete"}
    assert {"trial_id", "ensemble.lr", "ensemble.weight_decay", "test_accuracy", "seconds"} <= set(trials.columns)
    metrics = pd.read_parquet(f"{run}/metrics.parquet")
    assert set(metrics.trial.dropna().astype(int)) == set(trials.trial_id)
    assert (metrics.name == "train/loss").any()
    best = trials.loc[trials.test_accuracy.idxmax()]
    assert single.summary["best"]["values"]["test_accuracy"] == best.test_accuracy
    cfg = load_config([f"+best={run}/best.yaml"])
    assert cfg.ensemble.lr == best["ensemble.lr"] and cfg.ensemble.steps == 20 and cfg.ensemble.members == 1
    import os

    assert {"optimization_history.png", "param_importances.png"} <= set(os.listdir(f"{run}/plots"))


@pytest.mark.slow
def test_packed_sweep_one_row_per_configuration(ray_session, tmp_path):
    storage = f"sqlite:///{tmp_path}/shared.db"  # any SQLAlchemy URL, outside the run directory
    plan = prepare(["sweep=ensemble_pareto", "sweep.samples=6", "sweep.pack=3", "sweep.searcher=random",
                    "ensemble.steps=20", "progress=false", f"results.dir={tmp_path}/runs",
                    f"sweep.storage={storage}", "sweep.study_name=packed"])
    result = run_sweep(plan)
    trials = pd.read_parquet(f"{result.run_dir}/trials.parquet")
    assert len(trials) == 6 and set(trials.status) == {"complete"}
    # configurations of one pack share their shape keys; each pack is one Tune trial
    for _, pack in trials.groupby("tune_trial"):
        assert len(pack) <= 3 and pack["model.hidden"].nunique() == 1 and pack["ensemble.members"].nunique() == 1
    study = optuna.load_study(study_name="packed", storage=storage)
    assert len(study.trials) == 6 and all(len(t.values) == 2 for t in study.trials)
    metrics = pd.read_parquet(f"{result.run_dir}/metrics.parquet")
    assert set(metrics.trial.dropna().astype(int)) == set(trials.trial_id)
    import os

    assert "pareto_front.png" in os.listdir(f"{result.run_dir}/plots")


def test_sweep_over_a_user_data_file(ray_session, tmp_path):
    # the driver reads the user's file once (bad files fail before anything is written) and
    # every trial reads that copy from the object store
    import numpy as np

    g = np.random.default_rng(0)
    x = g.normal(size=(120, 5)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    plan = prepare(["sweep=ensemble_lr", "sweep.samples=2", "data=file", f"data.path={tmp_path}/d.npz",
                    *SMALL, f"results.dir={tmp_path}/runs"])
    result = run_sweep(plan)
    assert result.summary["complete"] == 2
    assert result.summary["best"]["values"]["test_accuracy"] > 0.5
