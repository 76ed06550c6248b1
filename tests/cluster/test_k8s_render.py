"""`troupe k8s render` and the committed RayJobs' entrypoints, checked against troupe's configs.

Schema checks use KubeRay's CRD schemas (`$TROUPE_KUBERAY_SCHEMAS` or
`<repo>/../shared/kuberay`); without them they fail under CI=true and skip elsewhere.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from troupe.cli import main
from troupe.cluster import k8s
from troupe.config import conf_dir, load_config

REPO = Path(__file__).resolve().parents[2]




def _render(capsys, *argv: str) -> dict:
    assert main(["k8s", "render", *argv]) == 0
    return yaml.safe_load(capsys.readouterr().out)


def test_render_validates_and_keeps_the_command(schemas, capsys):
    manifest = _render(capsys, "experiment=ensemble", "debug=smoke", "ensemble.members=8", "--gpus", "2")
    k8s.validate(manifest)
    assert manifest["kind"] == "RayJob" and manifest["metadata"]["name"] == "troupe-ensemble"
    assert manifest["spec"]["entrypoint"] == (
        "troupe run experiment=ensemble debug=smoke ensemble.members=8 results.dir=/mnt/results")
    groups = {g["groupName"]: g for g in manifest["spec"]["rayClusterSpec"]["workerGroupSpecs"]}
    assert groups["gpu"]["replicas"] == 2


def test_render_options(schemas, capsys, tmp_path):
    out = tmp_path / "job.yaml"
    assert main(["k8s", "render", "experiment=ensemble_concat", "results.dir=s3://bucket/runs",
                 "--name", "concat-1", "--image", "ghcr.io/me/troupe:dev", "--namespace", "ml",
                 "-o", str(out)]) == 0
    manifest = yaml.safe_load(out.read_text())
    k8s.validate(manifest)
    assert manifest["metadata"] == {**manifest["metadata"], "name": "concat-1", "namespace": "ml"}
    assert manifest["spec"]["entrypoint"].endswith("results.dir=s3://bucket/runs")
    assert "/mnt/results" not in manifest["spec"]["entrypoint"]
    images = {c["image"] for c in manifest["spec"]["submitterPodTemplate"]["spec"]["containers"]}
    assert images == {"ghcr.io/me/troupe:dev"}
    assert "gpu" not in {g["groupName"] for g in manifest["spec"]["rayClusterSpec"]["workerGroupSpecs"]}


def test_render_rejects_a_bad_config_before_printing(capsys):
    assert main(["k8s", "render", "experiment=ensemble", "ensemble.members=-1"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip().count("\n") == 0 and "ensemble.members" in captured.err


def test_render_quotes_words(schemas, capsys):
    manifest = _render(capsys, "experiment=ensemble", "data.path=/data/my file.npz")
    verb, overrides = k8s.entrypoint_overrides(manifest)
    assert verb == "run" and "data.path=/data/my file.npz" in overrides


def _rayjobs() -> list[tuple[str, dict]]:
    out = []
    for path in sorted((REPO / "k8s").glob("rayjob-*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "RayJob":
                out.append((path.name, doc))
    return out


RAYJOBS = _rayjobs()


@pytest.mark.parametrize(("filename", "manifest"), RAYJOBS, ids=[n for n, _ in RAYJOBS])
def test_committed_entrypoints_compose(filename, manifest):
    """Every RayJob runs a command whose overrides make a valid troupe config."""
    verb, overrides = k8s.entrypoint_overrides(manifest)
    if verb == "sweep":
        sweeps = [o.split("=", 1)[1] for o in overrides if o.startswith("sweep=")]
        missing = [s for s in sweeps if not (conf_dir() / "sweep" / f"{s}.yaml").is_file()]
        if missing:
            pytest.skip(f"{filename}: sweep config {missing} not in conf/sweep/ yet")
    cfg = load_config(overrides)
    assert cfg.results.dir == k8s.RESULTS_MOUNT
