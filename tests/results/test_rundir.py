"""The run directory contract on local paths and pyarrow filesystem URIs."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from troupe.results import MetricsLog, RunDir
from troupe.results.metrics import SCHEMA


@pytest.mark.parametrize("uri", [False, True])
def test_layout_and_atomic_files(tmp_path, uri):
    root = f"file://{tmp_path}/runs" if uri else str(tmp_path / "runs")
    run = RunDir.create(root, "ensemble")
    parts = run.path.split("/")
    assert parts[-2] == "ensemble" and len(parts[-1].split("-")) == 3
    run.write_text("config.yaml", "seed: 0\n")
    run.write_json("summary.json", {"status": "ok", "value": 1.5})
    assert run.list("") == ["checkpoints", "config.yaml", "plots", "summary.json"]  # no temp files left
    again = RunDir.open(str(run))
    assert again.read_json("summary.json")["value"] == 1.5
    assert json.loads((tmp_path / "runs" / "ensemble" / parts[-1] / "summary.json").read_text())["status"] == "ok"


def test_open_rejects_a_folder_that_is_not_a_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a troupe run directory"):
        RunDir.open(str(tmp_path))


def test_metrics_parquet_schema(tmp_path):
    run = RunDir.create(str(tmp_path), "x")
    log = MetricsLog(run_id="r1")
    log.add("train/loss", 0.5, 3)
    log.add("member/test_accuracy", 0.9, 10, member=2)
    log.add("client/loss", 1.25, 4, round=4, client=17, node="abc")
    run.write_table("metrics.parquet", log.table())
    table = pq.read_table(run.join("metrics.parquet"))
    assert table.schema.equals(SCHEMA)
    df = table.to_pandas()
    assert list(df["name"]) == ["train/loss", "member/test_accuracy", "client/loss"]
    assert df["member"].isna().tolist() == [True, False, True]
    assert int(df.loc[2, "client"]) == 17 and df.loc[2, "node"] == "abc"
    with pytest.raises(KeyError):
        log.add("x", 1.0, worker=3)
