"""kind provider: the cluster config it gives kind, and the offline CoreDNS it makes."""

from __future__ import annotations

import yaml

from kubelab.cluster.kind import kind_config, offline_corefile

# kubeadm's Corefile as kind's clusters have it (kubeadm v1.34).
KUBEADM_COREFILE = """.:53 {
    errors
    health {
       lameduck 5s
    }
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    prometheus :9153
    forward . /etc/resolv.conf {
       max_concurrent 1000
    }
    cache 30 {
       disable success cluster.local
       disable denial cluster.local
    }
    loop
    reload
    loadbalance
}
"""


def test_config_has_one_control_plane_and_the_workers_asked_for():
    config = yaml.safe_load(kind_config(workers=2))
    assert [n["role"] for n in config["nodes"]] == ["control-plane", "worker", "worker"]
    assert "kubeadmConfigPatches" not in config


def test_config_tells_kubeadm_the_real_etcd_and_coredns_tags():
    config = yaml.safe_load(kind_config(workers=1, etcd_tag="3.5.24-0", coredns_tag="v1.15.0"))
    patch = yaml.safe_load(config["kubeadmConfigPatches"][0])
    assert patch["kind"] == "ClusterConfiguration"
    assert patch["etcd"]["local"]["imageTag"] == "3.5.24-0"
    assert patch["dns"]["imageTag"] == "v1.15.0"


def test_offline_corefile_forwards_to_an_upstream_that_says_nxdomain():
    corefile = offline_corefile(KUBEADM_COREFILE)
    assert "/etc/resolv.conf" not in corefile
    assert "    forward . 127.0.0.1:5353 {\n       max_concurrent 1000\n    }" in corefile
    upstream = corefile.split(".:5353 {", 1)[1]
    assert "bind 127.0.0.1" in upstream
    assert "rcode NXDOMAIN" in upstream
    # the cluster's own server block is untouched otherwise
    assert corefile.startswith(KUBEADM_COREFILE.split("    forward")[0])


def test_offline_corefile_is_applied_once():
    once = offline_corefile(KUBEADM_COREFILE)
    assert offline_corefile(once) == once
