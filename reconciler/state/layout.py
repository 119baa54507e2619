"""Where things live in the state repository (SPEC §3).

```
rise-state.toml                          format version
projects/<name>/project.toml             owner, visibility, settings
projects/<name>/.rise.toml               the app's config as last deployed
projects/<name>/deployment.toml          the desired deployment
projects/<name>/env.toml                 variables; secrets encrypted
teams/<team>.toml                        owners, members
service-accounts/<project>/<name>.toml   trusted-issuer claim matchers
```
"""

from __future__ import annotations

from pydantic import BaseModel

from schemas import AppConfig, DeploymentFile, EnvFile, ProjectFile, ServiceAccountFile, TeamFile
from schemas.names import validate_name

FORMAT_FILE = "rise-state.toml"
FORMAT_VERSION = 1
PROJECTS = "projects"
TEAMS = "teams"
SERVICE_ACCOUNTS = "service-accounts"
TOP_LEVEL = {FORMAT_FILE, PROJECTS, TEAMS, SERVICE_ACCOUNTS}

PROJECT_FILES: dict[str, type[BaseModel]] = {
    "project.toml": ProjectFile,
    ".rise.toml": AppConfig,
    "deployment.toml": DeploymentFile,
    "env.toml": EnvFile,
}
TEAM_MODEL = TeamFile
SERVICE_ACCOUNT_MODEL = ServiceAccountFile


def project_dir(project: str) -> str:
    return f"{PROJECTS}/{validate_name(project, 'project name')}"


def project_file(project: str, file: str) -> str:
    if file not in PROJECT_FILES:
        raise ValueError(f"{file!r} is not a project file ({', '.join(PROJECT_FILES)})")
    return f"{project_dir(project)}/{file}"


def team_file(team: str) -> str:
    return f"{TEAMS}/{validate_name(team, 'team name')}.toml"


def service_account_file(project: str, name: str) -> str:
    return (
        f"{SERVICE_ACCOUNTS}/{validate_name(project, 'project name')}/"
        f"{validate_name(name, 'service account name')}.toml"
    )


def format_file_text() -> str:
    return f"# rise state repository; see https://rise.dev/docs/state\nformat = {FORMAT_VERSION}\n"
