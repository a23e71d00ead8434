"""What a change does to the pods' containers: each pod's container as the API reports it
(node, container ID, restart count) before the change and after it. A change that keeps the
pods running keeps the same container ID and restart count; one that does not shows a pod gone,
its container replaced by another ID, or restarted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from kubernetes import client

from kubelab import evidence
from kubelab.lab import Lab

if TYPE_CHECKING:
    from kubelab.change import ChangeRun  # change.py imports this module: a type only here


@dataclass(frozen=True)
class Container:
    """One container as the API reports it: its pod, node, id and restart count."""

    pod: str
    node: str
    container_id: str
    restarts: int


def containers(pods: list[client.V1Pod]) -> dict[str, Container]:
    """Each pod's first container, by pod name."""
    found = {}
    for pod in pods:
        statuses = pod.status.container_statuses or []
        if statuses:
            found[pod.metadata.name] = Container(
                pod.metadata.name,
                pod.spec.node_name or "<none>",
                (statuses[0].container_id or "").split("://")[-1],
                statuses[0].restart_count or 0,
            )
    return found


def changed_containers(
    before: dict[str, Container],
    after: dict[str, Container],
    pods: list[str],
    never_restarted: bool = False,
) -> list[str]:
    """For each of ``pods``: how its container changed (gone, another id, restarted), and with
    ``never_restarted`` a container that restarted at all, before the change too."""
    problems = []
    for name in pods:
        was, now = before.get(name), after.get(name)
        if was is None:
            problems.append(f"pod {name}: not there before the change")
        elif now is None:
            problems.append(f"pod {name}: gone after the change (it ran on {was.node})")
        elif now.container_id != was.container_id:
            problems.append(
                f"pod {name} on {now.node}: container {was.container_id[:13]} replaced by "
                f"{now.container_id[:13]}"
            )
        elif now.restarts != was.restarts:
            problems.append(
                f"pod {name} on {now.node}: container {now.container_id[:13]} restarted "
                f"({was.restarts} -> {now.restarts} restarts)"
            )
        elif never_restarted and now.restarts:
            problems.append(
                f"pod {name} on {now.node}: container {now.container_id[:13]} has restarted "
                f"(restartCount {now.restarts}, expected 0)"
            )
    return problems


def kept_containers(
    lab: Lab, run: ChangeRun, pods: list[str] | None = None, never_restarted: bool = False
) -> list[str]:
    """How the containers of ``pods`` (default: every pod there before the change) changed;
    with ``never_restarted`` also any that restarted at all (restartCount above 0)."""
    now = containers(lab.ns.pods())
    names = sorted(run.before) if pods is None else pods
    evidence.record(
        "each pod's container before and after the change",
        evidence.table(
            ["POD", "NODE", "BEFORE", "RESTARTS", "AFTER", "RESTARTS"],
            [
                [
                    n,
                    run.before[n].node if n in run.before else "<none>",
                    run.before[n].container_id[:13] if n in run.before else "<none>",
                    run.before[n].restarts if n in run.before else "-",
                    now[n].container_id[:13] if n in now else "<gone>",
                    now[n].restarts if n in now else "-",
                ]
                for n in names
            ],
        ),
    )
    return changed_containers(run.before, now, names, never_restarted)
