"""The namespace as kubectl lists it, recorded as evidence: Services, pods, each web pod's life."""

from __future__ import annotations

from collections.abc import Callable

from kubelab import evidence
from kubelab.namespace import LabNamespace
from kubelab.podwatch import PodLife


def record_services(ns: LabNamespace) -> None:
    """Record the namespace's Services as ``kubectl get svc`` lists them."""
    rows = []
    for svc in sorted(ns.objects("Service"), key=lambda s: s.metadata.name):
        ports = ",".join(
            f"{p.port}:{p.node_port}/{p.protocol}" if p.node_port else f"{p.port}/{p.protocol}"
            for p in svc.spec.ports or []
        )
        rows.append(
            [
                svc.metadata.name,
                svc.spec.type,
                svc.spec.cluster_ip,
                ports,
                evidence.age(svc.metadata.creation_timestamp),
            ]
        )
    evidence.record(
        "the Services", evidence.table(["NAME", "TYPE", "CLUSTER-IP", "PORT(S)", "AGE"], rows)
    )


def record_pods(
    ns: LabNamespace, title: str = "the pods, with their node and IP", owners: bool = False
) -> None:
    """Record the namespace's pods as ``kubectl get pods -o wide`` lists them."""
    evidence.record(title, evidence.pods_table(ns.pods(), owners=owners))


def lives_table(lives: list[PodLife], since: float, version_of: Callable[[str], str]) -> str:
    """Each pod's version and when it started, became ready, began shutting down and exited, in
    seconds since ``since``."""

    def at(moment: float | None, before: str) -> str:
        return before if moment is None else f"{moment - since:+.2f}"

    return evidence.table(
        ["POD", "VERSION", "STARTED", "READY", "SHUTTING DOWN", "EXITED"],
        [
            [
                life.name,
                version_of(life.image),
                at(life.started, "before"),
                at(life.ready, "before"),
                at(life.stopping, "-"),
                at(life.exited, "-"),
            ]
            for life in lives
        ],
    )
