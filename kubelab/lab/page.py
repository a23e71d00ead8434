"""The page watch: asking the web pod again and again from a change on (a Service created),
each time also looking a name up in it, until its page holds; and what those answers show."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from kubelab import causes, evidence, probes
from kubelab.cluster.base import Provider
from kubelab.errors import WaitTimeout
from kubelab.http import Answer
from kubelab.lab.asking import ask_pod_from_its_node, shown
from kubelab.lab.dns import NAME_ERRORS, describe_cluster_dns
from kubelab.namespace import LabNamespace
from kubelab.waits import wait_until

# Asking a pod again and again ends once its page has held this long (s): then it is for good.
SETTLE = 5.0


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


def ask_until_page_settles(
    ns: LabNamespace,
    provider: Provider,
    since: float,
    name: str = "web",
    host: str = "redis",
    settle: float = SETTLE,
) -> PageSince:
    """Ask pod ``name`` from its node again and again, from ``since`` (time.monotonic()) on,
    as the seed does after creating the redis Service, and each time look ``host`` up in the
    pod (the app resolves it only until it has a connection); every answer and lookup with
    its time, also recorded as evidence. Asks until the page and the name have held for
    ``settle`` seconds on end (and at least until ``settle`` seconds after ``since``) or the
    namespace's timeout passed: what a Then judges, even a cluster that never answers.
    """
    service = ns.kube.get("Service", host, ns.name)
    address = service.spec.cluster_ip if service else ""
    answers: list[tuple[float, Answer]] = []
    lookups: list[tuple[float, tuple[str, ...]]] = []
    ready = ns.wait_for_pod_ready(name)  # looked up once: each ask is two requests
    pod = ready.metadata.name

    def ask() -> PageSince:
        answer = ask_pod_from_its_node(ns, provider, name, record=False, pod=ready)[0]
        answers.append((time.monotonic() - since, answer))
        resolved = tuple(probes.resolve(ns, pod, host))
        lookups.append((time.monotonic() - since, resolved))
        return PageSince(tuple(answers), lookups=tuple(lookups), service_address=address)

    checked = [since]

    def doomed(seen: PageSince) -> str | None:
        # A Service whose selector matches no pod never answers: say so once the asking window
        # has passed (asked every 2 s) rather than ask for the namespace's whole timeout.
        now = time.monotonic()
        if now - since < settle or now - checked[0] < 2.0 or seen.settled(settle):
            return None
        checked[0] = now
        return causes.selector_matches_no_pod(ns, host) or None

    try:
        return wait_until(
            ask,
            lambda seen: seen.settled(settle),
            timeout=ns.timeout,
            what=f"pod {name} in {ns.name} to answer with its page for good",
            describe=PageSince.runs,
            fatal=doomed,
        )
    except WaitTimeout:
        if not answers:  # not one answer: nothing for a Then to judge
            raise
        seen = PageSince(
            tuple(answers),
            lookups=tuple(lookups),
            service_address=address,
            cause=causes.why_not_reached(ns, host, pod),
        )
        unresolved = any(e in a.text for _, a in answers for e in NAME_ERRORS)
        return replace(seen, dns=describe_cluster_dns(ns.kube)) if unresolved else seen
    finally:
        evidence.record(
            f"the {name} pod's answers, asked on its node again and again (s after the change)",
            "\n".join(f"{t:+6.2f}  {shown(a)}" for t, a in answers),
        )
        evidence.record(
            f"what {host} resolved to in pod {pod} each time (s after the change; Service "
            f"{host}'s ClusterIP: {address or '(none)'})",
            "\n".join(f"{t:+6.2f}  {' '.join(a)}" for t, a in lookups),
        )
