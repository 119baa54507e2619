"""Whether a host is this machine: plain http and TLS-less registries are allowed only there."""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    """``host`` (``name``, ``name:port``, ``[v6]:port`` or a bare IPv6 address) is loopback."""
    if host.startswith("["):
        name = host[1 : host.find("]")]
    elif host.count(":") == 1:
        name = host.rsplit(":", 1)[0]
    else:
        name = host
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
