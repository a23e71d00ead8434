"""Reading pod states: what is waited for, and what cannot be waited away."""

from __future__ import annotations

from kubernetes import client

from kubelab.states import describe_pods, image_problem, pod_ready


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
