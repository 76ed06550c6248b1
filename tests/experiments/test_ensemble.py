"""The ensemble workload end to end on real local Ray."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import troupe
from troupe.actors import CallError
from troupe.actors.ensemble import EnsembleWorker


def _run(runs_dir, *overrides):
    return troupe.run("ensemble", ["debug=smoke", f"results.dir={runs_dir}", *overrides])


def test_run_directory_contract(ray_session, runs_dir):
    result = _run(runs_dir, "ensemble.members=6")
    run = Path(result.run_dir)
    assert run.parent.name == "ensemble" and run.parent.parent == Path(runs_dir).resolve()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "ok"
    assert {"wall_seconds", "train_seconds", "metrics", "seed", "versions"} <= summary.keys()
    assert set(summary["versions"]) == {"troupe", "ray", "torch", "python"}
    assert summary["train_seconds"] < summary["wall_seconds"]
    assert 0.5 < summary["metrics"]["test_accuracy"] <= 1.0
    assert (run / "config.yaml").read_text().startswith("experiment: ensemble")
    assert list((run / "plots").glob("*.png"))
    df = result.metrics
    assert {"step", "name", "value", "member"} <= set(df.columns)
    assert df["step"].dtype == np.int64 and df["value"].dtype == np.float64
    members = df[df["name"] == "member/test_accuracy"]
    assert sorted(members["member"].astype(int)) == list(range(6))
    # The pyarrow reader alone understands the directory (no troupe needed).
    assert len(pd.read_parquet(run / "metrics.parquet")) == len(df)


def test_ensemble_beats_its_average_member(ray_session, runs_dir):
    m = _run(runs_dir, "ensemble.members=8", "ensemble.steps=40").summary["metrics"]
    assert m["test_accuracy"] >= m["member_accuracy_mean"]
    assert 0.0 < m["disagreement"] < 1.0


def test_same_seed_same_metrics_with_one_or_two_workers(ray_session, runs_dir):
    one = _run(runs_dir, "ensemble.members=6", "cluster.num_workers=1")
    two = _run(runs_dir, "ensemble.members=6", "cluster.num_workers=2")
    a, b = one.metrics, two.metrics
    assert one.summary["metrics"] == two.summary["metrics"]
    assert a["value"].tolist() == b["value"].tolist()
    assert a["name"].tolist() == b["name"].tolist()


def test_cnn_members(ray_session, runs_dir):
    assert _run(runs_dir, "model=cnn").summary["metrics"]["test_accuracy"] > 0.3


def test_a_failing_run_keeps_its_directory_and_says_failed(ray_session, runs_dir, monkeypatch):
    def broken(self, seeds, *args, **kwargs):
        raise RuntimeError(f"diverged at member {seeds[0]}")

    monkeypatch.setattr(EnsembleWorker, "train", broken)
    with pytest.raises(CallError, match="diverged at member 0"):
        _run(runs_dir, "cluster.num_workers=0")
    [run] = Path(runs_dir, "ensemble").iterdir()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "failed" and "diverged" in summary["error"]
    assert (run / "config.yaml").is_file() and (run / "metrics.parquet").is_file()


def test_a_worker_that_cannot_start_is_one_clear_error(ray_session, runs_dir):
    with pytest.raises(CallError, match="starting a worker"):
        _run(runs_dir, "device=cuda")


def test_seed_concatenated_representations(ray_session, runs_dir):
    result = troupe.run("ensemble_concat", ["debug=smoke", f"results.dir={runs_dir}"])
    table = result.summary["table"]
    assert [row["n"] for row in table] == [1, 2]
    assert table[1]["cat_feature_dim"] == 2 * table[0]["cat_feature_dim"]
    assert all(0.5 < row["cat_probe_accuracy"] <= 1.0 for row in table)
