"""Steps about the cluster itself: nodes, roles, versions, DNS."""

from __future__ import annotations

from pytest_bdd import given, parsers, then

from kubelab import checks


@given("the lab cluster", target_fixture="nodes")
def _(kube):
    return kube.nodes()


@then("every node is Ready")
def _(kube):
    assert checks.nodes_not_ready(kube) == []


@then(parsers.parse("there are at least {count:d} worker nodes"))
def _(kube, count):
    assert len(checks.worker_nodes(kube)) >= count


@then("every control-plane node refuses ordinary pods")
def _(kube):
    assert checks.control_plane_nodes_taking_workload(kube) == []


@then("the API server reports a Kubernetes version")
def _(kube):
    assert checks.parse_version(kube.server_version()) >= (1, 0)


@then("every node's kubelet reports a version the API server supports")
def _(kube):
    assert checks.kubelets_out_of_skew(kube) == []


@then("the cluster's DNS service has ready endpoints")
def _(kube):
    assert checks.dns_service_problems(kube) == []


@then(parsers.parse("the web pod resolves {host} to the {service} Service's address"))
def _(lab, host, service):
    lookup = lab.look_up(host)
    assert lookup.addresses == [lookup.service_address], (
        f"{host} in pod {lookup.pod} resolves to {' '.join(lookup.addresses)}, "
        f"not to Service {service}'s ClusterIP {lookup.service_address}"
    )
