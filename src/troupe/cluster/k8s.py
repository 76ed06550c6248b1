"""KubeRay manifests: render RayClusters and RayJobs, check them against the CRD schemas.

The same structure is committed as YAML under `k8s/`; `troupe k8s render` prints a
RayJob for any `troupe run`/`troupe sweep` command line. Nothing here imports Ray, so
rendering and validating stay fast and work without a cluster.

Cluster layout (KubeRay ray.io/v1):
- a CPU-only head (`num-cpus: "0"`, so no task or actor lands there) whose Service is
  ClusterIP: the dashboard is reachable on the cluster network or via port-forward;
- a `gpu` worker group (one `nvidia.com/gpu` per pod, tolerating the GPU taint,
  `minReplicas: 0`) and a `cpu` worker group, both scaled by the in-tree autoscaler;
- every container: requests equal limits, non-root (uid 1000, the ray image user),
  no privilege escalation, all capabilities dropped, Ray token authentication on
  (`RAY_AUTH_TOKEN` from the Secret `troupe-ray-token`);
- results on the PersistentVolumeClaim `troupe-results`, mounted at `/mnt/results`.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shlex
from pathlib import Path
from typing import Any

import yaml

API_VERSION = "ray.io/v1"
RAY_VERSION = "2.60.0"
DEFAULT_IMAGE = "troupe:0.1.0"
DEFAULT_NAMESPACE = "troupe"

TOKEN_SECRET = "troupe-ray-token"
TOKEN_SECRET_KEY = "token"
RESULTS_CLAIM = "troupe-results"
RESULTS_MOUNT = "/mnt/results"
RAY_UID = 1000  # user `ray` in rayproject/ray images
RAY_GID = 100  # group `users` in rayproject/ray images

HEAD_RESOURCES = {"cpu": "2", "memory": "8Gi"}
CPU_WORKER_RESOURCES = {"cpu": "4", "memory": "16Gi"}
GPU_WORKER_RESOURCES = {"cpu": "8", "memory": "32Gi", "nvidia.com/gpu": "1"}
SIDECAR_RESOURCES = {"cpu": "500m", "memory": "512Mi"}

SCHEMA_ENV = "TROUPE_KUBERAY_SCHEMAS"
SCHEMA_FILES = {
    "RayCluster": "RayCluster_v1.json",
    "RayJob": "RayJob_v1.json",
    "RayService": "RayService_v1.json",
}
VERBS = ("run", "sweep")

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


# --------------------------------------------------------------------------- rendering


def _token_env() -> list[dict[str, Any]]:
    """Ray token authentication: the token comes from a Secret, never from the manifest."""
    return [
        {"name": "RAY_AUTH_MODE", "value": "token"},
        {
            "name": "RAY_AUTH_TOKEN",
            "valueFrom": {"secretKeyRef": {"name": TOKEN_SECRET, "key": TOKEN_SECRET_KEY}},
        },
    ]


def _container_security() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": RAY_UID,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }


def _pod_security() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": RAY_UID,
        "runAsGroup": RAY_GID,
        "fsGroup": RAY_GID,  # lets uid 1000 write to the results volume
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _exact(resources: dict[str, str]) -> dict[str, dict[str, str]]:
    """Requests equal to limits: Guaranteed QoS, and Ray sees exactly what the pod gets."""
    return {"requests": dict(resources), "limits": dict(resources)}


def _volumes() -> list[dict[str, Any]]:
    return [
        {"name": "results", "persistentVolumeClaim": {"claimName": RESULTS_CLAIM}},
        # Ray's object store lives in /dev/shm; the runtime's default is 64 MiB. Unsized, it
        # may grow to the container's memory limit, which it counts against.
        {"name": "dshm", "emptyDir": {"medium": "Memory"}},
    ]


def _volume_mounts() -> list[dict[str, Any]]:
    return [
        {"name": "results", "mountPath": RESULTS_MOUNT},
        {"name": "dshm", "mountPath": "/dev/shm"},
    ]


def _ray_pod(
    *, container: str, image: str, resources: dict[str, str], gpu: bool = False
) -> dict[str, Any]:
    """Pod template of one Ray node (head or worker)."""
    spec: dict[str, Any] = {
        "securityContext": _pod_security(),
        "containers": [
            {
                "name": container,
                "image": image,
                "imagePullPolicy": "IfNotPresent",
                "env": _token_env(),
                "resources": _exact(resources),
                "securityContext": _container_security(),
                "volumeMounts": _volume_mounts(),
            }
        ],
        "volumes": _volumes(),
    }
    if gpu:
        spec["tolerations"] = [
            {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
        ]
    return {"spec": spec}


def raycluster_spec(
    *,
    image: str = DEFAULT_IMAGE,
    gpus: int = 0,
    max_gpus: int | None = None,
    cpu_workers: int = 1,
    max_cpu_workers: int | None = None,
) -> dict[str, Any]:
    """The `spec` of a RayCluster (also a RayJob's `rayClusterSpec`).

    Args:
        image: container image of every Ray node (troupe installed on the ray image).
        gpus: GPU worker pods (one GPU each) to start with; 0 and `max_gpus` unset
            leaves the `gpu` group out.
        max_gpus: upper bound for the autoscaler on GPU pods (default `gpus`).
        cpu_workers: CPU worker pods to start with.
        max_cpu_workers: upper bound for the autoscaler on CPU pods (default `cpu_workers`).
    """
    max_gpus = gpus if max_gpus is None else max_gpus
    max_cpu_workers = cpu_workers if max_cpu_workers is None else max_cpu_workers
    for label, start, most in (
        ("gpus", gpus, max_gpus),
        ("cpu_workers", cpu_workers, max_cpu_workers),
    ):
        if start < 0 or most < start:
            raise ValueError(f"{label}: need 0 <= {start} <= maximum {most}")

    workers = []
    if max_gpus > 0:
        workers.append(
            {
                "groupName": "gpu",
                "replicas": gpus,
                "minReplicas": 0,
                "maxReplicas": max_gpus,
                "rayStartParams": {},
                "template": _ray_pod(
                    container="ray-worker", image=image, resources=GPU_WORKER_RESOURCES, gpu=True
                ),
            }
        )
    workers.append(
        {
            "groupName": "cpu",
            "replicas": cpu_workers,
            "minReplicas": 0,
            "maxReplicas": max_cpu_workers,
            "rayStartParams": {},
            "template": _ray_pod(
                container="ray-worker", image=image, resources=CPU_WORKER_RESOURCES
            ),
        }
    )
    return {
        "rayVersion": RAY_VERSION,
        "enableInTreeAutoscaling": True,
        "autoscalerOptions": {
            "upscalingMode": "Default",
            "idleTimeoutSeconds": 60,
            "env": _token_env(),
            "resources": _exact(SIDECAR_RESOURCES),
            "securityContext": _container_security(),
        },
        "headGroupSpec": {
            "serviceType": "ClusterIP",
            "rayStartParams": {
                "num-cpus": "0",
                # Inside the pod only; the ClusterIP Service keeps it off the internet.
                "dashboard-host": "0.0.0.0",
            },
            "template": _ray_pod(container="ray-head", image=image, resources=HEAD_RESOURCES),
        },
        "workerGroupSpecs": workers,
    }


def _metadata(name: str, namespace: str | None) -> dict[str, Any]:
    if not _DNS_LABEL.match(name) or len(name) > 63:
        raise ValueError(f"name {name!r}: need a DNS label (lowercase a-z, 0-9, '-'; <= 63 chars)")
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    meta["labels"] = {"app.kubernetes.io/name": "troupe", "app.kubernetes.io/instance": name}
    return meta


def render_raycluster(
    *,
    name: str = "troupe",
    image: str = DEFAULT_IMAGE,
    namespace: str | None = None,
    max_gpus: int = 4,
    cpu_workers: int = 1,
    max_cpu_workers: int = 4,
) -> dict[str, Any]:
    """A long-lived RayCluster: GPU pods start at zero and scale up on demand."""
    return {
        "apiVersion": API_VERSION,
        "kind": "RayCluster",
        "metadata": _metadata(name, namespace),
        "spec": raycluster_spec(
            image=image,
            gpus=0,
            max_gpus=max_gpus,
            cpu_workers=cpu_workers,
            max_cpu_workers=max_cpu_workers,
        ),
    }


def parse_command(command: str) -> tuple[str, list[str]]:
    """Split a troupe command line into its verb (`run`/`sweep`) and Hydra overrides.

    A leading `troupe` is optional: `troupe run experiment=active a.b=1` and
    `run experiment=active a.b=1` both give `("run", ["experiment=active", "a.b=1"])`.
    """
    words = shlex.split(command)
    if words and words[0] == "troupe":
        words = words[1:]
    if not words or words[0] not in VERBS:
        raise ValueError(f"command {command!r}: need 'troupe run ...' or 'troupe sweep ...'")
    return words[0], words[1:]


def entrypoint_overrides(manifest: dict[str, Any]) -> tuple[str, list[str]]:
    """The verb and Hydra overrides of a RayJob's entrypoint."""
    entrypoint = manifest.get("spec", {}).get("entrypoint")
    if not isinstance(entrypoint, str):
        raise ValueError(f"{_describe(manifest)}: spec.entrypoint missing")
    return parse_command(entrypoint)


def render_rayjob(
    *,
    command: str,
    name: str,
    gpus: int = 0,
    image: str = DEFAULT_IMAGE,
    namespace: str = DEFAULT_NAMESPACE,
    cpu_workers: int = 1,
    max_cpu_workers: int | None = None,
    active_deadline_s: int = 4 * 3600,
    ttl_after_finished_s: int = 600,
) -> dict[str, Any]:
    """A RayJob that brings up its own cluster, runs one troupe command, and tears down.

    Args:
        command: the full command line, e.g. `troupe run experiment=federated fl.rounds=10`.
        name: RayJob name (a DNS label); KubeRay derives the cluster's name from it.
        gpus: GPU worker pods (one GPU each); 0 leaves out the `gpu` group.
        image: container image with troupe installed.
        namespace: Kubernetes namespace (the results PVC and token Secret live there).
        cpu_workers: CPU worker pods.
        max_cpu_workers: autoscaler bound on CPU pods (default `cpu_workers`).
        active_deadline_s: the job fails if it runs longer than this.
        ttl_after_finished_s: how long KubeRay keeps the finished job's cluster and submitter
            pod (dashboard, `kubectl logs`) before deleting them; idle workers go sooner.

    Returns:
        The manifest as a dict; `to_yaml` prints it.
    """
    parse_command(command)  # fail here, not in the cluster
    return {
        "apiVersion": API_VERSION,
        "kind": "RayJob",
        "metadata": _metadata(name, namespace),
        "spec": {
            "entrypoint": command.strip(),
            "shutdownAfterJobFinishes": True,
            "ttlSecondsAfterFinished": ttl_after_finished_s,
            "activeDeadlineSeconds": active_deadline_s,
            "backoffLimit": 0,
            "submitterPodTemplate": _submitter_pod(image),
            "rayClusterSpec": raycluster_spec(
                image=image, gpus=gpus, cpu_workers=cpu_workers, max_cpu_workers=max_cpu_workers
            ),
        },
    }


def _submitter_pod(image: str) -> dict[str, Any]:
    """The pod that runs `ray job submit`: it talks to the dashboard, so it needs the token too.

    KubeRay fills in the command and the dashboard address.
    """
    return {
        "spec": {
            "restartPolicy": "Never",
            "securityContext": _pod_security(),
            "containers": [
                {
                    "name": "ray-job-submitter",
                    "image": image,
                    "imagePullPolicy": "IfNotPresent",
                    "env": _token_env(),
                    "resources": _exact(SIDECAR_RESOURCES),
                    "securityContext": _container_security(),
                }
            ],
        }
    }


def to_yaml(manifest: dict[str, Any]) -> str:
    """A manifest as YAML, keys in the order built (apiVersion, kind, metadata, spec)."""
    # A wide line keeps long entrypoints on one line, as people write them.
    return yaml.safe_dump(manifest, sort_keys=False, default_flow_style=False, width=1 << 16)


# -------------------------------------------------------------------------- validation


def schema_dir() -> Path:
    """Folder of KubeRay's CRD schemas.

    `$TROUPE_KUBERAY_SCHEMAS`, else `<repo>/../shared/kuberay`, else the copy shipped in the
    repository's `k8s/schemas/` (ray.io/v1 openAPIV3Schema of RayCluster, RayJob, RayService).
    """
    configured = os.environ.get(SCHEMA_ENV)
    if configured:
        return Path(configured)
    here = Path(__file__).resolve()
    for parent in here.parents:
        if parent.name == "src" and (parent.parent / "pyproject.toml").is_file():
            shared = parent.parent.parent / "shared" / "kuberay"
            return shared if shared.is_dir() else parent.parent / "k8s" / "schemas"
    raise FileNotFoundError(
        f"KubeRay schemas: troupe is not run from a source checkout; set {SCHEMA_ENV}"
    )


def _unwrap(document: dict[str, Any], kind: str) -> dict[str, Any]:
    """The openAPIV3Schema inside a bare schema, a `{openAPIV3Schema: ...}` wrapper or a CRD."""
    if document.get("kind") == "CustomResourceDefinition":
        versions = document.get("spec", {}).get("versions", [])
        served = [v for v in versions if v.get("name") == "v1"]
        if not served:
            raise ValueError(f"{kind} CRD: no version v1")
        document = served[0].get("schema", {})
    if "schema" in document and "openAPIV3Schema" in document["schema"]:
        document = document["schema"]
    if "openAPIV3Schema" in document:
        document = document["openAPIV3Schema"]
    if "properties" not in document or "spec" not in document["properties"]:
        raise ValueError(f"{kind} schema: no properties.spec; is this an openAPIV3Schema?")
    return document


def load_schema(kind: str) -> dict[str, Any]:
    """KubeRay's openAPIV3Schema for `kind` (RayCluster, RayJob or RayService), as a dict."""
    if kind not in SCHEMA_FILES:
        raise ValueError(f"kind {kind!r}: need one of {', '.join(SCHEMA_FILES)}")
    return _load_schema(kind, schema_dir())


@functools.cache
def _load_schema(kind: str, folder: Path) -> dict[str, Any]:
    path = folder / SCHEMA_FILES[kind]
    if not path.is_file():
        raise FileNotFoundError(f"KubeRay schema {path} not found; set {SCHEMA_ENV} to its folder")
    with path.open() as f:
        return _unwrap(json.load(f), kind)


def _closed(schema: Any) -> Any:
    """The schema with unknown fields rejected, as `kubectl` does (strict field validation).

    Structural schemas leave `additionalProperties` out and let the API server prune or
    reject unknown fields; `x-kubernetes-preserve-unknown-fields` keeps them legal.
    `x-kubernetes-*` keys are not JSON Schema keywords and are ignored by the validator;
    int-or-string fields carry an `anyOf` of integer and string, which jsonschema checks.
    """
    if isinstance(schema, list):
        return [_closed(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: _closed(value) for key, value in schema.items()}
    if (
        "properties" in schema
        and "additionalProperties" not in schema
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


@functools.cache
def _spec_validator(kind: str, folder: Path):
    import jsonschema  # only validation needs it; rendering stays light

    spec_schema = _closed(_load_schema(kind, folder)["properties"]["spec"])
    return jsonschema.Draft7Validator(spec_schema)


def _describe(manifest: dict[str, Any]) -> str:
    name = (manifest.get("metadata") or {}).get("name", "?")
    return f"{manifest.get('kind', '?')} {name}"


def _path(parts) -> str:
    text = "spec"
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def validate(manifest: dict[str, Any]) -> None:
    """Check a RayCluster/RayJob/RayService against KubeRay's CRD schema.

    `apiVersion`, `kind` and `metadata.name` must be present; `spec` is checked against
    the CRD's openAPIV3Schema with unknown fields rejected. CEL rules
    (`x-kubernetes-validations`) are left to the API server.

    Raises:
        ValueError: one line naming the manifest, the field path and the problem.
    """
    from jsonschema.exceptions import best_match

    if not isinstance(manifest, dict):
        raise ValueError(f"manifest: need a mapping, got {type(manifest).__name__}")
    where = _describe(manifest)
    if manifest.get("apiVersion") != API_VERSION:
        raise ValueError(
            f"{where}: apiVersion {manifest.get('apiVersion')!r}, need {API_VERSION!r}"
        )
    kind = manifest.get("kind")
    if kind not in SCHEMA_FILES:
        raise ValueError(f"{where}: kind {kind!r}, need one of {', '.join(SCHEMA_FILES)}")
    metadata = manifest.get("metadata")
    if not isinstance(metadata, dict) or not metadata.get("name"):
        raise ValueError(f"{where}: metadata.name missing")
    if not isinstance(manifest.get("spec"), dict):
        raise ValueError(f"{where}: spec missing")
    error = best_match(_spec_validator(kind, schema_dir()).iter_errors(manifest["spec"]))
    if error is not None:
        message = " ".join(error.message.split())
        if len(message) > 200:
            message = message[:197] + "..."
        raise ValueError(f"{where}: {_path(error.absolute_path)}: {message}")
