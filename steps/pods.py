"""Steps about the lab's pods: creating them and where they run."""

from __future__ import annotations

from pytest_bdd import given, parsers, then, when

from steps.ahead import ahead

RUNNING = ahead(parsers.parse("the {pod} pod is running"), lambda lab, pod: lab.start_pod(pod))


@given(RUNNING)
def _(lab, pod):
    lab.run_pod(pod)


@when(parsers.parse("I create the {pod} pod"))
def _(lab, pod):
    lab.create_pod(pod)


@then(parsers.parse("the {pod} pod is running on a worker node"), target_fixture="placement")
def _(lab, pod):
    placement = lab.placement(pod)
    assert placement.worker, f"{pod} runs on control-plane node {placement.node}"
    return placement


@then(parsers.parse("the {pod} pod's container runs in that node's container runtime"))
def _(placement):
    assert placement.runs_in_runtime, (
        f"container {placement.container_id} of pod {placement.pod} is not among the containers "
        f"node {placement.node}'s runtime runs: {placement.runtime_containers}"
    )
