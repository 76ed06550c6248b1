"""Search spaces and the checks that run before any trial (no Ray)."""

from __future__ import annotations

import dataclasses

import optuna.distributions as od
import pytest

from troupe.config import ConfigError, SweepConfig, load_config
from troupe.tune.packing import pack_groups
from troupe.tune.space import apply_values, check_sweep, parse_param, set_values


def test_distributions_parse():
    assert parse_param("ensemble.lr", "float(1e-3, 1, log=true)").distribution == od.FloatDistribution(1e-3, 1.0, log=True)
    assert parse_param("fl.local_epochs", "int(1, 3)").distribution == od.IntDistribution(1, 3)
    p = parse_param("model.hidden", "choice([[32], [64, 32]])")
    assert p.encoded and p.probes() == [[32], [64, 32]]
    assert parse_param("data.name", "choice(['digits', 'wine'])").distribution.choices == ("digits", "wine")


@pytest.mark.parametrize("text, problem", [
    ("float(1, 0)", "low 1 exceeds high 0"),
    ("float(0, 1, log=true)", "log scale needs low > 0"),
    ("int(0.5, 3)", "int bounds must be int numbers"),
    ("normal(0, 1)", "cannot parse"),
    ("choice([])", "choice takes one non-empty list"),
    ("float(1e-3)", "float takes (low, high)"),
    ("float(1e-3, 1, scale=2)", "float takes (low, high)"),
])
def test_bad_distribution_is_one_line(text, problem):
    with pytest.raises(ConfigError) as info:
        parse_param("ensemble.lr", text)
    assert info.value.key == "sweep.params.ensemble.lr"
    assert problem in info.value.problem and "\n" not in str(info.value)


def _base(experiment="ensemble"):
    return dataclasses.replace(load_config([f"experiment={experiment}"]), sweep=None)


def _sweep(**kw):
    return SweepConfig(**{"params": {"ensemble.lr": "float(1e-3, 1, log=true)"}, **kw})


def test_check_sweep_accepts_the_shipped_sweeps():
    for name in ("ensemble_lr", "ensemble_pareto"):
        cfg = load_config([f"sweep={name}"])
        assert check_sweep(cfg.sweep, dataclasses.replace(cfg, sweep=None))


@pytest.mark.parametrize("sweep, key, problem", [
    (_sweep(params={"ensemble.lrr": "float(0.1, 1)"}), "sweep.params.ensemble.lrr", "unknown key"),
    (_sweep(params={"ensemble.lr": "float(0, 1)"}), "sweep.params.ensemble.lr", "must be > 0"),
    (_sweep(params={"fl.strategy": "choice(['fedavg', 'fedbogus'])"}), "sweep.params.fl.strategy", "fedbogus"),
    (_sweep(params={"ensemble.members": "choice(['many'])"}), "sweep.params.ensemble.members", "invalid"),
    (_sweep(metric="accuracy"), "sweep.metric", "never reports 'accuracy'"),
    (_sweep(metric=["test_accuracy", "test_loss"], mode=["max"]), "sweep.mode", "1 entries for 2 metrics"),
    (_sweep(mode="maximize"), "sweep.mode", "not one of max, min"),
    (_sweep(metric=["test_accuracy", "test_loss"], mode=["max", "min"], searcher="cmaes"), "sweep.searcher", "single metric"),
    (_sweep(metric=["test_accuracy", "test_loss"], mode=["max", "min"], scheduler="asha"), "sweep.scheduler", "single metric"),
    (_sweep(params={}), "sweep.params", "is empty"),
])
def test_check_sweep_rejects(sweep, key, problem):
    with pytest.raises(ConfigError) as info:
        check_sweep(sweep, _base())
    assert info.value.key == key and problem in str(info.value)


def test_apply_values_sets_and_validates():
    cfg = apply_values(_base(), {"ensemble.lr": 0.02, "model.hidden": [32]})
    assert cfg.ensemble.lr == 0.02 and cfg.model.hidden == [32]
    with pytest.raises(ConfigError, match="ensemble.momentum"):
        apply_values(_base(), {"ensemble.momentum": 1.5})


def test_pack_groups_split_on_shape_keys():
    configs = [{"ensemble.lr": 0.1, "model.hidden": "[32]"}, {"ensemble.lr": 0.2, "model.hidden": "[64]"},
               {"ensemble.lr": 0.3, "model.hidden": "[32]"}]
    assert pack_groups(configs, ("ensemble.lr",)) == [[0, 2], [1]]
    assert pack_groups(configs, ("ensemble.lr", "model.hidden")) == [[0, 1, 2]]


def test_best_file_expands_to_overrides(tmp_path):
    best = tmp_path / "best.yaml"
    best.write_text("# best\nexperiment: ensemble\noverrides:\n- ensemble.lr=0.0123\n- ensemble.steps=7\n")
    cfg = load_config([f"+best={best}", "ensemble.steps=9"])
    assert (cfg.experiment, cfg.ensemble.lr, cfg.ensemble.steps) == ("ensemble", 0.0123, 9)
    with pytest.raises(ConfigError, match="no such file"):
        load_config([f"+best={tmp_path / 'missing.yaml'}"])


def test_set_values_is_apply_values_without_omegaconf():
    values = {"ensemble.lr": 0.02, "model.hidden": [32], "cluster.num_workers": 0}
    assert set_values(_base(), values) == apply_values(_base(), values)
    with pytest.raises(ConfigError, match="unknown key"):
        set_values(_base(), {"ensemble.lrr": 0.1})
    with pytest.raises(ConfigError, match="ensemble.lr"):
        set_values(_base(), {"ensemble.lr": -1.0})


def test_workload_table_matches_the_workload_modules():
    # the sweep driver reads WORKLOADS instead of importing workloads (and torch)
    import importlib

    from troupe.experiments.runner import WORKLOADS

    for name, workload in WORKLOADS.items():
        module = importlib.import_module(f"troupe.experiments.{name}")
        assert callable(module.run)
        assert bool(workload.pack_keys) == hasattr(module, "run_pack"), name
        assert workload.reports and len(set(workload.reports)) == len(workload.reports)
    active = importlib.import_module("troupe.experiments.active")
    assert {f"{m}_error_mean" for m in active.METHODS} <= set(WORKLOADS["active"].reports)


def test_preparing_a_sweep_does_not_import_torch():
    import subprocess
    import sys

    code = ("import sys; from troupe.tune.sweep import prepare; "
            "prepare(['sweep=ensemble_lr', 'sweep.pack=4']); prepare(['sweep=fl_lr']); "
            "print(sorted(m for m in ('torch', 'sklearn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
