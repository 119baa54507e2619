"""The pure parts of the ``docker`` runtime and its proxy: rendered objects to a container,
an engine's list item to a record, Host headers to projects, and the route table's promise
that a switched-away address sees no new request.

The runtime against a real engine is tested end to end in ``tests/dev/``.
"""

from __future__ import annotations

import threading

from hypothesis import given
from hypothesis import strategies as st

from reconciler.desired import Renderer
from reconciler.render import RenderSettings
from reconciler.runtimes.base import Desired
from reconciler.runtimes.containers import LiveContainer, container_spec
from reconciler.runtimes.routes import Routes, Upstream
from reconciler.secrets import SecretBox
from reconciler.server.proxy import app_domains, project_of
from reconciler.state import StateRepo
from schemas.names import name_problem
from tests.reconciler.runtimes.helpers import IMAGE, commit, deployment_id, project_files


def _desired(repo: StateRepo, name: str, box: SecretBox | None = None) -> tuple[Desired, ...]:
    state = repo.snapshot(repo.head()).projects[name]
    return Renderer(RenderSettings(), box, decrypt=True).render(state, state.tree_id)


def test_a_deployment_becomes_one_container_with_its_env_and_secrets(
    state_repo: StateRepo,
) -> None:
    box = SecretBox(SecretBox.generate_key())
    files = project_files("web", variables={"GREETING": "hi"})
    files["projects/web/.rise.toml"] = (
        'project = "web"\n[deploy]\nport = 9000\nhealth = { path = "/up", initial_delay = 3 }\n'
        'command = ["/bin/serve"]\nargs = ["--fast"]\n'
    )
    files["projects/web/env.toml"] = (
        f'[vars]\nGREETING = "hi"\n[secrets]\nTOKEN = "{box.encrypt("web", "TOKEN", "s3cret")}"\n'
    )
    commit(state_repo, files)
    spec = container_spec("web", _desired(state_repo, "web", box))

    assert spec is not None
    assert spec.image == IMAGE
    assert spec.deployment_id == deployment_id(1)
    assert spec.env["GREETING"] == "hi" and spec.env["TOKEN"] == "s3cret"
    assert spec.environment(41000)["PORT"] == "41000"  # its own port, not [deploy] port
    assert (spec.entrypoint, spec.command) == (["/bin/serve"], ["--fast"])
    assert (spec.health_path, spec.initial_delay) == ("/up", 3)
    assert spec.name == f"rise-web-{deployment_id(1)}-{spec.spec_hash[:8]}"
    labels = spec.labels(41000)
    assert labels["rise.dev/project"] == "web" and labels["rise.dev/port"] == "41000"


def test_a_changed_secret_changes_the_container(state_repo: StateRepo) -> None:
    box = SecretBox(SecretBox.generate_key())
    files = project_files("web")
    secret = f'[secrets]\nTOKEN = "{box.encrypt("web", "TOKEN", "one")}"\n'
    commit(state_repo, {**files, "projects/web/env.toml": secret})
    before = container_spec("web", _desired(state_repo, "web", box))
    secret = f'[secrets]\nTOKEN = "{box.encrypt("web", "TOKEN", "two")}"\n'
    commit(state_repo, {"projects/web/env.toml": secret})
    after = container_spec("web", _desired(state_repo, "web", box))
    assert before is not None and after is not None
    assert before.name != after.name and after.env["TOKEN"] == "two"


def test_stopped_or_undeployed_projects_run_nothing(state_repo: StateRepo) -> None:
    commit(
        state_repo, {**project_files("off", state="stopped"), **project_files("new", deploy=None)}
    )
    assert container_spec("off", _desired(state_repo, "off")) is None
    assert container_spec("new", _desired(state_repo, "new")) is None


def test_a_listed_container_becomes_a_record() -> None:
    item = {
        "Id": "abc",
        "Names": ["/rise-web-1-deadbeef"],
        "Labels": {
            "app.kubernetes.io/managed-by": "rise",
            "rise.dev/project": "web",
            "rise.dev/deployment-id": "1",
            "rise.dev/spec-hash": "deadbeef00",
            "rise.dev/port": "40001",
            "rise.dev/health-path": "/up",
        },
        "State": "exited",
        "Status": "Exited (3) 2 seconds ago",
        "Created": 1700000000,
    }
    live = LiveContainer.of(item)
    assert live is not None
    assert (live.name, live.port, live.health_path, live.exit_code) == (
        "rise-web-1-deadbeef",
        40001,
        "/up",
        3,
    )
    assert LiveContainer.of({**item, "Labels": {"rise.dev/project": "web"}}) is None


def test_app_hosts_name_projects() -> None:
    domains = app_domains("https://{project}.apps.example.test", proxied=True)
    assert domains == ("localhost", "apps.example.test")
    assert app_domains("https://rise.example.test/{project}", proxied=True) == ("localhost",)
    assert project_of("hello.localhost:8000", domains) == "hello"
    assert project_of("Hello.Apps.Example.Test", domains) == "hello"
    assert project_of("localhost:8000", domains) is None
    assert project_of("127.0.0.1:8000", domains) is None
    assert project_of("a.b.localhost", domains) is None
    assert project_of("-bad.localhost", domains) is None


@given(st.text(max_size=80))
def test_any_host_header_is_an_app_or_not(host: str) -> None:
    project = project_of(host, ("localhost",))
    assert project is None or name_problem(project, "project name") is None


# Every valid project name: an RFC 1123 label without '--' (reserved for punycode).
_PROJECT_NAMES = st.from_regex(r"[a-z]([a-z0-9-]{0,30}[a-z0-9])?", fullmatch=True).filter(
    lambda name: "--" not in name
)


@given(_PROJECT_NAMES, st.integers(1, 65535))
def test_every_project_name_is_routed(name: str, port: int) -> None:
    assert project_of(f"{name}.localhost:{port}", ("localhost",)) == name


def test_after_a_switch_no_request_reaches_the_old_address() -> None:
    routes = Routes()
    old, new = Upstream("1", "127.0.0.1:1"), Upstream("2", "127.0.0.1:2")
    routes.switch("web", old)
    entered, release = threading.Event(), threading.Event()

    def slow_request() -> None:
        with routes.use("web") as upstream:
            assert upstream == old
            entered.set()
            release.wait(5)

    worker = threading.Thread(target=slow_request)
    worker.start()
    entered.wait(5)
    routes.switch("web", new)
    assert routes.in_flight(old.address) == 1  # still draining
    with routes.use("web") as upstream:
        assert upstream == new
    release.set()
    worker.join(5)
    assert routes.in_flight(old.address) == 0
    routes.drop("web")
    with routes.use("web") as upstream:
        assert upstream is None
