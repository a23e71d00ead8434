"""Steps about the lab's pods: creating them and where they run."""

from __future__ import annotations

from pytest_bdd import parsers, then, when

from kubelab.lab import Lab
from kubelab.plugin.ahead import given_ahead


@given_ahead(parsers.parse("the {pod} pod is running"), lambda lab, pod: lab.start_pod(pod))
def _(lab: Lab, pod: str) -> None:
    lab.start_pod_and_wait_until_ready(pod)


@when(parsers.parse("I create the {pod} pod"))
def _(lab: Lab, pod: str) -> None:
    lab.create_pod(pod)


@then(parsers.parse("the {pod} pod is running on a worker node"))
def _(lab: Lab, pod: str) -> None:
    placement = lab.placement(pod)
    assert placement.worker, f"{pod} runs on control-plane node {placement.node}"


@then(parsers.parse("the {pod} pod's container runs in that node's container runtime"))
def _(lab: Lab, pod: str) -> None:
    placement = lab.placement(pod)
    assert placement.runs_in_runtime, (
        f"container {placement.container_id} of pod {placement.pod} is not among the containers "
        f"node {placement.node}'s runtime runs: {placement.runtime_containers}"
    )
