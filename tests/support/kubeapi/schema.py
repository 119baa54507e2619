"""A small structural schema for the kinds the double models.

One description serves three jobs: type checks and unknown-field checks on incoming objects
(captures 29, 31), and the list/map semantics server-side apply needs (which lists are keyed and
by what, which maps and lists are atomic). It is an allowlist of the field names the reconciler
touches, not the OpenAPI document: sub-trees nobody needs to check are `ANY`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Node:
    """Base of all schema nodes. `atomic` means "replaced whole, owned as one field"."""

    atomic: bool = False


@dataclass(frozen=True)
class Scalar(Node):
    type: str = "string"  # string | integer | number | boolean | int-or-string | any


@dataclass(frozen=True)
class Struct(Node):
    fields: Mapping[str, Node] = field(default_factory=dict)
    closed: bool = True  # unknown fields are reported (Strict) or dropped


@dataclass(frozen=True)
class MapOf(Node):
    values: Node = field(default_factory=Scalar)


@dataclass(frozen=True)
class ListOf(Node):
    items: Node = field(default_factory=Scalar)
    # Merge keys of a `x-kubernetes-list-type: map` list. No keys: the list is atomic.
    keys: tuple[str, ...] = ()
    # Defaults the apiserver fills into keys before keying (port protocol is TCP).
    key_defaults: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Untyped(Node):
    """Anything: maps are granular, lists atomic (what SSA does without list-type markers)."""


ANY = Untyped()
STR = Scalar(type="string")
INT = Scalar(type="integer")
NUM = Scalar(type="number")
BOOL = Scalar(type="boolean")
INT_OR_STR = Scalar(type="int-or-string")


def struct(*, closed: bool = True, atomic: bool = False, **fields: Node) -> Struct:
    return Struct(atomic=atomic, fields=fields, closed=closed)


def keyed(item: Node, *keys: str, **key_defaults: Any) -> ListOf:
    return ListOf(items=item, keys=tuple(keys), key_defaults=key_defaults)


def atomic_list(item: Node = ANY) -> ListOf:
    return ListOf(items=item, atomic=True)


STR_MAP = MapOf(values=STR)
_ATOMIC_ANY = Untyped(atomic=True)
# LabelSelector is `structType: atomic` wherever it appears (08, 16, 20: `f:selector: {}`).
LABEL_SELECTOR = struct(
    atomic=True,
    matchLabels=STR_MAP,
    matchExpressions=atomic_list(),
)

OBJECT_META = struct(
    name=STR,
    generateName=STR,
    namespace=STR,
    selfLink=STR,
    uid=STR,
    resourceVersion=STR,
    generation=INT,
    creationTimestamp=Scalar(type="any"),
    deletionTimestamp=Scalar(type="any"),
    deletionGracePeriodSeconds=INT,
    labels=STR_MAP,
    annotations=STR_MAP,
    ownerReferences=keyed(ANY, "uid"),
    finalizers=atomic_list(STR),
    managedFields=atomic_list(),
)

_PORT = struct(name=STR, hostPort=INT, containerPort=INT, protocol=STR, hostIP=STR)
_ENV = struct(name=STR, value=STR, valueFrom=ANY)

CONTAINER = struct(
    name=STR,
    image=STR,
    command=atomic_list(STR),
    args=atomic_list(STR),
    workingDir=STR,
    ports=keyed(_PORT, "containerPort", "protocol", protocol="TCP"),
    envFrom=atomic_list(),
    env=keyed(_ENV, "name"),
    resources=ANY,
    resizePolicy=atomic_list(),
    restartPolicy=STR,
    restartPolicyRules=atomic_list(),
    volumeMounts=keyed(ANY, "mountPath"),
    volumeDevices=keyed(ANY, "devicePath"),
    livenessProbe=ANY,
    readinessProbe=ANY,
    startupProbe=ANY,
    lifecycle=ANY,
    terminationMessagePath=STR,
    terminationMessagePolicy=STR,
    imagePullPolicy=STR,
    securityContext=ANY,
    stdin=BOOL,
    stdinOnce=BOOL,
    tty=BOOL,
)

POD_SPEC = struct(
    volumes=keyed(ANY, "name"),
    initContainers=keyed(CONTAINER, "name"),
    containers=keyed(CONTAINER, "name"),
    ephemeralContainers=keyed(ANY, "name"),
    restartPolicy=STR,
    terminationGracePeriodSeconds=INT,
    activeDeadlineSeconds=INT,
    dnsPolicy=STR,
    nodeSelector=STR_MAP,
    serviceAccountName=STR,
    serviceAccount=STR,
    automountServiceAccountToken=BOOL,
    nodeName=STR,
    hostNetwork=BOOL,
    hostPID=BOOL,
    hostIPC=BOOL,
    shareProcessNamespace=BOOL,
    securityContext=ANY,
    imagePullSecrets=keyed(ANY, "name"),
    hostname=STR,
    subdomain=STR,
    affinity=ANY,
    schedulerName=STR,
    tolerations=atomic_list(),
    hostAliases=keyed(ANY, "ip"),
    priorityClassName=STR,
    priority=INT,
    dnsConfig=ANY,
    readinessGates=atomic_list(),
    runtimeClassName=STR,
    enableServiceLinks=BOOL,
    preemptionPolicy=STR,
    overhead=ANY,
    topologySpreadConstraints=keyed(ANY, "topologyKey", "whenUnsatisfiable"),
    setHostnameAsFQDN=BOOL,
    os=ANY,
    hostUsers=BOOL,
    schedulingGates=keyed(ANY, "name"),
    resourceClaims=keyed(ANY, "name"),
    resources=ANY,
    hostnameOverride=STR,
)

POD_TEMPLATE = struct(metadata=OBJECT_META, spec=POD_SPEC)

_CONDITIONS = keyed(ANY, "type")
_WORKLOAD_STATUS = struct(
    closed=False,
    observedGeneration=INT,
    replicas=INT,
    updatedReplicas=INT,
    readyReplicas=INT,
    availableReplicas=INT,
    unavailableReplicas=INT,
    terminatingReplicas=INT,
    fullyLabeledReplicas=INT,
    collisionCount=INT,
    conditions=_CONDITIONS,
)


def _top(**fields: Node) -> Struct:
    return Struct(fields={"apiVersion": STR, "kind": STR, "metadata": OBJECT_META, **fields})


DEPLOYMENT = _top(
    spec=struct(
        replicas=INT,
        selector=LABEL_SELECTOR,
        template=POD_TEMPLATE,
        strategy=struct(
            type=STR,
            rollingUpdate=struct(maxUnavailable=INT_OR_STR, maxSurge=INT_OR_STR),
        ),
        minReadySeconds=INT,
        revisionHistoryLimit=INT,
        paused=BOOL,
        progressDeadlineSeconds=INT,
    ),
    status=_WORKLOAD_STATUS,
)

REPLICA_SET = _top(
    spec=struct(replicas=INT, minReadySeconds=INT, selector=LABEL_SELECTOR, template=POD_TEMPLATE),
    status=_WORKLOAD_STATUS,
)

POD = _top(spec=POD_SPEC, status=struct(closed=False, conditions=_CONDITIONS))

SERVICE = _top(
    spec=struct(
        ports=keyed(
            struct(
                name=STR,
                protocol=STR,
                appProtocol=STR,
                port=INT,
                targetPort=INT_OR_STR,
                nodePort=INT,
            ),
            "port",
            "protocol",
            protocol="TCP",
        ),
        selector=MapOf(values=STR, atomic=True),
        clusterIP=STR,
        clusterIPs=atomic_list(STR),
        type=STR,
        externalIPs=atomic_list(STR),
        sessionAffinity=STR,
        loadBalancerIP=STR,
        loadBalancerSourceRanges=atomic_list(STR),
        externalName=STR,
        externalTrafficPolicy=STR,
        healthCheckNodePort=INT,
        publishNotReadyAddresses=BOOL,
        sessionAffinityConfig=ANY,
        ipFamilies=atomic_list(STR),
        ipFamilyPolicy=STR,
        allocateLoadBalancerNodePorts=BOOL,
        loadBalancerClass=STR,
        internalTrafficPolicy=STR,
        trafficDistribution=STR,
    ),
    status=ANY,
)

INGRESS = _top(
    spec=struct(
        ingressClassName=STR,
        defaultBackend=ANY,
        tls=atomic_list(),
        rules=atomic_list(),
    ),
    status=ANY,
)

NETWORK_POLICY = _top(
    spec=struct(
        podSelector=LABEL_SELECTOR,
        ingress=atomic_list(),
        egress=atomic_list(),
        policyTypes=atomic_list(STR),
    ),
)

SECRET = _top(data=STR_MAP, stringData=STR_MAP, type=STR, immutable=BOOL)
CONFIG_MAP = _top(data=STR_MAP, binaryData=STR_MAP, immutable=BOOL)
SERVICE_ACCOUNT = _top(
    secrets=atomic_list(),
    imagePullSecrets=atomic_list(),
    automountServiceAccountToken=BOOL,
)
NAMESPACE = _top(spec=struct(finalizers=atomic_list(STR)), status=ANY)
LEASE = _top(
    spec=struct(
        holderIdentity=STR,
        leaseDurationSeconds=INT,
        acquireTime=STR,
        renewTime=STR,
        leaseTransitions=INT,
        strategy=STR,
        preferredHolder=STR,
    ),
)

# Kinds not listed here (events, nodes, ...) are `ANY` below the standard metadata.
_GENERIC = Struct(fields={"apiVersion": STR, "kind": STR, "metadata": OBJECT_META}, closed=False)

SCHEMAS: dict[str, Struct] = {
    "Deployment": DEPLOYMENT,
    "ReplicaSet": REPLICA_SET,
    "Pod": POD,
    "Service": SERVICE,
    "Ingress": INGRESS,
    "NetworkPolicy": NETWORK_POLICY,
    "Secret": SECRET,
    "ConfigMap": CONFIG_MAP,
    "ServiceAccount": SERVICE_ACCOUNT,
    "Namespace": NAMESPACE,
    "Lease": LEASE,
}


def for_kind(kind: str) -> Struct:
    return SCHEMAS.get(kind, _GENERIC)


def child(node: Node, name: str) -> Node | None:
    """The schema of `name` inside a map-like node, or None when a closed struct lacks it."""
    if isinstance(node, Struct):
        found = node.fields.get(name)
        if found is None and not node.closed:
            return ANY
        return found
    if isinstance(node, MapOf):
        return node.values
    return ANY


def is_leaf(node: Node, value: Any) -> bool:
    """Whether SSA owns `value` as a single field (scalars, atomic things, unkeyed lists)."""
    if node.atomic:
        return True
    if isinstance(value, dict):
        return not value  # an explicitly empty map, e.g. `resources: {}`, is owned as a leaf
    if isinstance(value, list):
        return not value or not (isinstance(node, ListOf) and node.keys)
    return True
