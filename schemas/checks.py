"""Rules that span a project's files: the one validator of a project beyond each file's schema.

Each file of a project is valid on its own when its model accepts it; these rules need two
files at once (an env key of ``env.toml`` against the names rise sets, the ``replicas`` of a
deployment against the cap in ``project.toml``). The state snapshot (so ``rise state validate``
and the reconciler), the renderer and every API write call ``project_problems``, so what one
accepts the others accept too.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal, InvalidOperation

from schemas.app import AppConfig
from schemas.deployment import DeploymentFile
from schemas.env import EnvFile
from schemas.errors import Problem, did_you_mean
from schemas.project import ProjectFile

RESERVED_ENV = {"PORT": "from [deploy] port", "RISE_APP_URL": "the app's URL"}

_QUANTITY = re.compile(r"^([0-9.]+)([a-zA-Z]*)$")
_SCALE = {
    "m": Decimal("0.001"),
    "": Decimal(1),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
}


def quantity_value(text: str) -> Decimal | None:
    """A Kubernetes quantity as a number ('500m' -> 0.5, '1Ki' -> 1024); None if it is none."""
    match = _QUANTITY.fullmatch(text.strip())
    if not match or match[2] not in _SCALE:
        return None
    try:
        return Decimal(match[1]) * _SCALE[match[2]]
    except InvalidOperation:
        return None


def project_problems(
    name: str,
    project: ProjectFile | None,
    app: AppConfig | None,
    deployment: DeploymentFile | None,
    env: EnvFile | None,
) -> list[Problem]:
    """Every cross-file problem of one project, among the files that parsed (None: missing or
    invalid, so checked by its schema alone)."""
    file = f"projects/{name}/{{}}".format
    problems = _reserved(name, file, app, env)
    if deployment is None or project is None:
        return problems
    effective = app or AppConfig()
    if deployment.environment is not None:
        try:
            effective = effective.for_environment(deployment.environment)
        except KeyError as exc:
            problems.append(Problem(file("deployment.toml"), str(exc.args[0])))
    settings = project.settings
    wanted = deployment.replicas if deployment.replicas is not None else effective.deploy.replicas
    if wanted > settings.max_replicas:
        source = "deployment.toml" if deployment.replicas is not None else ".rise.toml"
        problems.append(
            Problem(
                file(source),
                f"replicas = {wanted} is above this project's max_replicas = "
                f"{settings.max_replicas} (project.toml [settings]); lower it or ask an admin "
                "to raise the cap",
            )
        )
    for what, value, cap in (
        ("cpu", effective.deploy.cpu, settings.max_cpu),
        ("memory", effective.deploy.memory, settings.max_memory),
    ):
        if value is not None and above(value, cap):
            problems.append(
                Problem(
                    file(".rise.toml"),
                    f"{what} = {value!r} in [deploy] is above this project's max_{what} = "
                    f"{cap!r} (project.toml [settings]); lower it or ask an admin",
                )
            )
    return problems


def above(value: str, cap: str | None) -> bool:
    """Whether quantity ``value`` exceeds ``cap`` (no cap: never)."""
    if cap is None:
        return False
    limit = quantity_value(cap)
    return limit is not None and (quantity_value(value) or 0) > limit


def owner_problems(owners: Mapping[str, str], teams: Iterable[str]) -> list[Problem]:
    """Projects owned by a team that does not exist (``owners``: project -> owner)."""
    known = sorted(teams)
    problems = []
    for project, owner in sorted(owners.items()):
        kind, _, team = owner.partition(":")
        if kind == "team" and team not in known:
            problems.append(
                Problem(
                    f"projects/{project}/project.toml",
                    f"owner {owner!r} names a team that does not exist"
                    f"{did_you_mean(team, known)}; add teams/{team}.toml or change the owner",
                )
            )
    return problems


def _reserved(
    project: str, file: Callable[[str], str], app: AppConfig | None, env: EnvFile | None
) -> list[Problem]:
    sources: dict[str, str] = {}
    if app is not None:
        for table in (app.env, *(e.env for e in app.environments.values())):
            sources.update(dict.fromkeys(table, ".rise.toml"))
    if env is not None:
        sources.update(dict.fromkeys([*env.vars, *env.secrets], "env.toml"))
    return [
        Problem(
            file(sources[key]),
            f"{key} is set by rise ({origin}); remove it "
            f"(`rise env unset {project} {key}`, or from [env] in .rise.toml)",
        )
        for key, origin in RESERVED_ENV.items()
        if key in sources
    ]
