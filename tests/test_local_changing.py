"""The kube-proxy mode switch's pure parts: which iptables rules are kube-proxy's, and the PATH
that shows a kube-proxy only its own mode's programs."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from kubelab.cluster.local import changing

DATA = Path(__file__).parent / "data"
# A worker's iptables-save on a new local cluster in iptables mode (Kubernetes 1.37.2), and the
# same node's after the switch to nftables: only the kubelet's chains are left.
IPTABLES_MODE = (DATA / "iptables-save-iptables-mode.txt").read_text()
AFTER_CLEANUP = (DATA / "iptables-save-after-cleanup.txt").read_text()


def test_every_rule_of_kube_proxy_counts_and_none_of_the_kubelet() -> None:
    rules = [line for line in IPTABLES_MODE.splitlines() if line.startswith("-A ")]
    kubelets = [line for line in rules if "KUBE-FIREWALL" in line and "PROXY" not in line]
    assert len(kubelets) == 3  # INPUT and OUTPUT jumps, the martian-packet rule
    assert changing.kube_proxy_iptables_rules(IPTABLES_MODE) == len(rules) - 3


def test_nothing_of_kube_proxy_left_after_its_cleanup() -> None:
    assert "-A INPUT -j KUBE-FIREWALL" in AFTER_CLEANUP  # the kubelet's rules stay
    assert changing.kube_proxy_iptables_rules(AFTER_CLEANUP) == 0


@pytest.mark.parametrize(
    "leftover",
    [
        '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
        "-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000",
        '-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD',
    ],
)
def test_a_single_rule_left_outside_the_service_chains_is_found(leftover: str) -> None:
    saved = AFTER_CLEANUP.replace("*nat\n", f"*nat\n{leftover}\n")
    assert changing.kube_proxy_iptables_rules(saved) == 1


def test_a_kube_proxy_sees_only_its_own_modes_programs(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(changing.shutil, "which", lambda program: f"/usr/sbin/{program}")
    cluster = SimpleNamespace(layout=SimpleNamespace(root=tmp_path))
    nftables = Path(changing.programs_of(cluster, "nftables"))  # type: ignore[arg-type]
    iptables = Path(changing.programs_of(cluster, "iptables"))  # type: ignore[arg-type]
    assert {p.name: str(p.readlink()) for p in nftables.iterdir()} == {"nft": "/usr/sbin/nft"}
    assert sorted(p.name for p in iptables.iterdir()) == [
        "ip6tables",
        "ip6tables-restore",
        "ip6tables-save",
        "iptables",
        "iptables-restore",
        "iptables-save",
    ]
    assert changing.programs_of(cluster, "nftables") == str(nftables)  # again: the same links
