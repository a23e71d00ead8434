"""Steps about the ReplicationController: scaling and adopting the web pod."""

from __future__ import annotations

from pytest_bdd import parsers, then, when

from kubelab.lab import Lab
from kubelab.plugin.ahead import given_ahead


@given_ahead(
    parsers.parse("the web ReplicationController runs {replicas:d} replicas"),
    lambda lab, replicas: lab.start_replication_controller(replicas),
)
def _(lab: Lab, replicas: int) -> None:
    lab.start_replication_controller_and_wait_for_pods(replicas)


@when(parsers.parse("I create the web ReplicationController with {replicas:d} replicas"))
def _(lab: Lab, replicas: int) -> None:
    lab.create_replication_controller(replicas)


@then(parsers.parse("{count:d} web pods are running"))
def _(lab: Lab, count: int) -> None:
    lab.wait_for_web_pods(count)


@then("the web pod is owned by the ReplicationController")
def _(lab: Lab) -> None:
    assert lab.owners_of("web") == [("ReplicationController", "web")]


@then(parsers.parse("the ReplicationController created exactly {count:d} pods"))
def _(lab: Lab, count: int) -> None:
    created = lab.pods_created_by("web")
    assert len(created) == count, f"it created {', '.join(created) or 'none'}"
