"""A minimal WSGI app for the buildpacks example (served by gunicorn via the Procfile)."""

import os


def app(environ, start_response):
    if environ.get("PATH_INFO") == "/healthz":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok\n"]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"Hello from {os.environ.get('RISE_APP_URL', 'rise')}\n".encode()]
