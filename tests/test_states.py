"""Reading pod states: what is waited for, and what cannot be waited away."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from kubernetes import client

from kubelab.names import REDIS_IMAGE, WEB_V1_IMAGE, WEB_V2_IMAGE
from kubelab.states import (
    describe_pods,
    endpoint_ready,
    image_problem,
    images_never_pulled,
    is_ready,
    not_ready_reason,
    pod_ready,
    scheduling_problem,
)


def pod(name: str, waiting: str | None = None, ready: bool = True) -> client.V1Pod:
    state = client.V1ContainerState(
        waiting=client.V1ContainerStateWaiting(reason=waiting) if waiting else None,
        running=None if waiting else client.V1ContainerStateRunning(),
    )
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1PodSpec(
            node_name="worker1", containers=[client.V1Container(name="web", image="w:1")]
        ),
        status=client.V1PodStatus(
            phase="Pending" if waiting else "Running",
            conditions=[
                client.V1PodCondition(
                    type="Ready", status="True" if ready and not waiting else "False"
                )
            ],
            container_statuses=[
                client.V1ContainerStatus(
                    name="web", image="w:1", image_id="", ready=ready, restart_count=0, state=state
                )
            ],
        ),
    )


def test_an_image_missing_on_the_node_is_explained_with_the_fix():
    problem = image_problem([pod("a"), pod("web", waiting="ErrImageNeverPull")])
    assert problem == (
        "image w:1 of pod web cannot be found on node worker1 (ErrImageNeverPull); load it on every "
        "node or name another with --web-image/--web-image-v2/--redis-image"
    )


def test_a_container_still_creating_is_no_image_problem():
    assert image_problem([pod("web", waiting="ContainerCreating")]) is None


def test_describe_pods_says_why_a_pod_waits():
    assert (
        describe_pods([pod("web", waiting="ImagePullBackOff")])
        == "web Pending not ready (web ImagePullBackOff)"
    )
    assert pod_ready(pod("a"))


def test_a_crash_looping_container_is_not_waited_for():
    assert "cannot run on node worker1 (CrashLoopBackOff)" in image_problem(
        [pod("redis", waiting="CrashLoopBackOff")]
    )


def node(name: str, status: str, reason: str = "", message: str = "") -> client.V1Node:
    condition = client.V1NodeCondition(type="Ready", status=status, reason=reason, message=message)
    return client.V1Node(
        metadata=client.V1ObjectMeta(name=name), status=client.V1NodeStatus(conditions=[condition])
    )


def test_a_node_not_ready_says_its_conditions_reason_and_message():
    stopped = node(
        "kubelab-worker3", "Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status."
    )
    assert not is_ready(stopped)
    assert not_ready_reason(stopped) == (
        "node kubelab-worker3 not Ready (Unknown): NodeStatusUnknown, Kubelet stopped posting node status."
    )


def test_a_pod_no_scheduler_looked_at_is_named_after_the_grace():
    waiting = pod("redis", waiting="ContainerCreating")
    waiting.spec.node_name = None
    waiting.status.conditions = []
    waiting.metadata.creation_timestamp = datetime.now(UTC) - timedelta(seconds=25)
    assert scheduling_problem([waiting], grace=20).startswith(
        "pod redis Pending: no scheduling attempt in 25 s (no scheduler is acting on the pod"
    )
    assert scheduling_problem([waiting], grace=60) is None
    waiting.status.conditions = [client.V1PodCondition(type="PodScheduled", status="False")]
    assert scheduling_problem([waiting], grace=20) is None  # a scheduler looked: unschedulable


def test_a_wait_that_times_out_before_the_grace_still_names_the_missing_scheduler():
    waiting = pod("redis", waiting="ContainerCreating")
    waiting.spec.node_name = None
    waiting.status.conditions = []
    waiting.metadata.creation_timestamp = datetime.now(UTC) - timedelta(seconds=10)
    assert describe_pods([waiting]) == (
        "redis Pending not ready (web ContainerCreating, no scheduling attempt in 10 s: no "
        "scheduler is acting on the pod; is kube-scheduler running?)"
    )
    waiting.metadata.creation_timestamp = datetime.now(UTC)  # just created: nothing to say yet
    assert "scheduling" not in describe_pods([waiting])


@pytest.mark.parametrize(("ready", "counts"), [(True, True), (None, True), (False, False)])
def test_an_endpoint_whose_ready_is_null_counts_as_ready(ready, counts):
    endpoint = client.V1Endpoint(
        addresses=["10.244.1.2"], conditions=client.V1EndpointConditions(ready=ready)
    )
    assert endpoint_ready(endpoint) is counts
    assert endpoint_ready(client.V1Endpoint(addresses=["10.244.1.2"], conditions=None))


LAB = [REDIS_IMAGE, WEB_V1_IMAGE, WEB_V2_IMAGE]


def holding(name: str, images: list[str], *, control_plane: bool = False) -> client.V1Node:
    taints = [client.V1Taint(key="node-role.kubernetes.io/control-plane", effect="NoSchedule")]
    return client.V1Node(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1NodeSpec(taints=taints if control_plane else None),
        status=client.V1NodeStatus(images=[client.V1ContainerImage(names=[i]) for i in images]),
    )


def test_kubelabs_own_images_missing_on_a_worker_are_named_with_the_fix():
    nodes = [holding("w1", LAB), holding("w2", [WEB_V1_IMAGE]), holding("w3", [])]
    said = images_never_pulled(nodes, LAB)
    assert said is not None
    assert said.startswith(
        f"the lab's image {REDIS_IMAGE} is not on node w2 (nor on w3), and no registry serves "
        "kubelab.local: push the images where the nodes pull from (`kubelab images push "
    )


@pytest.mark.parametrize(
    "nodes",
    [
        [holding("w1", LAB)],
        [holding("w1", LAB), holding("cp", [], control_plane=True)],  # takes no workload
        [holding("w1", [f"registry.example/other:{n}" for n in range(50)])],  # a partial list
    ],
    ids=["all-there", "control-plane", "status-lists-50"],
)
def test_nodes_with_the_images_or_not_to_be_judged_pass(nodes):
    assert images_never_pulled(nodes, LAB) is None


def test_images_from_a_registry_are_the_nodes_to_pull():
    assert images_never_pulled([holding("w1", [])], ["127.0.0.1:5000/web:1.0"]) is None
