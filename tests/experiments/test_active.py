"""The active workload end to end on real local Ray."""

import pytest

import troupe

pytestmark = pytest.mark.usefixtures("ray_session")


def _run(runs_dir, *overrides):
    return troupe.run("active", ["debug=smoke", f"results.dir={runs_dir}", *overrides])


def test_smoke_run_records_every_method_per_class(runs_dir):
    result = _run(runs_dir)
    assert result.summary["status"] == "ok"
    df = result.metrics
    for method in ("own", "robust", "prior", "uniform", "greedy"):
        rows = df[df["name"] == f"active/error/{method}"]
        assert sorted(rows["step"]) == [0, 1] and rows["value"].between(0, 1).all()
    assert (df["name"] == "train/loss").sum() == 6
    table = result.summary["table"]
    assert [row["class"] for row in table] == [0, 1]
    assert {"robust_max_gap", "robust_error_mean", "uniform_error_mean", "prior_error_mean"} <= set(
        result.summary["metrics"])


def test_same_seed_same_metrics_with_one_or_two_workers(runs_dir):
    one = _run(runs_dir, "cluster.num_workers=1", "seed=5")
    two = _run(runs_dir, "cluster.num_workers=2", "seed=5")
    assert one.summary["metrics"] == two.summary["metrics"]
    cols = ["step", "name", "value"]
    assert one.metrics[cols].equals(two.metrics[cols])
