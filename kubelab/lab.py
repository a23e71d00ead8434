"""The lab's operations, named as the lab names them, on one scenario's namespace."""

from __future__ import annotations

import functools
import logging
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from kubernetes import client
from kubernetes.client.rest import ApiException

from kubelab import causes, evidence, http, manifests, probes, rollout, timeline, traffic
from kubelab.cluster.base import Images, Provider
from kubelab.errors import NodeCommandFailed, NotSupported, WaitTimeout
from kubelab.http import Answer
from kubelab.namespace import LabNamespace
from kubelab.states import endpoint_ready, internal_ip, is_control_plane, pod_ready
from kubelab.waits import wait_until

log = logging.getLogger(__name__)


def _shown(answer: Answer) -> str:
    """An answer as a console shows it: the body, and the status when it is not 200."""
    return answer.text if answer.status == 200 else f"{answer.text}   (HTTP {answer.status})"


# The seed's file for each object the lab creates.
POD_MANIFESTS = {"redis": "db-pod", "web": "web-pod"}
SERVICE_MANIFESTS = {"redis": "db-svc", "web": "web-svc"}
WEB_PORT = 5000
WEB_SELECTOR = "app=web"
# What no watch can tell (kube-proxy's rules on a node) is polled this often: a GET costs little.
POLL = 0.1
# Asking a pod again and again ends once its page has held this long (s): then it is for good.
SETTLE = 5.0
# What the app (redis-py, glibc) says when a name does not resolve.
NAME_ERRORS = ("Name or service not known", "name resolution", "Name does not resolve")


@dataclass(frozen=True)
class Rollout:
    """What a rolling update under traffic looked like."""

    controller: str
    record: traffic.Record
    counts: list[rollout.PodCount]
    lives: list[rollout.PodLife]
    most_running: int
    busiest: str  # the pods, by controller, when the most ran
    fewest_available: int
    picture: Path
    after: list[Answer]  # answers through the NodePort once the update is done
    last_old_exit: float  # seconds since traffic started when the last old web pod was gone

    def summary(self) -> str:
        """The traffic's summary line, and when the last old pod went and the traffic stopped."""
        return (
            f"{self.record.summary()}; last old web pod exited at {self.last_old_exit:.1f} s, "
            f"traffic stopped at {self.record.duration:.1f} s"
        )


@dataclass(frozen=True)
class Placement:
    """Where a pod runs, and whether its node's runtime really runs its container."""

    pod: str
    node: str
    worker: bool
    container_id: str
    runtime_containers: tuple[str, ...] | None  # None: the provider cannot look

    @property
    def runs_in_runtime(self) -> bool:
        """The node's runtime lists the container (or, where it cannot be asked, the API does)."""
        if self.runtime_containers is None:
            return bool(self.container_id)
        return self.container_id in self.runtime_containers


def _for_good(seen: list[tuple[float, bool]]) -> tuple[float | None, float | None]:
    """When the first good one came, and when the last run of good ones began (None: none)."""
    first = next((t for t, good in seen if good), None)
    start = None
    for t, good in seen:
        start = (start if start is not None else t) if good else None
    return first, start


def _runs(seen: list[tuple[float, str]]) -> str:
    """Texts in order, repeats collapsed: ``0.1 s 'Error ...' x4, 0.9 s '...'``."""
    out: list[tuple[float, str, int]] = []
    for t, text in seen:
        if out and out[-1][1] == text:
            out[-1] = (out[-1][0], text, out[-1][2] + 1)
        else:
            out.append((t, text, 1))
    shown = [f"{t:.1f} s {text!r}" + (f" x{n}" if n > 1 else "") for t, text, n in out]
    if len(shown) > 12:
        shown = [*shown[:6], f"... {len(shown) - 12} more ...", *shown[-6:]]
    return ", ".join(shown)


