"""``rise install``: run rise on a Kubernetes cluster (or print a compose file for one host)."""

from cli.install.command import install

__all__ = ["install"]
