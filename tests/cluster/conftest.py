"""Fixtures of the cluster tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from troupe.cluster import k8s


@pytest.fixture(scope="session")
def schemas() -> Path:
    """The CRD schema folder; missing fails under CI and skips (with the reason) elsewhere."""
    try:
        folder = k8s.schema_dir()
        for kind in k8s.SCHEMA_FILES:
            k8s.load_schema(kind)
    except FileNotFoundError as error:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"KubeRay CRD schemas missing under CI: {error}")
        pytest.skip(f"KubeRay CRD schemas not available: {error}")
    return folder
