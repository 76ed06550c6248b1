"""Smoke: every conf/experiment/*.yaml runs end to end with debug=smoke."""

from __future__ import annotations

import pytest

import troupe
from troupe.config import conf_dir

EXPERIMENTS = sorted(p.stem for p in (conf_dir() / "experiment").glob("*.yaml"))


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_smoke(name, ray_session, runs_dir):
    result = troupe.run(name, ["debug=smoke", f"results.dir={runs_dir}"])
    assert result.summary["status"] == "ok"
    assert result.summary["metrics"]
    assert len(result.metrics) > 0
