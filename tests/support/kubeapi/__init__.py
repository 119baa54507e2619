"""A loopback Kubernetes API server for tests: kube-apiserver where the reconciler depends on it.

    from tests.support.kubeapi import Fault, LoopbackKubeAPI

    with LoopbackKubeAPI() as kube:
        kube.write_kubeconfig(tmp_path / "kubeconfig")
        kube.inject(Fault.throttle(method="PATCH", times=2))
        ...
        assert not kube.writes()

Behaviour is modelled on the kube-apiserver v1.36.2 captures in /work/shared/kube-reference.
"""

from .faults import Fault
from .requestlog import RequestRecord
from .server import LoopbackKubeAPI

__all__ = ["Fault", "LoopbackKubeAPI", "RequestRecord"]
