"""The rise server (SPEC §6): REST API, authentication, authorization, git webhooks.

HTTP only: handlers call the state store and signal the reconciler. ``create_app`` builds the
Starlette app from a ``ServerContext`` (``build_context``); ``rise server`` runs it.
"""
