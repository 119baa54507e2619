"""The real registry, token routes and container tools, shared by this folder's tests."""

from tests.support.containers import containers, podman_socket
from tests.support.registry import registry_stack

__all__ = ["containers", "podman_socket", "registry_stack"]
