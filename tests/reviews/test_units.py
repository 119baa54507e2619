"""The parsers and formatters of reviews, in isolation: trailers, forge events, summaries,
and the refresher's polling."""

from __future__ import annotations

import threading
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from reconciler.compare import ProjectDiff, format_report
from reconciler.diff import diff_objects, format_summary
from reconciler.server.pull_requests import PullRequestEvent, parse_event
from reconciler.server.webhooks import Refresher
from reconciler.state import Author, Edit, StateRepo
from reconciler.state.reviews import parse_trailers, trailer_block

_KEY = st.from_regex(r"[A-Z][a-z]{1,8}(-[a-z]{1,6})?", fullmatch=True)
_VALUE = st.text(st.characters(blacklist_categories=("Z", "C")), min_size=1, max_size=40)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(st.lists(st.tuples(_KEY, _VALUE), min_size=1, max_size=6), st.text(max_size=60))
def test_trailers_read_back_what_was_written(pairs: list[tuple[str, str]], subject: str) -> None:
    first_line = " ".join(subject.split()) or "deploy"
    message = f"{first_line}\n\n{trailer_block(pairs)}\n"
    assert parse_trailers(message) == pairs


def test_a_message_without_a_trailer_block_has_no_trailers() -> None:
    assert parse_trailers("Approved-by: bob") == []
    assert parse_trailers("deploy web\n\nthis is prose: not a trailer") == []


@given(
    st.sampled_from(["github", "gitea", "gitlab"]),
    st.sampled_from(["pull_request", "Merge Request Hook", "push"]),
    st.dictionaries(st.text(max_size=20), _JSON, max_size=5),
)
def test_any_event_body_parses_or_is_ignored(
    provider: str, event: str, payload: dict[str, Any]
) -> None:
    found = parse_event(provider, event, payload)
    assert found is None or isinstance(found, PullRequestEvent)


def test_forge_events_map_to_review_merge_and_close() -> None:
    head = "a" * 40
    pull = {"number": 3, "head": {"sha": head}, "base": {"ref": "main"}, "merged": False}
    github = {"action": "synchronize", "number": 3, "pull_request": pull}
    assert parse_event("github", "pull_request", github) == PullRequestEvent(
        3, head, "main", "review"
    )
    merged = {"action": "closed", "pull_request": {**pull, "merged": True}}
    assert parse_event("gitea", "pull_request", merged) == PullRequestEvent(
        3, head, "main", "merged"
    )
    labeled = {"action": "labeled", "pull_request": pull}
    assert parse_event("github", "pull_request", labeled) is None
    attrs = {"iid": 9, "action": "close", "last_commit": {"id": head}, "target_branch": "prod"}
    gitlab = {"object_attributes": attrs}
    assert parse_event("gitlab", "Merge Request Hook", gitlab) == PullRequestEvent(
        9, head, "prod", "closed"
    )


def _deployments(count: int, image: str) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": f"app-{n}", "namespace": "rise-big"},
            "spec": {
                "replicas": 1,
                "template": {"spec": {"containers": [{"name": "app", "image": image}]}},
            },
        }
        for n in range(count)
    ]


def test_a_large_diff_is_summarised_per_object_with_counts() -> None:
    diffs = diff_objects(_deployments(500, "web@sha256:2"), _deployments(499, "web@sha256:1"))
    summary = format_summary(diffs)
    lines = summary.splitlines()
    assert lines[0] == "~ Deployment rise-big/app-0 (+1 -1)"
    assert lines[-2] == "+ Deployment rise-big/app-499 (+12 -0)"
    assert lines[-1] == "1 to create, 499 to update, 0 to delete, 0 unchanged."
    report = format_report([ProjectDiff("big", diffs)], max_lines=200)
    assert report.splitlines() == ["Project big:", *lines]
    small = format_report([ProjectDiff("big", diffs[:2])], max_lines=200)
    assert "-      - image: web@sha256:1" in small


def test_polling_reconciles_a_commit_nobody_announced(state_repo: StateRepo) -> None:
    signals: list[set[str] | None] = []
    seen = threading.Event()

    def signal(reason: str, projects: set[str] | None) -> None:
        signals.append(projects)
        seen.set()

    refresher = Refresher(state_repo, signal, poll_seconds=0.05)
    refresher.start()
    try:

        def change(edit: Edit) -> str:
            edit.write("projects/polled/project.toml", 'owner = "user:pat"\n')
            return "add polled by hand"

        state_repo.commit(change, Author("pat"))
        assert seen.wait(10)
    finally:
        refresher.stop(5)
    assert signals == [{"polled"}]


def test_a_push_is_refused_only_for_what_it_breaks(state_repo: StateRepo) -> None:
    from reconciler.server.authz import Principal
    from reconciler.server.prereceive import Update, check_push

    def write(files: dict[str, str], branch: str = "main") -> str:
        def change(edit: Edit) -> str:
            for path, text in files.items():
                edit.write(path, text)
            return "by hand"

        commit = state_repo.commit(change, Author("pat"), branch=branch).commit
        assert commit is not None
        return commit

    owner = 'owner = "user:pat"\n'
    write({"projects/old/project.toml": 'owner = "nobody"\n', "projects/ok/project.toml": owner})
    before = state_repo.head()
    assert before is not None
    pat = Principal("pat")
    fine = write({"projects/ok/.rise.toml": 'project = "ok"\n'}, "next")
    assert check_push(state_repo, [Update(before, fine, "refs/heads/main")], pat, "main") == []
    broken = write({"projects/ok/.rise.toml": "projekt = 1\n"}, "next")
    refused = check_push(state_repo, [Update(before, broken, "refs/heads/main")], pat, "main")
    assert any(line.startswith("projects/ok/.rise.toml") for line in refused)
    assert refused[-1].startswith("refs/heads/main: refused")
    other = check_push(state_repo, [Update(before, fine, "refs/heads/prod")], pat, "main")
    assert other == ["refs/heads/prod: rise takes pushes to main and review/<project>/<id> only"]