@dataclass(frozen=True)
class PageSince:
    """Every answer a pod gave from a change on, each with its time (s) after the change; and,
    where the pod also looked up a name each time, what the name resolved to (the app keeps its
    redis connection once it has one, so its page alone shows only the first lookup that works)."""

    answers: tuple[tuple[float, Answer], ...]
    dns: str = ""  # the cluster DNS's endpoints, when a name did not resolve
    cause: str = ""  # why the pod did not reach the Service (kubelab.causes), when it did not
    lookups: tuple[tuple[float, tuple[str, ...]], ...] = ()
    service_address: str = ""  # what every lookup should give: the Service's ClusterIP

    @property
    def first_page(self) -> Answer | None:
        """The first answer with the page (status 200), if any."""
        return next((a for _, a in self.answers if a.status == 200), None)

    def _pages(self) -> list[tuple[float, bool]]:
        return [(t, a.status == 200) for t, a in self.answers]

    def _resolved(self) -> list[tuple[float, bool]]:
        return [(t, list(a) == [self.service_address]) for t, a in self.lookups]

    @property
    def settled_after(self) -> float | None:
        """When the pod began answering with its page for good (the last run of 200s)."""
        return _for_good(self._pages())[1]

    def counts(self) -> list[int | None]:
        """The visit counter of every answer from the first page on (None: no count)."""
        first = next((i for i, (_, a) in enumerate(self.answers) if a.status == 200), None)
        return [] if first is None else [a.count for _, a in self.answers[first:]]

    def settled(self, bound: float) -> bool:
        """Seen enough to judge: the page for good, watched up to ``bound``, or for ``bound``
        seconds on end once later than that; and the name, where looked up, resolving for
        ``bound`` seconds on end (a replica that caches the NXDOMAIN answers only now and then)."""
        page_start, last = _for_good(self._pages())[1], self.answers[-1][0] if self.answers else 0
        if page_start is None or last < bound or (page_start > bound and last - page_start < bound):
            return False
        if not self.lookups:
            return True
        name_start = _for_good(self._resolved())[1]
        return name_start is not None and self.lookups[-1][0] - name_start >= bound

    def matches(self, text: str, within: float) -> bool:
        """The first page is ``text``, within ``within`` seconds, and every answer after it is too
        a page."""
        first = self.first_page
        first_at, start = _for_good(self._pages())
        return (
            first is not None
            and first.text == text
            and start is not None
            and start == first_at
            and start <= within
        )

    def resolves_within(self, within: float) -> bool:
        """The name gave the Service's address within ``within`` seconds, and every time after."""
        first_at, start = _for_good(self._resolved())
        return start is not None and start == first_at and start <= within

    def lookup_runs(self) -> str:
        """What the name resolved to, in order, repeats collapsed."""
        return _runs([(t, " ".join(a)) for t, a in self.lookups])

    def explain_lookups(self, host: str, within: float) -> str:
        """Why ``host`` did not resolve to its Service for good within ``within`` s, naming when."""
        first_at, start = _for_good(self._resolved())
        asked = (
            f"{len(self.lookups)} lookups in {self.lookups[-1][0]:.1f} s"
            if self.lookups
            else "no lookup"
        )
        if first_at is None:
            head = f"{host} never resolved to its Service's address ({asked})"
        elif start is None:
            head = f"{host} resolved to its Service's address at {first_at:.1f} s, then not again"
        elif start != first_at:
            head = (
                f"{host} resolved to its Service's address at {first_at:.1f} s, then failed again, "
                f"for good only from {start:.1f} s"
            )
        else:
            head = f"{host} resolved to its Service's address only from {start:.1f} s"
        question = (
            ""
            if self.cause
            else "does the cluster's DNS cache the earlier NXDOMAIN? (kubeadm's Corefile "
            "disables success and denial caching for cluster.local). "
        )
        message = (
            f"{head} after the Service was created; a kubeadm or kind cluster does within "
            f"{within:g} s, every time: {question}"
            f"Service {host}: {self.service_address or '(none)'}; lookups: {self.lookup_runs()}"
        )
        return self._with_cause(message)

    def _with_cause(self, message: str) -> str:
        """``message`` after the cause, when one was found, and with the DNS's endpoints."""
        message = f"{self.cause}. {message}" if self.cause else message
        return f"{message}; {self.dns}" if self.dns else message

    def runs(self) -> str:
        """The answers in order, repeats collapsed: ``0.1 s 'Error ...' x4, 0.9 s '...'``."""
        return _runs([(t, a.text) for t, a in self.answers])

    def explain(self, text: str, within: float) -> str:
        """Why this is not ``text`` for good within ``within`` seconds, naming the delay."""
        first, start = self.first_page, self.settled_after
        first_at = next((t for t, a in self.answers if a.status == 200), within)
        relapses = [t for t, a in self.answers if t > first_at and a.status != 200]
        asked = f"in the {self.answers[-1][0]:.1f} s it was asked" if self.answers else "at all"
        good = "never for good " + asked if start is None else f"for good only from {start:.1f} s"
        if first is None:
            head = (
                f"the pod never answered its page {asked} after the Service was created; a "
                f"kubeadm or kind cluster does within {within:g} s"
            )
        elif first.text != text:
            head = f"the first page after the Service was created was {first.text!r}, not {text!r}"
        elif relapses:
            head = (
                f"the pod answered its page {first_at:.1f} s after the Service was created, then "
                f"errors again until {relapses[-1]:.1f} s, its page {good}; a kubeadm or kind "
                f"cluster answers for good within {within:g} s"
            )
        else:
            head = (
                f"the pod answered its page for good only {start:.1f} s after the Service was "
                f"created; a kubeadm or kind cluster does within {within:g} s"
            )
        message = f"{head}. Answers since the Service was created: {self.runs()}"
        cut = min(first_at, within)
        late = any("Name or service not known" in a.text for t, a in self.answers if t > cut)
        if late and not self.cause:
            message += (
                ". The name failed to resolve after it had, or for longer than a Service takes to "
                "appear: does the cluster's DNS cache the earlier NXDOMAIN? (kubeadm's Corefile "
                "disables success and denial caching for cluster.local)"
            )
        return self._with_cause(message)


