"""The KubeRay manifests in k8s/ and the ones `troupe.cluster.k8s` renders.

Schema checks use KubeRay's CRD schemas (`$TROUPE_KUBERAY_SCHEMAS` or
`<repo>/../shared/kuberay`); without them they fail under CI=true and skip elsewhere.
"""

from __future__ import annotations

import ast
import copy
import re
import tomllib
from pathlib import Path

import pytest
import yaml

from troupe.cluster import k8s

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "k8s"
DOCKERFILE = K8S / "image" / "Dockerfile"
IMAGE = "ghcr.io/troupe-ml/troupe:0.1.0"

# The committed RayJobs, as render_rayjob arguments: the files must not drift from the code.
RAYJOBS = {
    "rayjob-ensemble.yaml": dict(
        name="troupe-ensemble",
        command="troupe run experiment=ensemble data=digits ensemble.members=256 device=auto results.dir=/mnt/results",
        gpus=1,
        cpu_workers=1,
        active_deadline_s=4 * 3600,
    ),
    "rayjob-federated.yaml": dict(
        name="troupe-federated",
        command="troupe run experiment=federated fl.clients=1000 fl.clients_per_round=50 fl.rounds=200 results.dir=/mnt/results",
        gpus=2,
        cpu_workers=2,
        active_deadline_s=6 * 3600,
    ),
    "rayjob-active.yaml": dict(
        name="troupe-active",
        command="troupe run experiment=active results.dir=/mnt/results",
        gpus=1,
        cpu_workers=1,
        active_deadline_s=4 * 3600,
    ),
    "rayjob-sweep.yaml": dict(
        name="troupe-sweep",
        command="troupe sweep sweep=fl_lr results.dir=/mnt/results",
        gpus=2,
        cpu_workers=2,
        max_cpu_workers=4,
        active_deadline_s=12 * 3600,
    ),
}


def _documents(path: Path) -> list[dict]:
    with path.open() as f:
        return [doc for doc in yaml.safe_load_all(f) if doc is not None]


def _manifest_files() -> list[Path]:
    return sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


def _all_documents() -> list[tuple[str, dict]]:
    return [(p.name, doc) for p in _manifest_files() for doc in _documents(p)]


def _ray_documents() -> list[tuple[str, dict]]:
    return [(n, d) for n, d in _all_documents() if d.get("kind") in ("RayCluster", "RayJob")]


def _rendered() -> list[tuple[str, dict]]:
    return [
        (
            f"rendered gpus={gpus}",
            k8s.render_rayjob(
                command="troupe run experiment=federated fl.rounds=10", name="fed", gpus=gpus
            ),
        )
        for gpus in (0, 2)
    ] + [("rendered raycluster", k8s.render_raycluster())]


def _cluster_spec(manifest: dict) -> dict:
    spec = manifest["spec"]
    return spec["rayClusterSpec"] if manifest["kind"] == "RayJob" else spec


def _ray_pods(manifest: dict) -> list[tuple[str, dict]]:
    """(label, pod spec) of the head, every worker group and a RayJob's submitter."""
    cluster = _cluster_spec(manifest)
    pods = [("head", cluster["headGroupSpec"]["template"]["spec"])]
    pods += [(g["groupName"], g["template"]["spec"]) for g in cluster.get("workerGroupSpecs", [])]
    if manifest["kind"] == "RayJob" and "submitterPodTemplate" in manifest["spec"]:
        pods.append(("submitter", manifest["spec"]["submitterPodTemplate"]["spec"]))
    return pods


def _containers(manifest: dict) -> list[tuple[str, dict, dict]]:
    """(label, container, pod securityContext) of every container, the autoscaler included."""
    out = [
        (f"{label}/{c['name']}", c, pod.get("securityContext", {}))
        for label, pod in _ray_pods(manifest)
        for c in pod["containers"]
    ]
    cluster = _cluster_spec(manifest)
    if cluster.get("enableInTreeAutoscaling"):
        out.append(("autoscaler", cluster.get("autoscalerOptions", {}), {}))
    return out


ALL = _ray_documents() + _rendered()
IDS = [f"{n}:{d['metadata']['name']}" for n, d in ALL]




# ------------------------------------------------------------------ schema validation


