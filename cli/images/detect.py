"""Decide how to build an app folder: backend, Dockerfile, context, arguments, tag.

Each setting comes from the first of: command-line flag, ``RISE_*`` environment variable,
``.rise.toml`` ``[build]``, default (SPEC §4). ``auto`` picks the first available of docker,
podman and buildah when there is a Dockerfile (or Containerfile), and buildpacks otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cli.images.backends import (
    ALIASES,
    BACKENDS,
    DOCKERFILE_BACKENDS,
    DOCKERFILE_NAMES,
    BuildError,
    BuildSpec,
    ToolMissing,
    get_backend,
)
from schemas import AppConfig, SchemaError, load_toml
from schemas.errors import did_you_mean

ENV_BACKEND = "RISE_BUILD_BACKEND"
ENV_PLATFORM = "RISE_BUILD_PLATFORM"
ENV_BUILDER = "RISE_BUILDER"
BACKEND_CHOICES = ("auto", *BACKENDS, *ALIASES)
CONFIG_FILE = ".rise.toml"


@dataclass(frozen=True)
class BuildOptions:
    """What the command line asked for; None means "not given"."""

    backend: str | None = None
    tag: str | None = None
    build_args: Sequence[str] = ()
    platform: str | None = None
    no_cache: bool = False


@dataclass(frozen=True)
class BuildPlan:
    backend: str
    reason: str  # why this backend: shown to the user
    spec: BuildSpec
    project: str | None


def load_app_config(app_dir: Path) -> AppConfig:
    """The folder's ``.rise.toml`` (defaults when there is none); BuildError when invalid."""
    path = app_dir / CONFIG_FILE
    if not path.exists():
        return AppConfig()
    try:
        return load_toml(path.read_bytes(), AppConfig, str(path))
    except SchemaError as exc:
        raise BuildError(f"{exc}\nFix {path} and run the command again.") from None


def plan_build(
    app_dir: Path,
    options: BuildOptions,
    environ: Mapping[str, str],
    available: Callable[[str], bool] | None = None,
) -> BuildPlan:
    """Resolve every build setting; ``available(backend)`` defaults to asking the backend."""
    app_dir = app_dir.resolve()
    config = load_app_config(app_dir)
    build = config.build
    context = _existing(app_dir / (build.context or "."), "[build] context", is_dir=True)
    dockerfile = _dockerfile(app_dir, context, build.dockerfile)
    if available is None:

        def available(name: str) -> bool:
            return get_backend(name, environ).available()

    backend, reason = choose_backend(
        options.backend, environ, build.backend, dockerfile is not None, available
    )
    spec = BuildSpec(
        context=context,
        tag=options.tag or f"{config.project or _name_from(app_dir)}:latest",
        dockerfile=dockerfile,
        build_args=parse_build_args([*build.args, *options.build_args]),
        platform=options.platform or environ.get(ENV_PLATFORM) or build.platform,
        no_cache=options.no_cache,
        builder=environ.get(ENV_BUILDER) or build.builder,
        buildpacks=tuple(build.buildpacks),
    )
    return BuildPlan(backend, reason, spec, config.project)


def choose_backend(
    flag: str | None,
    environ: Mapping[str, str],
    configured: str,
    has_dockerfile: bool,
    available: Callable[[str], bool],
) -> tuple[str, str]:
    """The backend name and where the choice came from."""
    value, source = next(
        (v, s)
        for v, s in (
            (flag, "--backend"),
            (environ.get(ENV_BACKEND), ENV_BACKEND),
            (configured, f"{CONFIG_FILE} [build] backend"),
        )
        if v
    )
    if value not in BACKEND_CHOICES:
        raise BuildError(
            f"{source}: unknown build backend {value!r}{did_you_mean(value, BACKEND_CHOICES)} "
            f"(choose from {', '.join(BACKEND_CHOICES)})"
        )
    if value != "auto":
        name = ALIASES.get(value, value)
        if name in DOCKERFILE_BACKENDS and not has_dockerfile:
            raise BuildError(
                f"the {name} backend ({source}) builds a Dockerfile, and there is none here. "
                "Add a Dockerfile, set [build] dockerfile in .rise.toml, or use --backend pack."
            )
        return name, source
    if not has_dockerfile:
        return "pack", "auto: no Dockerfile, so buildpacks"
    for name in DOCKERFILE_BACKENDS:
        if available(name):
            return name, f"auto: Dockerfile found, {name} is available"
    raise ToolMissing(
        "there is a Dockerfile but no tool to build it: install one of docker (or a Docker-API "
        "engine such as 'podman system service'), podman or buildah "
        "(e.g. 'apt-get install buildah')"
    )


_BUILD_ARG_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def parse_build_args(values: Sequence[str]) -> dict[str, str]:
    """``KEY=VALUE`` strings in order; a later KEY (a flag) overrides an earlier one (the file)."""
    args: dict[str, str] = {}
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or not _BUILD_ARG_KEY.match(key):
            raise BuildError(f"build arg {value!r} must be KEY=VALUE, e.g. --build-arg VERSION=1.2")
        args[key] = text
    return args


def _dockerfile(app_dir: Path, context: Path, configured: str | None) -> Path | None:
    if configured:
        return _existing(app_dir / configured, "[build] dockerfile", is_dir=False)
    return next((context / n for n in DOCKERFILE_NAMES if (context / n).is_file()), None)


def _existing(path: Path, key: str, *, is_dir: bool) -> Path:
    path = path.resolve()
    if not (path.is_dir() if is_dir else path.is_file()):
        kind = "folder" if is_dir else "file"
        raise BuildError(f"{CONFIG_FILE} {key}: {path} is not a {kind}; fix the path")
    return path


def _name_from(app_dir: Path) -> str:
    """An image name from a folder name: lower case, runs of other characters become '-'."""
    return re.sub(r"[^a-z0-9]+", "-", app_dir.name.lower()).strip("-") or "app"
