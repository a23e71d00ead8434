"""Proof that the suite touches only what it created: sentinels planted before, checked after.

The sentinels carry the lab's own names (Services ``web`` and ``redis``, a ConfigMap) in
``default`` and in a namespace of their own, so a step that acted on the wrong namespace would
change or delete one of them.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from kubernetes import client

from kubelab.client import Kube

SENTINEL_LABELS = {"app.kubernetes.io/part-of": "kubelab-sentinel"}


@dataclass
class Sentinels:
    """Objects kubelab planted outside the lab's namespaces, and their resourceVersions."""

    kube: Kube
    namespace: str = field(default_factory=lambda: f"kubelab-sentinel-{secrets.token_hex(3)}")
    suffix: str = field(default_factory=lambda: secrets.token_hex(3))
    # (namespace, kind, name) -> resourceVersion; None until created (named before creation, so
    # that a run interrupted while planting still removes what it planted)
    versions: dict[tuple[str, str, str], str | None] = field(default_factory=dict)
    planted: bool = False


def _service(name: str) -> client.V1Service:
    return client.V1Service(
        metadata=client.V1ObjectMeta(name=name, labels=dict(SENTINEL_LABELS)),
        spec=client.V1ServiceSpec(
            selector={"app": name},
            ports=[client.V1ServicePort(port=6379 if name == "redis" else 80)],
        ),
    )


def _version(kube: Kube, namespace: str, kind: str, name: str) -> str | None:
    found = kube.get(kind, name, namespace)
    return None if found is None else str(found.metadata.resource_version)


def plant(sentinels: Sentinels) -> None:
    """Create the sentinels in ``default`` and in a namespace of their own; record their versions."""
    kube, other = sentinels.kube, sentinels.namespace
    kube.create(
        "Namespace",
        client.V1Namespace(metadata=client.V1ObjectMeta(name=other, labels=dict(SENTINEL_LABELS))),
    )
    for namespace in ("default", other):
        # In default, unique names: never collide with what a user keeps there.
        unique = f"kubelab-sentinel-{sentinels.suffix}"
        names = (unique,) if namespace == "default" else ("web", "redis")
        bodies = [("Service", _service(name)) for name in names]
        bodies.append(
            (
                "ConfigMap",
                client.V1ConfigMap(
                    metadata=client.V1ObjectMeta(name=unique, labels=dict(SENTINEL_LABELS)),
                    data={"hits": "0"},
                ),
            )
        )
        for kind, body in bodies:
            key = (namespace, kind, body.metadata.name)
            sentinels.versions[key] = None
            sentinels.versions[key] = kube.create(kind, body, namespace).metadata.resource_version
    sentinels.planted = True


def changed(sentinels: Sentinels) -> list[str]:
    """Sentinels that were modified or deleted since they were planted."""
    if not sentinels.planted:
        return []  # the run was interrupted while planting: nothing ran that could change them
    problems = []
    for (namespace, kind, name), version in sorted(sentinels.versions.items()):
        now = _version(sentinels.kube, namespace, kind, name)
        if now is None:
            problems.append(f"{kind} {namespace}/{name}: deleted")
        elif now != version:
            problems.append(
                f"{kind} {namespace}/{name}: modified (resourceVersion {version} -> {now})"
            )
    return problems


def remove(sentinels: Sentinels) -> None:
    """Delete the sentinels (their namespace, and the ones in ``default``)."""
    for namespace, kind, name in sentinels.versions:
        if namespace == "default":
            sentinels.kube.delete(kind, name, namespace)
    sentinels.kube.delete("Namespace", sentinels.namespace)
