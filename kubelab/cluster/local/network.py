"""Host and node network plumbing: bridge, node netns + veth, routes, sysctls, FORWARD rules."""

from __future__ import annotations

import json
import re
from pathlib import Path

from kubelab.cluster.local import plan
from kubelab.cluster.local.plan import LocalNode
from kubelab.cluster.local.proc import in_netns
from kubelab.commands import run
from kubelab.errors import EnvironmentProblem
from kubelab.waits import SHORT

_NODE_NETNS = re.compile(r"^([a-z][a-z0-9]{0,11})-(?:cp|w\d+)$")
IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")
NODE_SYSCTLS = {
    "net/ipv4/ip_forward": "1",
    "net/bridge/bridge-nf-call-iptables": "1",
    "net/ipv4/conf/all/route_localnet": "1",
}


def _link_exists(name: str) -> bool:
    return Path(f"/sys/class/net/{name}").exists()


def _forward_rules() -> list[list[str]]:
    comment = ["-m", "comment", "--comment", plan.IPTABLES_COMMENT]
    return [
        ["FORWARD", "-i", plan.BRIDGE, *comment, "-j", "ACCEPT"],
        ["FORWARD", "-o", plan.BRIDGE, *comment, "-j", "ACCEPT"],
    ]


def confine_rule() -> list[str]:
    """Nothing a node or pod sends leaves through the host: the cluster talks only on its bridge.

    Without it, a connection to a Service's address made before kube-proxy's rule for it went
    out of the host's default route (the seed's flow makes one: the web pod dials redis the
    moment its name resolves), and its retried SYNs stayed pinned to that route by conntrack
    until the app's 2 s connect timeout. Rejected here, it fails at once and the next visit,
    a new connection, meets kube-proxy's rule.
    """
    return [
        "FORWARD",
        "-i",
        plan.BRIDGE,
        "!",
        "-o",
        plan.BRIDGE,
        "-m",
        "comment",
        "--comment",
        plan.IPTABLES_COMMENT,
        "-j",
        "REJECT",
        "--reject-with",
        "icmp-net-unreachable",
    ]


def setup_host(host_state: Path) -> None:
    """Bridge with the gateway address, ip_forward on (old value saved), FORWARD accept if DROP,
    and nothing forwarded from the bridge to anywhere else (``confine_rule``)."""
    saved: dict[str, object] = {"ip_forward": IP_FORWARD.read_text().strip(), "iptables": []}
    if host_state.exists():  # a previous half-failed up: keep the value from before kubelab
        saved = json.loads(host_state.read_text())
    host_state.write_text(json.dumps(saved))
    if not _link_exists(plan.BRIDGE):
        run(["ip", "link", "add", plan.BRIDGE, "type", "bridge"])
        run(["ip", "addr", "add", f"{plan.GATEWAY}/24", "dev", plan.BRIDGE])
    run(["ip", "link", "set", plan.BRIDGE, "up"])
    IP_FORWARD.write_text("1")
    wanted = []
    if "-P FORWARD DROP" in run(["iptables", "-S", "FORWARD"]).splitlines()[:1]:
        wanted = _forward_rules()
    wanted.append(confine_rule())  # inserted last: first in the chain
    rules = list(saved.get("iptables", []))  # type: ignore[call-overload]
    for rule in wanted:
        if not _rule_exists(rule):
            run(["iptables", "-I", *rule])
        if rule not in rules:  # removed by the teardown of the last cluster on the bridge
            rules.append(rule)
    saved["iptables"] = rules
    host_state.write_text(json.dumps(saved))


def setup_node(node: LocalNode) -> None:
    """Node netns, veth to the bridge, address, default route, sysctls, host route to its pods."""
    run(["ip", "netns", "add", node.netns])
    run(
        [
            "ip",
            "link",
            "add",
            node.veth,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            node.netns,
        ]
    )
    run(["ip", "link", "set", node.veth, "master", plan.BRIDGE, "up"])
    ns = ["ip", "-n", node.netns]
    run([*ns, "link", "set", "lo", "up"])
    run([*ns, "addr", "add", f"{node.address}/24", "dev", "eth0"])
    run([*ns, "link", "set", "eth0", "up"])
    run([*ns, "route", "add", "default", "via", plan.GATEWAY])
    script = "; ".join(f"echo {v} > /proc/sys/{k}" for k, v in NODE_SYSCTLS.items())
    run(in_netns(node.netns, ["sh", "-c", script]))
    run(["ip", "route", "replace", node.pod_cidr, "via", node.address, "dev", plan.BRIDGE])


def node_netns_names(cluster: str) -> list[str]:
    """Names of the node netns of ``cluster`` that exist now."""
    root = Path("/run/netns")
    prefix = f"{cluster}-"
    names = [p.name for p in root.iterdir()] if root.is_dir() else []
    return sorted(
        n for n in names if n.startswith(prefix) and n[len(prefix) :].startswith(("cp", "w"))
    )


def netns_pids(netns: str) -> list[int]:
    """The processes that run in the network namespace ``netns`` (none once it is gone)."""
    try:
        listed = run(["ip", "netns", "pids", netns])
    except EnvironmentProblem:
        return []
    return [int(pid) for pid in listed.split()]


def other_clusters(cluster: str) -> list[str]:
    """Names of other local clusters whose node netns exist (they share the bridge and subnet)."""
    root = Path("/run/netns")
    names = [p.name for p in root.iterdir()] if root.is_dir() else []
    found = {m.group(1) for n in names if (m := _NODE_NETNS.match(n))}
    return sorted(found - {cluster})


def teardown(cluster: str, host_state: Path) -> None:
    """Delete node netns, veths, the bridge (and its routes), our FORWARD rules; restore ip_forward.

    The shared parts (bridge, rules, ip_forward) stay while another cluster's nodes exist.
    """
    for netns in node_netns_names(cluster):
        run(["ip", "netns", "delete", netns])
    if other_clusters(cluster):
        return
    for link in sorted(Path("/sys/class/net").iterdir()):
        if link.name.startswith(f"{plan.BRIDGE}n"):
            _delete_link(link.name)
    _delete_link(plan.BRIDGE)
    if not host_state.exists():
        return
    saved = json.loads(host_state.read_text())
    for rule in saved.get("iptables", []):
        if _rule_exists(rule):
            run(["iptables", "-D", *rule])
    IP_FORWARD.write_text(str(saved.get("ip_forward", "0")))
    host_state.unlink()


def _delete_link(name: str) -> None:
    """Delete a link; one that vanished meanwhile (its netns peer went first) is fine."""
    if not _link_exists(name):
        return
    try:
        run(["ip", "link", "delete", name])
    except EnvironmentProblem:
        if _link_exists(name):
            raise


def _rule_exists(rule: list[str]) -> bool:
    try:
        run(["iptables", "-C", *rule], timeout=SHORT)
    except EnvironmentProblem:
        return False
    return True
