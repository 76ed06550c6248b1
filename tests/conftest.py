"""Shared fixtures: one real local Ray session (num_cpus=2) for all component tests."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


@pytest.fixture(scope="session")
def ray_session():
    """A real embedded Ray instance with 2 CPUs, shared by every test that asks for it."""
    from troupe.cluster import connect, disconnect
    from troupe.config import ClusterConfig

    connect(ClusterConfig(num_cpus=2, num_gpus=0))
    yield
    disconnect()


@pytest.fixture
def runs_dir(tmp_path):
    """A fresh results root for one test."""
    return str(tmp_path / "runs")
