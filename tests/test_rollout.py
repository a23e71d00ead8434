"""How the rollout's pod watch counts running pods while controllers scale (pure data)."""

from __future__ import annotations

from kubernetes import client

from kubelab.podwatch import running


def _pods(kind: str, uid: str, count: int) -> list[client.V1Pod]:
    owner = client.V1OwnerReference(api_version="v1", kind=kind, name=uid, uid=uid, controller=True)
    return [
        client.V1Pod(metadata=client.V1ObjectMeta(name=f"{uid}-{i}", owner_references=[owner]))
        for i in range(count)
    ]


def test_an_old_pod_its_replicaset_was_scaled_below_is_not_running() -> None:
    # The Deployment lowered old to 2 and raised new to 2; the new pod came first.
    live = _pods("ReplicaSet", "old", 3) + _pods("ReplicaSet", "new", 2)
    wanted = {("ReplicaSet", "old"): 2, ("ReplicaSet", "new"): 2}
    most = {("ReplicaSet", "old"): 3, ("ReplicaSet", "new"): 2}
    assert running(live, wanted, most) == 4


def test_a_pod_beyond_what_its_controller_ever_asked_for_runs() -> None:
    # The old controller asks for 3 as it always did, yet runs 4 (a stale cache's extra pod).
    live = _pods("ReplicationController", "old", 4) + _pods("ReplicationController", "new", 1)
    wanted = {("ReplicationController", "old"): 3, ("ReplicationController", "new"): 1}
    assert running(live, wanted, dict(wanted)) == 5


def test_only_as_many_are_scaled_away_as_the_controller_was_scaled_down() -> None:
    live = _pods("ReplicaSet", "old", 4)
    assert running(live, {("ReplicaSet", "old"): 2}, {("ReplicaSet", "old"): 3}) == 3


def test_pods_of_unknown_controllers_or_none_all_run() -> None:
    bare = [client.V1Pod(metadata=client.V1ObjectMeta(name="web"))]
    assert running(bare + _pods("ReplicaSet", "rs", 2), {}, {}) == 3
