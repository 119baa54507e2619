"""The rise reconciler: the state repository, rendering, diffing, runtimes and the server."""
