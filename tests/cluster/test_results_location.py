"""`results.dir` as a local path or a pyarrow filesystem URI, where a cluster job writes."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from troupe.config import load_config
from troupe.experiments.runner import execute

pytestmark = pytest.mark.slow


def _check_run(run_dir: Path) -> None:
    for name in ("config.yaml", "metrics.parquet", "summary.json"):
        assert (run_dir / name).is_file(), f"{name} missing in {run_dir}"
    assert list((run_dir / "plots").glob("*.png"))
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "ok"
    assert summary["nodes"], "summary.json names the nodes the work ran on"
    metrics = pq.read_table(run_dir / "metrics.parquet").to_pandas()
    members = metrics[metrics["name"] == "member/test_accuracy"]
    assert len(members) == 4 and set(members["node"]) <= set(summary["nodes"])


@pytest.mark.parametrize("form", ["uri", "path"])
def test_results_dir_uri_or_path(ray_session, tmp_path, form):
    root = tmp_path / "shared runs"  # a space: the URI form must percent-encode it
    location = root.as_uri() if form == "uri" else str(root)
    if form == "uri":
        assert location.startswith("file:///")
    cfg = load_config(["experiment=ensemble", "debug=smoke", f"results.dir={location}"])
    result = execute(cfg)
    runs = list((root / "ensemble").iterdir())
    assert len(runs) == 1
    _check_run(runs[0])
    assert result.run_dir.startswith(location if form == "uri" else str(root))
    assert len(result.metrics) > 0  # read back through the same location