def test_manifests_exist():
    names = {p.name for p in _manifest_files()}
    assert {"raycluster.yaml", "results-pvc.yaml", "ray-token-secret.example.yaml"} <= names
    assert set(RAYJOBS) <= names
    kinds = [d["kind"] for _, d in _ray_documents()]
    assert kinds.count("RayCluster") == 1 and kinds.count("RayJob") == len(RAYJOBS)


@pytest.mark.parametrize(("source", "manifest"), ALL, ids=IDS)
def test_validates_against_crd(schemas, source, manifest):
    k8s.validate(manifest)


def test_validate_reports_path_and_problem(schemas):
    manifest = k8s.render_rayjob(command="troupe run experiment=active", name="a", gpus=1)
    bad = copy.deepcopy(manifest)
    bad["spec"]["rayClusterSpec"]["headGroupSpec"]["rayStartParams"]["num-cpus"] = 0
    with pytest.raises(
        ValueError,
        match=r"spec\.rayClusterSpec\.headGroupSpec\.rayStartParams\.num-cpus: 0 is not of type 'string'",
    ):
        k8s.validate(bad)

    bad = copy.deepcopy(manifest)
    bad["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]["minReplica"] = 0
    with pytest.raises(
        ValueError, match=r"workerGroupSpecs\[0\].*'minReplica' was unexpected"
    ) as info:
        k8s.validate(bad)
    assert "\n" not in str(info.value)

    bad = copy.deepcopy(manifest)
    bad["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]["containers"][0][
        "resources"
    ]["limits"]["memory"] = "lots"
    with pytest.raises(ValueError, match=r"containers\[0\]\.resources\.limits\.memory"):
        k8s.validate(bad)

    for key, value in (("apiVersion", "ray.io/v1alpha1"), ("kind", "Pod"), ("metadata", {})):
        bad = copy.deepcopy(manifest)
        bad[key] = value
        with pytest.raises(ValueError):
            k8s.validate(bad)


def test_int_or_string_quantities_accept_both(schemas):
    manifest = k8s.render_raycluster()
    limits = manifest["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["resources"]
    limits["limits"]["cpu"] = 2
    limits["requests"]["cpu"] = 2
    k8s.validate(manifest)


def test_schema_folder_from_env(monkeypatch, tmp_path):
    monkeypatch.setenv(k8s.SCHEMA_ENV, str(tmp_path))
    with pytest.raises(FileNotFoundError, match=k8s.SCHEMA_ENV):
        k8s.load_schema("RayJob")


# ------------------------------------------------------------------ cluster rules


@pytest.mark.parametrize(("source", "manifest"), ALL, ids=IDS)
def test_head_takes_no_work_and_stays_internal(source, manifest):
    head = _cluster_spec(manifest)["headGroupSpec"]
    assert head["rayStartParams"]["num-cpus"] == "0"
    assert head.get("serviceType", "ClusterIP") == "ClusterIP"
    assert not head.get("enableIngress", False)
    for container in head["template"]["spec"]["containers"]:
        assert "nvidia.com/gpu" not in container["resources"]["limits"]


@pytest.mark.parametrize(("source", "manifest"), ALL, ids=IDS)
def test_worker_groups_and_autoscaling(source, manifest):
    cluster = _cluster_spec(manifest)
    assert cluster["enableInTreeAutoscaling"] is True
    assert cluster["rayVersion"] == k8s.RAY_VERSION
    groups = {g["groupName"]: g for g in cluster["workerGroupSpecs"]}
    assert "cpu" in groups
    for group in groups.values():
        assert 0 <= group["minReplicas"] <= group.get("replicas", 0) <= group["maxReplicas"]
    if "gpu" in groups:
        gpu = groups["gpu"]
        assert gpu["minReplicas"] == 0 and gpu["maxReplicas"] >= 1
        pod = gpu["template"]["spec"]
        assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] in ("1", 1)
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod[
            "tolerations"
        ]


@pytest.mark.parametrize(("source", "manifest"), ALL, ids=IDS)
def test_containers_exact_resources_non_root_and_token(source, manifest):
    for label, container, pod_security in _containers(manifest):
        resources = container["resources"]
        assert resources["requests"] == resources["limits"], label
        security = {**pod_security, **container["securityContext"]}
        assert security["runAsNonRoot"] is True, label
        assert security["runAsUser"] == 1000, label
        assert security["allowPrivilegeEscalation"] is False, label
        assert security["capabilities"]["drop"] == ["ALL"], label
        assert not security.get("privileged", False), label
        env = {e["name"]: e for e in container["env"]}
        assert env["RAY_AUTH_MODE"]["value"] == "token", label
        assert env["RAY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"] == {
            "name": "troupe-ray-token",
            "key": "token",
        }, label


@pytest.mark.parametrize(("source", "manifest"), ALL, ids=IDS)
def test_ray_nodes_mount_results(source, manifest):
    for label, pod in _ray_pods(manifest):
        if label == "submitter":
            continue
        claims = {
            v["name"]: v["persistentVolumeClaim"]["claimName"]
            for v in pod["volumes"]
            if "persistentVolumeClaim" in v
        }
        mounts = {m["mountPath"]: m["name"] for m in pod["containers"][0]["volumeMounts"]}
        assert claims[mounts["/mnt/results"]] == "troupe-results", label


def test_no_service_exposed_outside_the_cluster():
    for name, doc in _all_documents():
        if doc["kind"] == "Service":
            assert doc["spec"].get("type", "ClusterIP") == "ClusterIP", name
    text = "\n".join(p.read_text() for p in _manifest_files())
    assert "LoadBalancer" not in text and "NodePort" not in text


# ------------------------------------------------------------------ RayJobs


@pytest.mark.parametrize("filename", sorted(RAYJOBS))
def test_rayjob_file_matches_render(filename):
    (manifest,) = _documents(K8S / filename)
    expected = k8s.render_rayjob(image=IMAGE, **RAYJOBS[filename])
    assert manifest == expected, f"k8s/{filename} drifted from troupe.cluster.k8s.render_rayjob"


def test_raycluster_file_matches_render():
    (manifest,) = _documents(K8S / "raycluster.yaml")
    assert manifest == k8s.render_raycluster(name="troupe", image="troupe:0.1.0")


@pytest.mark.parametrize(("source", "manifest"), ALL, ids=IDS)
def test_rayjob_lifecycle_and_entrypoint(source, manifest):
    if manifest["kind"] != "RayJob":
        return
    spec = manifest["spec"]
    assert spec["shutdownAfterJobFinishes"] is True
    assert spec["ttlSecondsAfterFinished"] > 0
    assert spec["activeDeadlineSeconds"] > 0
    assert spec["entrypoint"].startswith(("troupe run ", "troupe sweep "))
    verb, overrides = k8s.entrypoint_overrides(manifest)
    assert verb in ("run", "sweep") and overrides
    assert all("=" in o for o in overrides)
    if source in RAYJOBS:
        assert "results.dir=/mnt/results" in overrides


def test_entrypoint_overrides_parsing():
    job = {"kind": "RayJob", "spec": {"entrypoint": "troupe sweep sweep=fl_lr 'a.b=[1, 2]'"}}
    assert k8s.entrypoint_overrides(job) == ("sweep", ["sweep=fl_lr", "a.b=[1, 2]"])
    assert k8s.parse_command("run experiment=active") == ("run", ["experiment=active"])
    for bad in ("python train.py", "troupe report runs/x", ""):
        with pytest.raises(ValueError):
            k8s.parse_command(bad)
    with pytest.raises(ValueError):
        k8s.render_rayjob(command="ray job submit -- python x.py", name="x")
    with pytest.raises(ValueError):
        k8s.render_rayjob(command="troupe run experiment=active", name="Bad_Name")


def test_render_sizes_gpu_group():
    none = k8s.render_rayjob(command="troupe run experiment=active", name="a", gpus=0)
    assert [g["groupName"] for g in none["spec"]["rayClusterSpec"]["workerGroupSpecs"]] == ["cpu"]
    two = k8s.render_rayjob(command="troupe run experiment=active", name="a", gpus=2)
    gpu = two["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]
    assert (gpu["groupName"], gpu["replicas"], gpu["minReplicas"], gpu["maxReplicas"]) == (
        "gpu",
        2,
        0,
        2,
    )


def test_to_yaml_round_trips():
    manifest = k8s.render_rayjob(command="troupe run experiment=federated", name="f", gpus=1)
    text = k8s.to_yaml(manifest)
    assert yaml.safe_load(text) == manifest
    assert text.startswith("apiVersion: ray.io/v1\nkind: RayJob\n")
    assert "num-cpus: '0'" in text


def test_k8s_module_does_not_import_ray():
    """Rendering and validating stay fast: k8s.py itself never imports Ray."""
    tree = ast.parse(Path(k8s.__file__).read_text())
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert "ray" not in imported and "troupe" not in imported, imported


# ------------------------------------------------------------------ supporting files


def test_kustomization():
    (kustomization,) = _documents(K8S / "kustomization.yaml")
    assert kustomization["namespace"] == "troupe"
    assert sorted(kustomization["resources"]) == ["raycluster.yaml", "results-pvc.yaml"]
    for resource in kustomization["resources"]:
        assert (K8S / resource).is_file()
    (entry,) = kustomization["images"]
    assert entry["name"] == "troupe"
    assert f"{entry['newName']}:{entry['newTag']}" == IMAGE
    # kustomize rewrites the RayCluster's image (matched by name); RayJobs carry it in full.
    for name, doc in _ray_documents():
        expected = f"{entry['name']}:{entry['newTag']}" if doc["kind"] == "RayCluster" else IMAGE
        for label, container, _ in _containers(doc):
            if label != "autoscaler":  # the autoscaler runs the head's image
                assert container["image"] == expected, (name, label)


def test_pvc_and_secret_example():
    (pvc,) = _documents(K8S / "results-pvc.yaml")
    assert (pvc["kind"], pvc["metadata"]["name"]) == ("PersistentVolumeClaim", "troupe-results")
    assert "ReadWriteMany" in pvc["spec"]["accessModes"]
    path = K8S / "ray-token-secret.example.yaml"
    (secret,) = _documents(path)
    assert (secret["kind"], secret["metadata"]["name"]) == ("Secret", "troupe-ray-token")
    assert "token" in secret["stringData"]
    assert "--from-literal=token=$(openssl rand -hex 32)" in path.read_text()


def _pyproject() -> dict:
    with (REPO / "pyproject.toml").open("rb") as f:
        return tomllib.load(f)


def _dockerfile_base() -> str:
    text = DOCKERFILE.read_text()
    args = dict(re.findall(r"^ARG\s+(\w+)=(\S+)", text, flags=re.M))
    (base,) = re.findall(r"^FROM\s+(\S+)", text, flags=re.M)
    return re.sub(r"\$\{?(\w+)\}?", lambda m: args[m.group(1)], base)


def test_dockerfile_matches_pinned_ray_and_python():
    base = _dockerfile_base()
    match = re.fullmatch(r"rayproject/ray:(\d+)\.(\d+)\.\d+-py(\d)(\d+)-cpu", base)
    assert match, base
    ray_pin = next(d for d in _pyproject()["project"]["dependencies"] if d.startswith("ray["))
    pinned = re.search(r"==(\d+)\.(\d+)\.\*", ray_pin)
    assert match.group(1, 2) == pinned.group(1, 2), (base, ray_pin)
    requires = _pyproject()["project"]["requires-python"]
    assert re.search(rf">=\s*{match.group(3)}\.{match.group(4)}\b", requires), (base, requires)
    assert f"{match.group(1)}.{match.group(2)}" == k8s.RAY_VERSION.rsplit(".", 1)[0]


def test_dockerfile_installs_pinned_torch_then_troupe_as_ray():
    from packaging.requirements import Requirement

    text = DOCKERFILE.read_text()
    (torch_version,) = re.findall(r"torch==(\S+)", text)
    torch_req = next(
        Requirement(d) for d in _pyproject()["project"]["dependencies"] if d.startswith("torch")
    )
    assert torch_version in torch_req.specifier
    assert text.index("torch==") < text.index("pip install --no-cache-dir .")
    assert re.search(r"^USER ray$", text, flags=re.M)
    assert not re.search(r"^USER (root|0)\b", text, flags=re.M)
    for path in ("pyproject.toml", "README.md", "src", "conf"):
        assert re.search(rf"^COPY .*\b{re.escape(path)}\b", text, flags=re.M), path
    ignored = (REPO / ".dockerignore").read_text().split()
    assert {".venv/", "runs/", ".git/"} <= set(ignored)


def test_shipped_schema_copy_matches_the_shared_one():
    """k8s/schemas/ is the fallback when ../shared/kuberay is absent; it must not drift."""
    shared = K8S.parent.parent / "shared" / "kuberay"
    shipped = sorted((K8S / "schemas").glob("*_v1.json"))
    assert [p.name for p in shipped] == ["RayCluster_v1.json", "RayJob_v1.json", "RayService_v1.json"]
    if shared.is_dir():
        for path in shipped:
            assert path.read_bytes() == (shared / path.name).read_bytes(), path.name
