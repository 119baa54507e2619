"""Pydantic models of every declarative file and API payload rise reads or writes.

This package is pure data: it imports nothing else of rise. JSON Schemas generated from these
models live in ``schemas/json/`` (``python -m schemas.generate``).
"""

from schemas.app import AppConfig
from schemas.deployment import DeploymentFile, DeploymentState
from schemas.env import EnvFile
from schemas.errors import Problem, SchemaError, load_toml, parse_model
from schemas.names import Owner, validate_name
from schemas.project import ProjectFile, Visibility
from schemas.server import ServerConfig
from schemas.service_account import ServiceAccountFile
from schemas.team import TeamFile

__all__ = [
    "AppConfig",
    "DeploymentFile",
    "DeploymentState",
    "EnvFile",
    "Owner",
    "Problem",
    "ProjectFile",
    "SchemaError",
    "ServerConfig",
    "ServiceAccountFile",
    "TeamFile",
    "Visibility",
    "load_toml",
    "parse_model",
    "validate_name",
]
