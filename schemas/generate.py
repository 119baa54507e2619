"""Write the JSON Schemas of the declarative files into ``schemas/json/``.

Run ``python -m schemas.generate``; a test fails when the committed files are stale.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pydantic import BaseModel

from schemas.app import AppConfig
from schemas.deployment import DeploymentFile
from schemas.env import EnvFile
from schemas.install import InstallValues
from schemas.project import ProjectFile
from schemas.server import ServerConfig
from schemas.service_account import ServiceAccountFile
from schemas.team import TeamFile

JSON_DIR = Path(__file__).parent / "json"

SCHEMAS: dict[str, type[BaseModel]] = {
    "rise-toml": AppConfig,
    "project": ProjectFile,
    "deployment": DeploymentFile,
    "env": EnvFile,
    "team": TeamFile,
    "service-account": ServiceAccountFile,
    "server-config": ServerConfig,
    "install-values": InstallValues,
}


def render(name: str, model: type[BaseModel]) -> str:
    schema = model.model_json_schema()
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://rise.dev/schemas/{name}.schema.json",
        **schema,
    }
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def expected_files() -> dict[Path, str]:
    return {JSON_DIR / f"{name}.schema.json": render(name, m) for name, m in SCHEMAS.items()}


def main() -> int:
    JSON_DIR.mkdir(exist_ok=True)
    for path, text in expected_files().items():
        path.write_text(text)
        print(f"wrote {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