@dataclass(frozen=True)
class Lookup:
    """What a name resolves to inside a pod, and the ClusterIP of the Service it names."""

    host: str
    pod: str
    addresses: list[str]  # or ["error:", ...] when it does not resolve
    service_address: str


class Lab:
    """The lab on one cluster (provider), in one namespace, with one set of images."""

    def __init__(
        self,
        provider: Provider,
        namespace: LabNamespace,
        images: Images,
        reports: Path = Path("reports"),
    ) -> None:
        self.provider = provider
        self.ns = namespace
        self.images = images
        self.reports = reports

    # -- creating -------------------------------------------------------------------------
    def create_pod(self, name: str) -> None:
        """Create the lab's ``redis`` or ``web`` pod."""
        self.ns.apply(manifests.render(POD_MANIFESTS[name], self.images))

    def start_pod(self, name: str) -> None:
        """Create the ``redis`` or ``web`` pod unless it exists (returns at once)."""
        if self.ns.get("Pod", name) is None:
            self.create_pod(name)

    def run_pod(self, name: str, timeout: float | None = None) -> client.V1Pod:
        """Create the ``redis`` or ``web`` pod unless it exists, and wait until it is ready."""
        self.start_pod(name)
        return self.ns.wait_for_pod_ready(name, timeout=timeout)

    def start_service(self, name: str) -> float:
        """Create the lab's ``redis`` or ``web`` Service unless it exists (returns at once, with
        the moment, in time.monotonic(), it was there)."""
        if self.ns.get("Service", name) is None:
            self.ns.apply(manifests.render(SERVICE_MANIFESTS[name], self.images))
        return time.monotonic()

    def create_service(self, name: str) -> None:
        """Create the lab's ``redis`` or ``web`` Service unless it exists, and wait until it is
        in effect: ready endpoints, and (for redis) the web pods able to connect to it by name."""
        self.start_service(name)
        selector = manifests.read(SERVICE_MANIFESTS[name])["spec"]["selector"]
        # The pods behind it may still be starting (Given steps start together): as long as a
        # pod may take to become ready, the namespace's timeout, not the endpoints' 30 s.
        pods = self.ns.pods(causes.labels(selector))
        self.ns.wait_for_endpoints(name, count=len(pods), timeout=self.ns.timeout)
        if name == "redis":
            # kube-proxy on each node programs the Service a moment after its endpoints exist;
            # a TCP connect from inside each web pod proves it without counting a visit. All
            # pods at once: each attempt is an exec, a round trip through the API server.
            ready = [pod.metadata.name for pod in self.web_pods() if pod_ready(pod)]
            with ThreadPoolExecutor(max_workers=max(1, len(ready))) as pool:
                connects = [
                    pool.submit(probes.wait_until_connects, self.ns, pod, "redis", 6379)
                    for pod in ready
                ]
                try:
                    for connected in connects:
                        connected.result()
                except WaitTimeout as exc:
                    cause = causes.why_not_reached(self.ns, "redis", ready[0])
                    raise WaitTimeout(
                        f"{cause}; {exc}" if cause else f"{exc}; {self.cluster_dns()}"
                    ) from exc
        self.record_services()

    def record_services(self) -> None:
        """Record the namespace's Services as ``kubectl get svc`` lists them."""
        rows = []
        for svc in sorted(self.ns.objects("Service"), key=lambda s: s.metadata.name):
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
        self, title: str = "the pods, with their node and IP", owners: bool = False
    ) -> None:
        """Record the namespace's pods as ``kubectl get pods -o wide`` lists them."""
        evidence.record(title, evidence.pods_table(self.ns.pods(), owners=owners))

    def create_replication_controller(self, replicas: int) -> client.V1ReplicationController:
        """Create the ``web`` ReplicationController with ``replicas`` replicas."""
        manifest = manifests.render("web-rc", self.images)
        manifest["spec"]["replicas"] = replicas
        self.ns.apply(manifest)
        return self.ns.get("ReplicationController", "web")

    def start_replication_controller(self, replicas: int) -> None:
        """Create the ``web`` ReplicationController unless it exists (returns at once)."""
        if self.ns.get("ReplicationController", "web") is None:
            self.create_replication_controller(replicas)

    def run_replication_controller(self, replicas: int) -> list[client.V1Pod]:
        """The ``web`` ReplicationController, created unless it exists, with ``replicas`` ready pods."""
        self.start_replication_controller(replicas)
        return self.wait_for_web_pods(replicas)

    # -- observing ------------------------------------------------------------------------
    def placement(self, name: str) -> Placement:
        """Where pod ``name`` runs and what its node's container runtime says."""
        pod = self.ns.wait_for_pod_ready(name)
        node = self.ns.kube.get("Node", pod.spec.node_name)
        status = next(s for s in pod.status.container_statuses or [] if s.name == name)
        container_id = (status.container_id or "").split("://")[-1]
        try:
            runtime: tuple[str, ...] | None = tuple(
                self.provider.node_containers(node.metadata.name)
            )
        except NotSupported as exc:
            log.warning("%s; the container is checked through the API only", exc)
            runtime = None
        self.record_pods()
        if runtime is None:
            evidence.record(
                f"the containers node {node.metadata.name} runs",
                f"(the {self.provider.name} provider cannot ask a node's runtime; the API reports "
                f"container {container_id[:13]})",
            )
        else:
            evidence.record(
                f"the containers node {node.metadata.name}'s runtime runs ({len(runtime)})",
                "\n".join(
                    f"{c[:13]}{'   <- ' + name if c == container_id else ''}" for c in runtime
                ),
            )
        return Placement(
            pod=name,
            node=node.metadata.name,
            worker=not is_control_plane(node),
            container_id=container_id,
            runtime_containers=runtime,
        )

    def ask_pod_from_its_node(
        self, name: str, times: int = 1, record: bool = True, pod: client.V1Pod | None = None
    ) -> list[Answer]:
        """GET the pod's page ``times`` times from its own node (seed: ssh to the node, curl the pod IP).

        ``pod``: the pod, already seen ready (else it is waited for). Falls back to the API
        server's pod proxy where the provider cannot run commands on nodes.
        """
        pod = pod or self.ns.wait_for_pod_ready(name)
        node, ip = pod.spec.node_name, pod.status.pod_ip
        answers: list[Answer] = []
        console = []
        for _ in range(times):
            try:
                raw = self.provider.get_from_node(node, f"http://{ip}:{WEB_PORT}/", timeout=10)
            except NotSupported as exc:
                log.warning("%s; falling back to the API server's pod proxy", exc)
                answer = probes.proxy_get(self.ns, name, WEB_PORT)
                console.append(f"(the API server's pod proxy) GET pod/{name}:{WEB_PORT}")
            except NodeCommandFailed as exc:  # the app resolves redis on every request
                cause = causes.dns_not_serving(self.ns, pod.metadata.name)
                raise NodeCommandFailed(
                    f"{cause}; {exc}" if cause else f"{exc}; {self.cluster_dns()}"
                ) from exc
            else:
                answer = http.parse_raw(raw, via=f"curl on node {node}")
                console.append(f"{node} $ curl {ip}:{WEB_PORT}")
            answers.append(answer)
            console.append(_shown(answer))
        if record:
            evidence.record(f"the {name} pod's answers, asked on its node", "\n".join(console))
        return answers

    def page_since(
        self, since: float, name: str = "web", host: str = "redis", settle: float = SETTLE
    ) -> PageSince:
        """Ask pod ``name`` from its node again and again, from ``since`` (time.monotonic()) on,
        as the seed does after creating the redis Service, and each time look ``host`` up in the
        pod (the app resolves it only until it has a connection); every answer and lookup with
        its time, also recorded as evidence. Asks until the page and the name have held for
        ``settle`` seconds on end (and at least until ``settle`` seconds after ``since``) or the
        namespace's timeout passed: what a Then judges, even a cluster that never answers.
        """
        service = self.ns.kube.get("Service", host, self.ns.name)
        address = service.spec.cluster_ip if service else ""
        answers: list[tuple[float, Answer]] = []
        lookups: list[tuple[float, tuple[str, ...]]] = []
        ready = self.ns.wait_for_pod_ready(name)  # looked up once: each ask is two requests
        pod = ready.metadata.name

        def ask() -> PageSince:
            answer = self.ask_pod_from_its_node(name, record=False, pod=ready)[0]
            answers.append((time.monotonic() - since, answer))
            resolved = tuple(probes.resolve(self.ns, pod, host))
            lookups.append((time.monotonic() - since, resolved))
            return PageSince(tuple(answers), lookups=tuple(lookups), service_address=address)

        try:
            return wait_until(
                ask,
                lambda seen: seen.settled(settle),
                timeout=self.ns.timeout,
                what=f"pod {name} in {self.ns.name} to answer with its page for good",
                describe=PageSince.runs,
            )
        except WaitTimeout:
            if not answers:  # not one answer: nothing for a Then to judge
                raise
            seen = PageSince(
                tuple(answers),
                lookups=tuple(lookups),
                service_address=address,
                cause=causes.why_not_reached(self.ns, host, pod),
            )
            unresolved = any(e in a.text for _, a in answers for e in NAME_ERRORS)
            return replace(seen, dns=self.cluster_dns()) if unresolved else seen
        finally:
            evidence.record(
                f"the {name} pod's answers, asked on its node again and again (s after the change)",
                "\n".join(f"{t:+6.2f}  {_shown(a)}" for t, a in answers),
            )
            evidence.record(
                f"what {host} resolved to in pod {pod} each time (s after the change; Service "
                f"{host}'s ClusterIP: {address or '(none)'})",
                "\n".join(f"{t:+6.2f}  {' '.join(a)}" for t, a in lookups),
            )

    def look_up(self, host: str, pod: str = "web") -> Lookup:
        """The addresses ``host`` resolves to inside pod ``pod`` (its resolver, its search path),
        and the ClusterIP of the Service the name denotes (``<service>.<namespace>``)."""
        service, _, namespace = host.partition(".")
        expected = self.ns.kube.get("Service", service, namespace or self.ns.name)
        name = self.ns.wait_for_pod_ready(pod).metadata.name
        addresses = probes.resolve(self.ns, name, host)
        address = expected.spec.cluster_ip if expected else "(none)"
        evidence.record(
            f"what {host} resolves to in pod {name}",
            f"{host}: {' '.join(addresses)}\n(Service {service}'s ClusterIP: {address})",
        )
        return Lookup(host, pod, addresses, address)

    def cluster_dns(self) -> str:
        """The cluster DNS Service's endpoints in one line, for messages about names."""
        try:
            slices = self.ns.kube.objects(
                "EndpointSlice", "kube-system", "kubernetes.io/service-name=kube-dns"
            )
        except ApiException as exc:
            return f"the kube-dns Service's endpoints cannot be read ({exc.status} {exc.reason})"
        endpoints = [
            f"{address} ({'ready' if endpoint_ready(e) else 'not ready'})"
            for s in slices
            for e in s.endpoints or []
            for address in e.addresses
        ]
        return f"the kube-dns Service's endpoints: {', '.join(endpoints) or 'none'}"

    def explain(self, answers: list[Answer]) -> str:
        """Every answer in full, one a line; with the cluster DNS's endpoints when an answer
        says a name did not resolve."""
        lines = [f"{a.status} from {a.via}: {a.text}" for a in answers] or ["no answer"]
        if any("connecting to redis" in a.text for a in answers):
            ready = [p.metadata.name for p in self.web_pods() if pod_ready(p)]
            cause = causes.why_not_reached(self.ns, "redis", ready[0]) if ready else ""
            if cause:
                lines.insert(0, cause)
        if any(error in a.text for a in answers for error in NAME_ERRORS):
            lines.append(self.cluster_dns())
        return "\n".join(lines)

    def explain_versions(self, answers: list[Answer]) -> str:
        """``explain`` for answers that are not from 2.0, the cause first when every web pod
        runs the 2.0 image and answers still come from 1.0: the 2.0 image holds the 1.0 app."""
        text = self.explain(answers)
        old = sum(1 for a in answers if a.version == "1.0")
        images = {p.spec.containers[0].image for p in self.web_pods()}
        if old and images == {self.images.web_v2}:
            return (
                f"every web pod runs the 2.0 image {self.images.web_v2} and {old} of "
                f"{len(answers)} answers still come from 1.0: that image holds the 1.0 app (the "
                f"image is wrong, not the rollout)\n{text}"
            )
        return text

    def node_addresses(self) -> dict[str, str]:
        """Every node's name and its address as reachable from the test runner."""
        return {n.metadata.name: internal_ip(n) for n in self.ns.kube.nodes()}

    def ask_every_node(self, service: str = "web") -> list[Answer]:
        """GET the page once on every node's address at the Service's NodePort."""
        port = self.ns.node_port(service)
        self.ns.wait_for_endpoints(service, count=len(self.ns.pods(WEB_SELECTOR)))
        answers: list[Answer] = []
        console = []
        for node, address in sorted(self.node_addresses().items()):
            url = f"http://{address}:{port}/"
            console.append(f"$ curl {address}:{port}        # node {node}")
            # kube-proxy on each node programs the new port on its own schedule.
            answers.append(
                wait_until(
                    functools.partial(http.get, url, via=f"node {node} ({url})"),
                    lambda answer: answer.status < 500 or answer.count is not None,
                    timeout=30,
                    what=f"an answer on node {node} at {url}",
                    interval=POLL,
                )
            )
            console.append(_shown(answers[-1]))
        evidence.record(
            f"the {service} Service's answer on every node's address", "\n".join(console)
        )
        return answers

    def wait_for_web_pods(self, count: int, timeout: float | None = None) -> list[client.V1Pod]:
        """Wait until exactly ``count`` web pods run and are ready (default: the namespace's)."""
        pods = self.ns.wait_for_ready_pods(WEB_SELECTOR, count, timeout=timeout)
        evidence.record(
            "the web pods, with their node, IP and controller",
            evidence.pods_table(pods, owners=True),
        )
        return pods

    def owners(self, pod: str) -> list[tuple[str, str]]:
        """(kind, name) of the controllers owning pod ``pod``."""
        refs = self.ns.pod(pod).metadata.owner_references or []
        owners = [(ref.kind, ref.name) for ref in refs if ref.controller]
        evidence.record(
            f"the {pod} pod's controller",
            f"pod/{pod} is controlled by "
            + (", ".join(f"{kind}/{name}" for kind, name in owners) or "nothing"),
        )
        return owners

    def pods_created_by(self, controller: str) -> list[str]:
        """Web pods created by ``controller`` itself: owned by it and named after it with a suffix."""
        owned = [
            p.metadata.name
            for p in self.ns.pods(WEB_SELECTOR)
            if any(ref.name == controller for ref in p.metadata.owner_references or [])
        ]
        created = sorted(
            p.metadata.name
            for p in self.ns.pods(WEB_SELECTOR)
            if p.metadata.generate_name == f"{controller}-" and p.metadata.name in owned
        )
        adopted = sorted(set(owned) - set(created))
        evidence.record(
            f"the pods the ReplicationController {controller} adopted and created",
            f"adopted ({len(adopted)}): {', '.join(adopted) or '-'}\n"
            f"created ({len(created)}): {', '.join(created) or '-'}",
        )
        return created

    # -- rolling update -------------------------------------------------------------------
    def start_web_under(self, controller: str, replicas: int = 3) -> None:
        """Create ``replicas`` web 1.0 pods' controller unless it exists (returns at once): a
        ReplicationController adopting the web pod, as in the seed, or a Deployment."""
        if controller == "ReplicationController":
            self.start_pod("web")
            self.start_replication_controller(replicas)
        elif controller == "Deployment":
            if self.ns.get("Deployment", "web") is None:
                manifest = manifests.render("web-deployment", self.images)
                manifest["spec"]["replicas"] = replicas
                self.ns.apply(manifest)
        else:
            raise ValueError(f"no rolling update for a {controller}")

    def run_web_under(self, controller: str, replicas: int = 3) -> list[client.V1Pod]:
        """Run ``replicas`` web 1.0 pods under a ReplicationController (adopting the web pod, as
        in the seed) or a Deployment, and wait until all are ready."""
        self.start_web_under(controller, replicas)
        return self.wait_for_web_pods(replicas)

    def node_port_urls(self, service: str = "web") -> list[str]:
        """The Service's URL on every node's address."""
        port = self.ns.node_port(service)
        return [f"http://{address}:{port}/" for _, address in sorted(self.node_addresses().items())]

    def roll_web_to_v2_under_traffic(
        self,
        controller: str,
        rate: float = traffic.RATE,
        record: Callable[[str, object], None] | None = None,
    ) -> Rollout:
        """Roll web to 2.0 under a ``controller`` while traffic flows on every node and a watch
        follows the web pods; the timeline is saved in the reports directory, and ``record``
        (pytest's ``record_property``) is given its path and the traffic's summary."""
        replicas = len(self.web_pods())
        self.ns.wait_for_endpoints("web", count=replicas)
        self.ask_every_node()  # every node's kube-proxy serves the NodePort before traffic starts
        watch = rollout.PodWatch(self.ns, WEB_SELECTOR)
        watch.start()
        printed: list[str] = []

        def progress(line: str) -> None:
            log.info("%s", line)
            printed.append(f"{evidence.clock(time.time())}  {line}")

        try:
            with traffic.traffic(self.node_port_urls(), rate=rate) as probe:
                if controller == "ReplicationController":
                    rollout.rolling_update_rc(self.ns, "web", self.images.web_v2, progress=progress)
                else:
                    rollout.rolling_update_deployment(
                        self.ns, "web", self.images.web_v2, progress=progress
                    )
                # Traffic flows until the last old pod has exited: its SIGTERM, preStop and
                # exit happen with requests still coming.
                last_old_exit = watch.wait_until_old_pods_exit(self.ns.timeout)
        finally:
            shown = (
                "kubectl rolling-update"
                if controller == "ReplicationController"
                else "kubectl rollout status"
            )
            evidence.record(
                f"the rolling update's progress, as {shown} printed it", "\n".join(printed)
            )
            counts = watch.stop()
        lives = sorted(watch.lives.values(), key=lambda life: (life.started or 0.0, life.name))
        evidence.record(
            "each web pod's life (seconds since the traffic started)",
            self._lives_table(lives, probe.record.started),
        )
        picture = self.reports / f"rollout-{controller}-{self.ns.name}.png"
        timeline.draw_later(
            functools.partial(
                timeline.draw,
                probe.record,
                counts,
                f"web 1.0 -> 2.0 under a {controller}",
                picture,
                lives=[(life, self.version_of(life.image)) for life in lives],
            )
        )
        result = Rollout(
            controller,
            probe.record,
            counts,
            lives,
            watch.most_running,
            watch.busiest,
            watch.fewest_available,
            picture,
            self.sample_answers(),
            last_old_exit - probe.record.started,
        )
        evidence.picture(
            "the rollout's timeline: answers per second, web pods, and each pod's life",
            picture,
            caption=f"{picture.name}: {result.summary()}",
        )
        log.info("rollout: %s; timeline: %s", result.summary(), picture)
        if record is not None:
            record("timeline", str(picture))
            record("traffic", f"{controller}: {result.summary()}")
        return result

    def version_of(self, image: str) -> str:
        """The web app's version an image holds (by the lab's image names), else the image."""
        return {self.images.web_v1: "1.0", self.images.web_v2: "2.0"}.get(image, image)

    def _lives_table(self, lives: list[rollout.PodLife], since: float) -> str:
        def at(moment: float | None, before: str) -> str:
            return before if moment is None else f"{moment - since:+.2f}"

        return evidence.table(
            ["POD", "VERSION", "STARTED", "READY", "SHUTTING DOWN", "EXITED"],
            [
                [
                    life.name,
                    self.version_of(life.image),
                    at(life.started, "before"),
                    at(life.ready, "before"),
                    at(life.stopping, "-"),
                    at(life.exited, "-"),
                ]
                for life in lives
            ],
        )

    def sample_answers(self, count: int = 60) -> list[Answer]:
        """``count`` answers through the web NodePort, spread over every node's address."""
        urls = self.node_port_urls()
        answers = [http.get(urls[i % len(urls)], via=urls[i % len(urls)]) for i in range(count)]
        targets = ", ".join(u.removeprefix("http://").rstrip("/") for u in urls)
        per_pod = Counter(a.hostname for a in answers)
        evidence.record(
            f"{count} answers through the web Service, taking turns over {targets}",
            "answers per pod: "
            + ", ".join(f"{host}: {n}" for host, n in sorted(per_pod.items(), key=str))
            + "\n\n"
            + "\n".join(_shown(a) for a in answers),
        )
        return answers

    def web_pod_images(self, count: int) -> dict[str, str]:
        """Once exactly ``count`` web pods are ready: each one's name and container image."""
        images = {
            p.metadata.name: p.spec.containers[0].image for p in self.wait_for_web_pods(count)
        }
        evidence.record(
            "the web pods' images",
            evidence.table(["POD", "IMAGE"], sorted(images.items())),
        )
        return images

    def web_pods(self) -> list[client.V1Pod]:
        """The pods the web selector matches, shutting down or not."""
        return self.ns.pods(WEB_SELECTOR)

    # -- clearing -------------------------------------------------------------------------
    def clear(self) -> None:
        """Delete as the seed does: the services, the RC, then the pods (gone already is fine)."""
        done: list[str] = []
        for kind, name in (
            ("Service", "web"),
            ("Service", "redis"),
            ("ReplicationController", "web"),
            ("Pod", "redis"),
            ("Pod", "web"),
        ):
            # the RC's deletion may have taken the web pod already
            gone = "deleted" if self.ns.delete(kind, name) else "was gone already"
            done.append(f'{kind.lower()} "{name}" {gone}')
        evidence.record("what was deleted, in the seed's order", "\n".join(done))

    def wait_until_empty(self, timeout: float | None = None) -> list[str]:
        """Wait until nothing of the lab is left in the namespace (default: the namespace's)."""
        left = wait_until(
            self.ns.leftovers,
            lambda left: not left,
            timeout=timeout or self.ns.timeout,
            what=f"nothing of the lab left in {self.ns.name}",
        )
        evidence.record(
            f"what is left in namespace {self.ns.name}",
            "\n".join(left) or "No resources found.",
        )
        return left
