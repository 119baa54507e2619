"""Fixtures for the loopback API's own tests (kube_target comes from the root conftest)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.kubeapi._kube import Kube
from tests.support.kubeapi.fixtures import KubeTarget


@pytest.fixture
def kube(kube_target: KubeTarget) -> Iterator[Kube]:
    """Raw JSON access to the target through the official client."""
    with kube_target.api_client() as api_client:
        yield Kube(api_client)
