"""Runtimes: where rendered objects become real (SPEC §5). The only code that talks to a
cluster or an engine.

- ``base``: the ``Runtime`` protocol the loop drives, and the records runtimes trade.
- ``kubernetes``: server-side apply, prune, health and blue/green on a cluster, through
  ``kubeapi`` (raw JSON over the official client) and ``rollout`` (pure planning).
- ``rendered``: hydrated manifests committed to a branch of the state repo for Argo CD/Flux.

Modules are imported where they are used, so importing this package stays cheap.
"""
