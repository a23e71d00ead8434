"""Pure checks behind the Then steps."""

from __future__ import annotations

import pytest
from kubernetes import client

from kubelab import checks
from kubelab.checks import counts_step_by_one, parse_version


@pytest.mark.parametrize(
    ("version", "expected"),
    [("v1.34.4", (1, 34)), ("v1.5.1+coreos.0", (1, 5)), ("v1.32.0-rc.1", (1, 32))],
)
def test_parse_version(version, expected):
    assert parse_version(version) == expected


@pytest.mark.parametrize("version", ["v0.0.0-master+$Format:%H$", "1.34", ""])
def test_parse_version_refuses_unreleased_or_garbled(version):
    with pytest.raises(ValueError, match="not a Kubernetes release version"):
        parse_version(version)


@pytest.mark.parametrize(
    ("counts", "ok"),
    [
        ([3, 4, 5], True),
        ([1], True),
        ([3, 5], False),
        ([2, 2], False),
        ([], False),
        ([1, None], False),
    ],
)
def test_counts_step_by_one(counts, ok):
    assert counts_step_by_one(counts) is ok


class StandInKube:
    """Stand-in for the client layer: given nodes and the kubernetes Service's endpoints."""

    def __init__(self, nodes: list[client.V1Node], api: list[str]) -> None:
        self._nodes, self._api = nodes, api

    def nodes(self) -> list[client.V1Node]:
        return self._nodes

    def objects(self, kind: str, namespace: str, selector: str) -> list[client.V1EndpointSlice]:
        assert (kind, namespace, selector) == (
            "EndpointSlice",
            "default",
            "kubernetes.io/service-name=kubernetes",
        )
        endpoints = [client.V1Endpoint(addresses=[a]) for a in self._api]
        return [client.V1EndpointSlice(address_type="IPv4", endpoints=endpoints)]


def node(name: str, ip: str, label: bool = False, taint: bool = False) -> client.V1Node:
    return client.V1Node(
        metadata=client.V1ObjectMeta(
            name=name, labels={"node-role.kubernetes.io/control-plane": ""} if label else {}
        ),
        spec=client.V1NodeSpec(
            taints=[client.V1Taint(key="dedicated", effect="NoSchedule")] if taint else None
        ),
        status=client.V1NodeStatus(addresses=[client.V1NodeAddress(type="InternalIP", address=ip)]),
    )


WORKERS = [node("w1", "10.0.0.11"), node("w2", "10.0.0.12")]


@pytest.mark.parametrize(
    ("nodes", "api", "case", "taking"),
    [
        (
            [node("cp", "10.0.0.10", label=True, taint=True), *WORKERS],
            ["10.0.0.10"],
            "control-plane node(s) cp",
            [],
        ),
        (
            [node("cp", "10.0.0.10", label=True), *WORKERS],
            ["10.0.0.10"],
            "control-plane node(s) cp",
            ["cp"],
        ),
        (
            WORKERS,
            ["172.16.0.2"],
            "a managed control plane: the API server (172.16.0.2) runs on none of the 2 nodes",
            [],
        ),
        (
            [node("m", "10.0.0.10", taint=True), *WORKERS],
            ["10.0.0.10"],
            "the API server (10.0.0.10) runs on unlabelled node(s) m",
            [],
        ),
        (
            [node("m", "10.0.0.10"), *WORKERS],
            ["10.0.0.10"],
            "the API server (10.0.0.10) runs on unlabelled node(s) m",
            ["m"],
        ),
        (
            WORKERS,
            [],
            "no node is labelled control plane and the kubernetes Service has no endpoints",
            ["(where the API server runs cannot be told)"],
        ),
    ],
    ids=[
        "labelled",
        "labelled-taking-pods",
        "managed",
        "unlabelled",
        "unlabelled-taking-pods",
        "no-evidence",
    ],
)
def test_the_control_plane_is_decided_on_evidence(nodes, api, case, taking):
    recorded: list[tuple[str, object]] = []
    found = checks.control_plane(
        StandInKube(nodes, api), record=lambda k, v: recorded.append((k, v))
    )
    assert (found.case, found.taking_workload) == (case, taking)
    assert recorded == [("outcome", f"control plane: {case}")]
