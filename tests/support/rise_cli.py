"""The ``rise`` CLI as a user runs it: a subprocess of this tree with its own config home.

``RiseCli`` runs ``python -m cli.main`` with ``XDG_CONFIG_HOME`` pointing at a per-test
directory and no ``RISE_*`` variables from the outer environment, so each test starts logged
out with an empty config. ``logged_in(server)`` is a CLI that has run ``rise login`` as admin.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.server.conftest import ADMIN_PASSWORD, RunningServer

TREE = Path(__file__).resolve().parents[2]


@dataclass
class RiseCli:
    home: Path
    env_extra: dict[str, str] = field(default_factory=dict)

    @property
    def config_file(self) -> Path:
        return self.home / "rise" / "config.toml"

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RISE_")}
        env.pop("NO_COLOR", None)
        env.update(XDG_CONFIG_HOME=str(self.home), PYTHONPATH=str(TREE), COLUMNS="200")
        return {**env, **self.env_extra, **extra}

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "cli.main", *args]

    def run(
        self, *args: str, input: str | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run ``rise ARGS``; stdin is ``input`` (or empty, never the test's terminal)."""
        return subprocess.run(
            self.command(*args),
            input=input or "",
            capture_output=True,
            text=True,
            env=self.env(**(env or {})),
            cwd=TREE,
            timeout=120,
        )

    def ok(self, *args: str, input: str | None = None, **env: str) -> str:
        """Run and assert exit 0 (showing stderr if not); the stdout."""
        result = self.run(*args, input=input, env=env)
        assert result.returncode == 0, f"rise {' '.join(args)}: {result.stderr}{result.stdout}"
        return result.stdout

    def fails(self, code: int, *args: str, input: str | None = None, **env: str) -> str:
        """Run and assert exit ``code``; the stderr."""
        result = self.run(*args, input=input, env=env)
        assert result.returncode == code, (
            f"rise {' '.join(args)}: exit {result.returncode}, not {code}\n"
            f"{result.stderr}{result.stdout}"
        )
        return result.stderr

    def login(
        self,
        server: RunningServer,
        user: str = "admin",
        password: str = ADMIN_PASSWORD,
        profile: str | None = None,
    ) -> str:
        """``rise [--profile P] login URL -u USER --password-stdin``."""
        chosen = ("--profile", profile) if profile else ()
        login = ("login", server.url, "-u", user, "--password-stdin")
        return self.ok(*chosen, *login, input=password + "\n")

    def json(self, *args: str) -> Any:
        import json

        return json.loads(self.ok(*args, "-o", "json"))


def logged_in(server: RunningServer, home: Path) -> RiseCli:
    rise = RiseCli(home)
    rise.login(server)
    return rise
