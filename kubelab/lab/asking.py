"""Asking the web app over HTTP: a pod from its own node (the seed's ssh + curl), the NodePort
on every node's address, and answers spread over every node."""

from __future__ import annotations

import functools
import logging
from collections import Counter

from kubernetes import client

from kubelab import causes, evidence, http, probes
from kubelab.client import Kube
from kubelab.cluster.base import Provider
from kubelab.errors import NodeCommandFailed, NotSupported
from kubelab.http import Answer
from kubelab.lab.dns import describe_cluster_dns
from kubelab.lab.objects import WEB_SELECTOR
from kubelab.namespace import LabNamespace
from kubelab.states import internal_ip
from kubelab.waits import SHORT, wait_until

log = logging.getLogger(__name__)

WEB_PORT = 5000
# One GET of the app's page from a node: the app asks redis on every request, so a slow answer is
# a failure to report (with DNS's state), not one to wait out for SHORT.
ANSWER_WITHIN = 10.0
# What no watch can tell (kube-proxy's rules on a node) is polled this often: a GET costs little.
POLL = 0.1


def shown(answer: Answer) -> str:
    """An answer as a console shows it: the body, and the status when it is not 200."""
    return answer.text if answer.status == 200 else f"{answer.text}   (HTTP {answer.status})"


def ask_pod_from_its_node(
    ns: LabNamespace,
    provider: Provider,
    name: str,
    times: int = 1,
    record: bool = True,
    pod: client.V1Pod | None = None,
) -> list[Answer]:
    """GET the pod's page ``times`` times from its own node (seed: ssh to the node, curl the pod IP).

    ``pod``: the pod, already seen ready (else it is waited for). Falls back to the API
    server's pod proxy where the provider cannot run commands on nodes.
    """
    pod = pod or ns.wait_for_pod_ready(name)
    node, ip = pod.spec.node_name, pod.status.pod_ip
    answers: list[Answer] = []
    console = []
    for _ in range(times):
        try:
            raw = provider.get_from_node(node, f"http://{ip}:{WEB_PORT}/", timeout=ANSWER_WITHIN)
        except NotSupported as exc:
            log.warning("%s; falling back to the API server's pod proxy", exc)
            answer = probes.proxy_get(ns, name, WEB_PORT)
            console.append(f"(the API server's pod proxy) GET pod/{name}:{WEB_PORT}")
        except NodeCommandFailed as exc:  # the app resolves redis on every request
            cause = causes.dns_not_serving(ns, pod.metadata.name)
            raise NodeCommandFailed(
                f"{cause}; {exc}" if cause else f"{exc}; {describe_cluster_dns(ns.kube)}"
            ) from exc
        else:
            answer = http.parse_raw(raw, via=f"curl on node {node}")
            console.append(f"{node} $ curl {ip}:{WEB_PORT}")
        answers.append(answer)
        console.append(shown(answer))
    if record:
        evidence.record(f"the {name} pod's answers, asked on its node", "\n".join(console))
    return answers


def node_addresses(kube: Kube) -> dict[str, str]:
    """Every node's name and its address as reachable from the test runner."""
    return {n.metadata.name: internal_ip(n) for n in kube.nodes()}


def node_port_urls(ns: LabNamespace, service: str = "web") -> list[str]:
    """The Service's URL on every node's address."""
    port = ns.node_port(service)
    return [f"http://{address}:{port}/" for _, address in sorted(node_addresses(ns.kube).items())]


def ask_every_node(ns: LabNamespace, service: str = "web") -> list[Answer]:
    """GET the page once on every node's address at the Service's NodePort (each node up to
    30 s: kube-proxy on each node programs a new port on its own schedule)."""
    port = ns.node_port(service)
    ns.wait_for_endpoints(service, count=len(ns.pods(WEB_SELECTOR)))
    answers: list[Answer] = []
    console = []
    for node, address in sorted(node_addresses(ns.kube).items()):
        url = f"http://{address}:{port}/"
        console.append(f"$ curl {address}:{port}        # node {node}")
        answers.append(
            wait_until(
                functools.partial(http.get, url, via=f"node {node} ({url})"),
                lambda answer: answer.status < 500 or answer.count is not None,
                timeout=SHORT,
                what=f"an answer on node {node} at {url}",
                interval=POLL,
            )
        )
        console.append(shown(answers[-1]))
    evidence.record(f"the {service} Service's answer on every node's address", "\n".join(console))
    return answers


def ask_through_node_port(ns: LabNamespace, count: int = 60) -> list[Answer]:
    """``count`` answers through the web NodePort, spread over every node's address."""
    urls = node_port_urls(ns)
    answers = [http.get(urls[i % len(urls)], via=urls[i % len(urls)]) for i in range(count)]
    targets = ", ".join(u.removeprefix("http://").rstrip("/") for u in urls)
    per_pod = Counter(a.hostname for a in answers)
    evidence.record(
        f"{count} answers through the web Service, taking turns over {targets}",
        "answers per pod: "
        + ", ".join(f"{host}: {n}" for host, n in sorted(per_pod.items(), key=str))
        + "\n\n"
        + "\n".join(shown(a) for a in answers),
    )
    return answers
