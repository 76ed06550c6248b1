"""A federated sweep with ASHA: per-round reports reach Tune, poor trials stop early."""

from __future__ import annotations

import optuna
import pandas as pd
import pytest

from troupe.tune.sweep import prepare, run_sweep


@pytest.mark.slow
def test_fl_sweep_with_asha_records_rounds(ray_session, tmp_path):
    pytest.importorskip("troupe.experiments.federated", reason="the federated workload has not landed")
    plan = prepare(["sweep=fl_lr", "sweep.samples=4", "sweep.grace_period=1", "debug=smoke", "fl.rounds=4",
                    f"results.dir={tmp_path}"])
    assert plan.cfg.experiment == "federated" and plan.cfg.sweep.scheduler == "asha"
    result = run_sweep(plan)
    trials = pd.read_parquet(f"{result.run_dir}/trials.parquet")
    assert len(trials) == 4 and set(trials.status) <= {"complete", "pruned"}
    study = optuna.load_study(study_name="fl_lr", storage=f"sqlite:///{result.run_dir}/study.db")
    assert len(study.trials) == 4
    for t in study.trials:  # every evaluated round reached Tune (and the study's intermediate values)
        assert len(t.intermediate_values) >= 1
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert complete and all(len(t.intermediate_values) == 4 for t in complete)
