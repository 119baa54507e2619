"""Blue/green planning and the drift check (pure): which objects to apply, hold and prune."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from reconciler.runtimes.base import Desired, ObjectRef
from reconciler.runtimes.rollout import LiveObject, contains, plan_rollout

NS = "rise-web"


def _deployment(deploy_id: str) -> dict[str, Any]:
    labels = {"rise.dev/project": "web", "rise.dev/deployment-id": deploy_id}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": f"web-{deploy_id}",
            "namespace": NS,
            "labels": {"app.kubernetes.io/managed-by": "rise", **labels},
            "annotations": {"rise.dev/spec-hash": f"h-{deploy_id}"},
        },
        "spec": {"replicas": 1, "selector": {"matchLabels": labels}},
    }


def _object(kind: str, name: str = "app", spec_hash: str = "h", **extra: Any) -> dict[str, Any]:
    namespace = {} if kind == "Namespace" else {"namespace": NS}
    return {
        "apiVersion": "v1",
        "kind": kind,
        "metadata": {
            "name": name,
            **namespace,
            "labels": {"app.kubernetes.io/managed-by": "rise", "rise.dev/project": "web"},
            "annotations": {"rise.dev/spec-hash": spec_hash},
        },
        **extra,
    }


def _service(deploy_id: str) -> dict[str, Any]:
    selector = {"rise.dev/project": "web", "rise.dev/deployment-id": deploy_id}
    return _object("Service", spec_hash=f"s-{deploy_id}", spec={"selector": selector})


def _desired(deploy_id: str) -> list[Desired]:
    return [
        Desired(_object("Namespace", NS)),
        Desired(_object("ServiceAccount")),
        Desired(_deployment(deploy_id)),
        Desired(_service(deploy_id)),
        Desired(_object("Ingress")),
    ]


def _live(*objects: dict[str, Any]) -> dict[ObjectRef, LiveObject]:
    out = {}
    for obj in objects:
        live = LiveObject.of(copy.deepcopy(obj))
        out[live.ref] = live
    return out


def _refs(items: list[Any]) -> list[str]:
    return [str(item.ref) for item in items]


def test_first_deploy_applies_everything_at_once() -> None:
    plan = plan_rollout(_desired("b"), {})
    assert _refs(plan.now) == _refs(_desired("b")) and not plan.held
    assert plan.gate is not None and plan.gate.deployment_id == "b"
    assert not plan.prune_now and not plan.prune_after


def test_a_new_deployment_holds_the_service_and_keeps_the_serving_one() -> None:
    old = [_object("Namespace", NS), _object("ServiceAccount"), _deployment("a"), _service("a")]
    plan = plan_rollout(_desired("b"), _live(*old, _object("Ingress")))
    assert plan.serving == "a"
    assert _refs(plan.held) == [f"Service {NS}/app"]
    assert f"Service {NS}/app" not in _refs(plan.now)
    assert _refs(plan.prune_after) == [f"Deployment {NS}/web-a"]
    assert plan.prune_now == []


def test_a_deployment_neither_desired_nor_serving_is_pruned_at_once() -> None:
    live = _live(_deployment("a"), _deployment("b"), _service("a"))
    plan = plan_rollout(_desired("c"), live)
    assert _refs(plan.prune_after) == [f"Deployment {NS}/web-a"]
    assert _refs(plan.prune_now) == [f"Deployment {NS}/web-b"]


def test_once_switched_the_old_deployment_goes_with_no_hold() -> None:
    plan = plan_rollout(_desired("b"), _live(_deployment("a"), _deployment("b"), _service("b")))
    assert not plan.held and plan.serving == "b"
    assert _refs(plan.prune_now) == [f"Deployment {NS}/web-a"]


def test_nothing_left_serving_means_no_hold() -> None:
    plan = plan_rollout(_desired("b"), _live(_service("a")))  # its Deployment is gone
    assert not plan.held and f"Service {NS}/app" in _refs(plan.now)


def test_prunes_run_in_reverse_dependency_order_namespace_last() -> None:
    live = _live(
        _object("Namespace", "rise-old"),
        _object("NetworkPolicy", "np"),
        _object("Secret", "app-env"),
        _object("Service", "svc"),
    )
    plan = plan_rollout([], live)
    assert [item.ref.kind for item in plan.prune_now] == [
        "NetworkPolicy",
        "Service",
        "Secret",
        "Namespace",
    ]


def test_a_matching_hash_with_drift_or_deletion_in_progress_is_applied_again() -> None:
    desired = Desired(_object("Service"))
    live = LiveObject.of(_object("Service"))
    assert live.matches(desired)
    live.drifted = True
    assert not live.matches(desired)
    live.drifted, live.terminating = False, True
    assert not live.matches(desired)


# -- contains -------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3)
    ),
    max_leaves=12,
)


@given(json_values)
def test_everything_contains_itself(value: Any) -> None:
    assert contains(value, value)


@given(st.dictionaries(st.text(max_size=4), json_values, max_size=4), json_values)
def test_fields_the_server_adds_are_not_drift(want: dict[str, Any], extra: Any) -> None:
    live = {**want, "\x00server-added": extra}
    assert contains(live, want)


@given(st.dictionaries(st.text(min_size=1, max_size=4), st.integers(), min_size=1, max_size=4))
def test_a_changed_value_is_drift(want: dict[str, int]) -> None:
    key = next(iter(want))
    assert not contains({**want, key: want[key] + 1}, want)


def test_named_lists_match_by_name_and_other_lists_item_by_item() -> None:
    want = {"containers": [{"name": "app", "image": "a"}], "args": ["x", "y"]}
    live = {
        "containers": [{"name": "sidecar", "image": "s"}, {"name": "app", "image": "a", "x": 1}],
        "args": ["x", "y"],
    }
    assert contains(live, want)
    assert not contains({**live, "args": ["y", "x"]}, want)
    assert not contains({**live, "containers": [{"name": "app", "image": "b"}]}, want)


def test_a_hand_edited_replica_count_is_drift_and_omitted_empties_are_not() -> None:
    want = _deployment("a")
    live = copy.deepcopy(want)
    live["status"] = {"replicas": 1}
    want["spec"]["template"] = {"metadata": {"annotations": {}}}
    live["spec"]["template"] = {"metadata": {}}  # the API server leaves out the empty map
    assert contains(live, want)
    live["spec"]["replicas"] = 5
    assert not contains(live, want)
