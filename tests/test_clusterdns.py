"""The CoreDNS rollout's end: every replica on the new image and ready, and the kube-dns
Service's ready endpoints exactly those pods (objects as the API returns them, made here)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from kubelab import clusterdns

OLD, NEW = "kubelab.local/coredns:v1.14.2", "kubelab.local/coredns:v1.14.6"


def _deployment(image: str, updated: int = 2, ready: int = 2, total: int = 2) -> Any:
    return SimpleNamespace(
        metadata=SimpleNamespace(generation=2),
        spec=SimpleNamespace(
            replicas=2,
            template=SimpleNamespace(
                spec=SimpleNamespace(containers=[SimpleNamespace(name="coredns", image=image)])
            ),
        ),
        status=SimpleNamespace(
            observed_generation=2,
            updated_replicas=updated,
            ready_replicas=ready,
            available_replicas=ready,
            replicas=total,
        ),
    )


def _pod(name: str, image: str, ready: bool = True, deleted: bool = False) -> Any:
    return SimpleNamespace(
        metadata=SimpleNamespace(name=name, deletion_timestamp="now" if deleted else None),
        spec=SimpleNamespace(containers=[SimpleNamespace(image=image)]),
        status=SimpleNamespace(
            phase="Running",
            conditions=[SimpleNamespace(type="Ready", status="True" if ready else "False")],
        ),
    )


def _slices(*ready: str, not_ready: tuple[str, ...] = ()) -> list[Any]:
    def endpoint(name: str, is_ready: bool) -> Any:
        return SimpleNamespace(
            addresses=["10.244.1.2"],
            target_ref=SimpleNamespace(name=name),
            conditions=SimpleNamespace(ready=is_ready),
        )

    endpoints = [endpoint(n, True) for n in ready] + [endpoint(n, False) for n in not_ready]
    return [SimpleNamespace(endpoints=endpoints)]


def test_rolled_out_when_the_new_pods_are_all_ready_and_the_only_ready_endpoints() -> None:
    pods = [_pod("new-a", NEW), _pod("new-b", NEW), _pod("old-a", OLD, ready=False, deleted=True)]
    slices = _slices("new-a", "new-b", not_ready=("old-a",))  # terminating: serving, not ready
    assert clusterdns.rollout_problems(_deployment(NEW), pods, slices, NEW) == []


def test_an_old_pod_still_serving_is_named() -> None:
    pods = [_pod("new-a", NEW), _pod("old-b", OLD)]
    problems = clusterdns.rollout_problems(
        _deployment(NEW, updated=1, total=2), pods, _slices("new-a", "old-b"), NEW
    )
    assert problems == [
        "Deployment coredns: 2 replicas wanted, 1 updated, 2 ready, 2 available, 2 in all",
        f"pod old-b: {OLD}, ready",
        "Service kube-dns's ready endpoints: new-a, old-b; the new ready pods: new-a",
    ]


def test_a_new_pod_not_yet_an_endpoint_is_not_done() -> None:
    pods = [_pod("new-a", NEW), _pod("new-b", NEW)]
    problems = clusterdns.rollout_problems(_deployment(NEW), pods, _slices("new-a"), NEW)
    assert problems == [
        "Service kube-dns's ready endpoints: new-a; the new ready pods: new-a, new-b"
    ]


def test_the_deployment_on_the_old_image_is_named() -> None:
    pods = [_pod("old-a", OLD), _pod("old-b", OLD)]
    problems = clusterdns.rollout_problems(_deployment(OLD), pods, _slices("old-a", "old-b"), NEW)
    assert problems[0] == f"Deployment coredns runs {OLD}"
