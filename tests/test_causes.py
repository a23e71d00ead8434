"""A step that fails says why in its first line: the Service without endpoints (its selector
matching no pod), the cluster's DNS not answering while its pods are ready, a rolling update
with nothing to roll. Against the stand-in API server of tests/stand_in_api.py, through the
real Kubernetes client; what a pod's resolver says is set by each test."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from kubelab import causes, probes, rollout
from kubelab.client import Kube
from kubelab.errors import EnvironmentProblem
from kubelab.http import Answer
from kubelab.images import Images
from kubelab.lab import Lab, PageSince
from kubelab.namespace import LabNamespace
from tests.stand_in_api import StandIn, kubeconfig, serve

NS = "kubelab-test"
IMAGES = Images(redis="r", web_v1="kubelab.local/web:1.0", web_v2="kubelab.local/web:2.0")
CORE = f"/api/v1/namespaces/{NS}"


def _pod(name: str, labels: dict[str, str], ready: bool = True) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": NS, "labels": labels},
        "spec": {"containers": [{"name": name, "image": f"kubelab.local/{name}:1.0"}]},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": str(ready)}]},
    }


def _service(name: str, selector: dict[str, str], namespace: str = NS) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"selector": selector, "clusterIP": "10.96.0.10", "ports": [{"port": 53}]},
    }


def _slice(service: str, ready: bool, namespace: str = NS) -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"{service}-abcde",
            "namespace": namespace,
            "labels": {"kubernetes.io/service-name": service},
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["10.244.1.5"], "conditions": {"ready": ready}}],
    }


@pytest.fixture
def api() -> Iterator[StandIn]:
    with serve() as stand_in:
        stand_in.objects[CORE] = {"metadata": {"name": NS}}
        stand_in.objects[f"{CORE}/pods/redis"] = _pod("redis", {"app": "redis"})
        stand_in.objects[f"{CORE}/pods/web"] = _pod("web", {"app": "web"})
        yield stand_in


@pytest.fixture
def ns(api: StandIn, tmp_path) -> LabNamespace:
    return LabNamespace(Kube.from_kubeconfig(kubeconfig(tmp_path, api.url)), NS)


def test_a_service_whose_selector_matches_no_pod_says_so_first(api, ns):
    api.objects[f"{CORE}/services/redis"] = _service("redis", {"app": "redisx"})
    cause = causes.service_without_endpoints(ns, "redis")
    assert cause.startswith(
        f"Service redis in {NS} has no endpoints because its selector app=redisx matches no pod "
        "(the pods there: redis (app=redis), web (app=web))"
    ), cause


def test_a_selector_that_matches_no_pod_is_a_cause_waiting_cannot_cure(api, ns):
    assert causes.selector_matches_no_pod(ns, "redis") == ""  # no such Service (yet)
    api.objects[f"{CORE}/services/redis"] = _service("redis", {"app": "redis"})
    assert causes.selector_matches_no_pod(ns, "redis") == ""  # the redis pod, ready or not
    api.objects[f"{CORE}/services/redis"] = _service("redis", {"app": "redisx"})
    assert causes.selector_matches_no_pod(ns, "redis").startswith(
        f"Service redis in {NS} has no endpoints because its selector app=redisx matches no pod"
    )


def test_a_service_with_a_ready_endpoint_has_nothing_to_say(api, ns):
    api.objects[f"{CORE}/services/redis"] = _service("redis", {"app": "redis"})
    api.objects[f"/apis/discovery.k8s.io/v1/namespaces/{NS}/endpointslices/redis-abcde"] = _slice(
        "redis", ready=True
    )
    assert causes.service_without_endpoints(ns, "redis") == ""


def test_a_service_whose_pods_are_not_ready_names_them(api, ns):
    api.objects[f"{CORE}/pods/redis"] = _pod("redis", {"app": "redis"}, ready=False)
    api.objects[f"{CORE}/services/redis"] = _service("redis", {"app": "redis"})
    cause = causes.service_without_endpoints(ns, "redis")
    assert cause.startswith(
        f"Service redis in {NS} has no ready endpoint: the pods its selector app=redis matches "
        "are not ready (redis"
    ), cause


def _kube_dns(api: StandIn, ready: bool) -> None:
    api.objects["/api/v1/namespaces/kube-system/services/kube-dns"] = _service(
        "kube-dns", {"k8s-app": "kube-dns"}, "kube-system"
    )
    api.objects["/apis/discovery.k8s.io/v1/namespaces/kube-system/endpointslices/kube-dns-x"] = (
        _slice("kube-dns", ready=ready, namespace="kube-system")
    )


NOT_KNOWN = ["error:", "[Errno", "-2]", "Name", "or", "service", "not", "known"]


def test_a_dns_server_with_ready_pods_that_does_not_answer_is_named(api, ns, monkeypatch):
    _kube_dns(api, ready=True)
    monkeypatch.setattr(probes, "resolve", lambda ns, pod, host: NOT_KNOWN)
    cause = causes.dns_not_serving(ns, "web")
    assert cause.startswith(
        "the cluster's DNS server does not answer for cluster.local names while its pods are "
        "ready: kubernetes.default, the API server's own Service, does not resolve in pod web "
        "(error: [Errno -2] Name or service not known); the cluster is broken here, not kubelab"
    ), cause


def test_a_dns_service_without_ready_pods_says_that_instead(api, ns, monkeypatch):
    _kube_dns(api, ready=False)
    monkeypatch.setattr(probes, "resolve", lambda ns, pod, host: NOT_KNOWN)
    cause = causes.dns_not_serving(ns, "web")
    assert cause.startswith("Service kube-dns (10.96.0.10) in kube-system has no ready endpoint")


def test_a_dns_server_that_answers_has_nothing_to_say(api, ns, monkeypatch):
    _kube_dns(api, ready=True)
    monkeypatch.setattr(probes, "resolve", lambda ns, pod, host: ["10.96.0.1"])
    assert causes.dns_not_serving(ns, "web") == ""


def test_a_name_the_cluster_dns_does_not_serve_says_so_before_what_it_resolved_to(
    api, ns, monkeypatch
):
    """The first step a cluster whose DNS does not serve cluster.local fails: the web pod
    resolving kubernetes.default (features/cluster.feature)."""
    _kube_dns(api, ready=True)
    api.objects["/api/v1/namespaces/default/services/kubernetes"] = _service(
        "kubernetes", {}, "default"
    )
    del api.objects[f"{CORE}/pods/redis"]  # the stand-in lists every pod: web alone, as asked
    monkeypatch.setattr(probes, "resolve", lambda ns, pod, host: NOT_KNOWN)
    lookup = Lab(provider=None, namespace=ns, images=IMAGES).look_up("kubernetes.default")
    assert lookup.explain("kubernetes").startswith(
        "the cluster's DNS server does not answer for cluster.local names while its pods are "
        "ready: kubernetes.default, the API server's own Service, does not resolve in pod web "
    ), lookup.explain("kubernetes")
    assert lookup.explain("kubernetes").endswith(
        "; kubernetes.default in pod web resolves to error: [Errno -2] Name or service not known, "
        "not to Service kubernetes's ClusterIP 10.96.0.10"
    )


def test_a_name_that_resolves_to_its_service_asks_nothing_more(api, ns, monkeypatch):
    api.objects["/api/v1/namespaces/default/services/kubernetes"] = _service(
        "kubernetes", {}, "default"
    )
    del api.objects[f"{CORE}/pods/redis"]  # the stand-in lists every pod: web alone, as asked
    asked: list[str] = []

    def resolve(ns: LabNamespace, pod: str, host: str) -> list[str]:
        asked.append(host)
        return ["10.96.0.10"]

    monkeypatch.setattr(probes, "resolve", resolve)
    lookup = Lab(provider=None, namespace=ns, images=IMAGES).look_up("kubernetes.default")
    assert (lookup.cause, asked) == ("", ["kubernetes.default"])


def test_a_service_edited_to_select_no_pod_fails_at_once_naming_its_selector(api, ns):
    """The redis Service in the cluster selects app=redisx (its manifest says app=redis): the
    step that waits for it to answer names the selector the cluster holds, without a timeout."""
    api.objects[f"{CORE}/services/redis"] = _service("redis", {"app": "redisx"})
    started = time.monotonic()
    with pytest.raises(EnvironmentProblem) as caught:
        Lab(provider=None, namespace=ns, images=IMAGES).start_service_and_wait_until_it_answers(
            "redis"
        )
    assert str(caught.value).startswith(
        f"Service redis in {NS} has no endpoints because its selector app=redisx matches no pod"
    ), caught.value
    assert time.monotonic() - started < 5


NEVER = PageSince(
    answers=tuple(
        (t, Answer(500, "Error -2 connecting to redis:6379. Name or service not known."))
        for t in (0.5, 1.0, 30.0)
    ),
    lookups=tuple((t, tuple(NOT_KNOWN)) for t in (0.5, 1.0, 30.0)),
    service_address="10.96.5.5",
    cause="the cluster's DNS server does not answer for cluster.local names",
)


def test_the_page_that_never_came_names_the_cause_first_and_asks_no_question():
    for message in (NEVER.explain("Hello", 5), NEVER.explain_lookups("redis", 5)):
        assert message.startswith("the cluster's DNS server does not answer"), message
        assert "NXDOMAIN" not in message, message


def test_without_a_cause_the_page_still_asks_about_a_cached_nxdomain():
    seen = PageSince(NEVER.answers, lookups=NEVER.lookups, service_address="10.96.5.5")
    assert "cache the earlier NXDOMAIN" in seen.explain_lookups("redis", 5)


WEB = {"app": "web"}
TEMPLATE = {
    "metadata": {"labels": WEB},
    "spec": {"containers": [{"name": "web", "image": "kubelab.local/web:1.0"}]},
}


@pytest.mark.parametrize(
    ("kind", "path"),
    [
        ("ReplicationController", f"{CORE}/replicationcontrollers/web"),
        ("Deployment", f"/apis/apps/v1/namespaces/{NS}/deployments/web"),
    ],
)
def test_a_rolling_update_to_the_same_template_fails_at_once(api, ns, kind, path):
    api.objects[path] = {
        "metadata": {"name": "web", "namespace": NS, "labels": WEB},
        "spec": {
            "replicas": 3,
            "selector": WEB if kind == "ReplicationController" else {"matchLabels": WEB},
            "template": TEMPLATE,
        },
    }
    roll = (
        rollout.rolling_update_rc
        if kind == "ReplicationController"
        else (rollout.rolling_update_deployment)
    )
    started = time.monotonic()
    with pytest.raises(EnvironmentProblem) as caught:
        roll(ns, "web", "kubelab.local/web:1.0")
    assert str(caught.value).startswith(
        f"{kind} web: the new pod template equals the old one, nothing to roll"
    )
    assert time.monotonic() - started < 5
    assert [a for a in api.asked if not a.startswith("GET")] == []  # nothing was changed


def test_pods_of_the_2_0_image_answering_as_1_0_name_the_image(api, ns):
    images = Images(redis="r", web_v1="kubelab.local/web:1.0", web_v2="kubelab.local/web:2.0")
    for name in ("web-a", "web-b"):
        pod = _pod(name, {"app": "web"})
        pod["spec"]["containers"][0]["image"] = images.web_v2
        api.objects[f"{CORE}/pods/{name}"] = pod
    del api.objects[f"{CORE}/pods/web"]
    lab = Lab(provider=None, namespace=ns, images=images)
    answers = [Answer(200, "Hello Container World! I have been seen 7 times.", "1.0", "web-a")]
    assert lab.explain_versions(answers).splitlines()[0] == (
        "every web pod runs the 2.0 image kubelab.local/web:2.0 and 1 of 1 answers still come "
        "from 1.0: that image holds the 1.0 app (the image is wrong, not the rollout)"
    )
