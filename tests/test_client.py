"""Kube addresses objects by kind through the dynamic client and answers with the client's typed
models, against the stand-in API server of tests/stand_in_api.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client

from kubelab import client as client_module
from kubelab.client import Kube
from tests.stand_in_api import kubeconfig, serve


def test_objects_by_kind_are_typed_models(tmp_path: Path):
    with serve() as api:
        kube = Kube.from_kubeconfig(kubeconfig(tmp_path, api.url))
        kube.create_namespace("kubelab-a")
        made = kube.create(
            "ConfigMap", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="c")), "kubelab-a"
        )
        assert isinstance(made, client.V1ConfigMap)
        assert made.metadata.resource_version == "1"
        found = kube.get("Namespace", "kubelab-a")
        assert isinstance(found, client.V1Namespace)
        assert found.metadata.labels == {"app.kubernetes.io/managed-by": "kubelab"}
        assert [n.metadata.name for n in kube.objects("Namespace")] == ["kubelab-a"]
        assert [type(n) for n in kube.nodes()] == [client.V1Node]
        assert kube.delete("Namespace", "kubelab-a") is True
        assert kube.delete("Namespace", "kubelab-a") is False
        assert kube.get("Namespace", "kubelab-a") is None


def test_a_list_call_names_its_typed_list_for_a_watch(tmp_path: Path):
    with serve() as api:
        kube = Kube.from_kubeconfig(kubeconfig(tmp_path, api.url))
        listing = kube.lister("Namespace")
        assert listing.__annotations__["return"] is client.V1NamespaceList
        assert listing().items == []


@pytest.mark.parametrize("kind", sorted(client_module.API_VERSIONS))
def test_every_kind_kubelab_reads_has_a_model_and_a_list_model(kind: str) -> None:
    assert client_module.model(kind).__name__.endswith(kind)
    assert client_module.model(kind, "List").__name__.endswith(f"{kind}List")
