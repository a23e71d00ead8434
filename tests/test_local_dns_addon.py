"""The local cluster's DNS add-on: kubeadm's objects, valid, with kubeadm's caching rules."""

from __future__ import annotations

import re

import kubernetes_validate
import pytest

from kubelab.cluster.local import bootstrap, plan
from kubelab.images.coredns import coredns_image
from kubelab.releases import DEFAULT
from tests import stand_in_api

IMAGE = coredns_image(DEFAULT.coredns)
ADDON = {(d["kind"], d["metadata"]["name"]): d for d in bootstrap.dns_addon(IMAGE)}


def test_the_addon_is_kubeadms_set_of_objects_in_kube_system():
    assert sorted(ADDON) == [
        ("ClusterRole", "system:coredns"),
        ("ClusterRoleBinding", "system:coredns"),
        ("ConfigMap", "coredns"),
        ("Deployment", "coredns"),
        ("Service", "kube-dns"),
        ("ServiceAccount", "coredns"),
    ]
    assert {d["metadata"].get("namespace", "kube-system") for d in ADDON.values()} == {
        "kube-system"
    }


@pytest.mark.parametrize("key", sorted(ADDON), ids=lambda k: f"{k[0]}-{k[1]}")
def test_every_object_is_valid_against_the_openapi_schema(key):
    kubernetes_validate.validate(ADDON[key], "1.34.0", strict=True)


def test_the_corefile_never_caches_cluster_names_found_or_missing():
    corefile = ADDON[("ConfigMap", "coredns")]["data"]["Corefile"]
    cache = re.search(r"cache 30 \{(.*?)\}", corefile, re.S)
    assert cache is not None, corefile
    assert cache.group(1).split() == [
        "disable",
        "success",
        plan.CLUSTER_DOMAIN,
        "disable",
        "denial",
        plan.CLUSTER_DOMAIN,
    ]


def test_offline_every_other_name_goes_to_a_block_answering_nxdomain():
    corefile = ADDON[("ConfigMap", "coredns")]["data"]["Corefile"]
    forwards = re.findall(r"^\s*forward (.*?) \{", corefile, re.M)
    assert forwards == [". 127.0.0.1:5353"]
    offline = corefile[corefile.index(".:5353 {") :]
    assert "bind 127.0.0.1" in offline
    assert "rcode NXDOMAIN" in offline


def test_the_kube_dns_service_selects_the_coredns_pods_at_the_kubelets_dns_address():
    service = ADDON[("Service", "kube-dns")]
    pods = ADDON[("Deployment", "coredns")]["spec"]["template"]
    assert service["spec"]["clusterIP"] == plan.DNS_SERVICE_IP
    assert service["spec"]["selector"].items() <= pods["metadata"]["labels"].items()
    # what `kubectl cluster-info` lists, under this name
    assert service["metadata"]["labels"]["kubernetes.io/cluster-service"] == "true"
    assert service["metadata"]["labels"]["kubernetes.io/name"] == "CoreDNS"


def test_the_deployment_runs_kubelabs_coredns_image_with_the_configmaps_corefile():
    pod = ADDON[("Deployment", "coredns")]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["image"] == IMAGE
    assert container["args"] == ["-conf", "/etc/coredns/Corefile"]
    assert pod["volumes"][0]["configMap"]["name"] == "coredns"
    assert pod["serviceAccountName"] == "coredns"


def test_the_addon_is_created_where_the_api_serves_each_kind(tmp_path):
    # The stand-in API stores what is POSTed by path: each object lands at its kind's own path.
    with stand_in_api.serve() as api_server:
        api = bootstrap.api_client(stand_in_api.kubeconfig(tmp_path, api_server.url))
        bootstrap.apply_dns_addon(api, IMAGE)
        assert sorted(api_server.posted) == [
            "/api/v1/namespaces/kube-system/configmaps/coredns",
            "/api/v1/namespaces/kube-system/serviceaccounts/coredns",
            "/api/v1/namespaces/kube-system/services/kube-dns",
            "/apis/apps/v1/namespaces/kube-system/deployments/coredns",
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/system:coredns",
            "/apis/rbac.authorization.k8s.io/v1/clusterroles/system:coredns",
        ]
        assert bootstrap.node_states(api) == {"stand-in-worker1": "True"}
