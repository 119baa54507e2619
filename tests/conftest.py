"""Fixtures shared by the whole suite."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.state import StateRepo

# The loopback Kubernetes API (or a real cluster via RISE_TEST_KUBECONFIG): kube_api, kube_target.
pytest_plugins = ["tests.support.kubeapi.fixtures"]

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture
def state_repo(tmp_path: Path) -> StateRepo:
    """An empty bare state repository."""
    return StateRepo.init(tmp_path / "state.git")


@pytest.fixture
def example_repo(tmp_path: Path) -> StateRepo:
    """A state repository seeded from ``examples/state``."""
    from reconciler.state.seed import read_seed

    return StateRepo.init(tmp_path / "state.git", files=read_seed(EXAMPLES / "state"))
