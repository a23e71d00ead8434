"""Steps about the cluster itself: nodes, roles, versions, DNS."""

from __future__ import annotations

from collections.abc import Callable

from kubernetes import client
from pytest_bdd import given, parsers, then

from kubelab import checks
from kubelab.client import Kube
from kubelab.lab import Lab


@given("the lab cluster", target_fixture="nodes")
def _(kube: Kube) -> list[client.V1Node]:
    return kube.nodes()


@then("every node is Ready")
def _(kube: Kube) -> None:
    not_ready = checks.nodes_not_ready(kube)
    assert not_ready == [], "; ".join(not_ready)


@then(parsers.parse("there are at least {count:d} worker nodes"))
def _(kube: Kube, count: int) -> None:
    assert len(checks.worker_nodes(kube)) >= count


@then("every control-plane node refuses ordinary pods")
def _(kube: Kube, record_property: Callable[[str, object], None]) -> None:
    found = checks.control_plane(kube, record=record_property)
    assert found.taking_workload == [], (
        f"{found.case}; taking ordinary pods: {found.taking_workload}"
    )


@then("the API server reports a Kubernetes version")
def _(kube: Kube) -> None:
    checks.server_release(kube)  # ValueError, naming what it reports, unless it is a release


@then("every node's kubelet reports a version the API server supports")
def _(kube: Kube) -> None:
    skewed = checks.kubelets_out_of_skew(kube)
    assert skewed == [], "; ".join(skewed)


@then("the cluster's DNS service has ready endpoints")
def _(kube: Kube) -> None:
    problems = checks.dns_service_problems(kube)
    assert problems == [], "; ".join(problems)


@then(parsers.parse("the web pod resolves {host} to the {service} Service's address"))
def _(lab: Lab, host: str, service: str) -> None:
    lookup = lab.look_up(host)
    assert lookup.addresses == [lookup.service_address], lookup.explain(service)
