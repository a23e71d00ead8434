"""The suite's fixtures: the cluster (session), a namespace per scenario, images, options."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubelab.cluster.base import Images, Provider
from kubelab.cluster.select import CHOICES, Options, choose
from kubelab.errors import KubelabError
from kubelab.kube import Kube, LabNamespace
from kubelab.lab import Lab

ROOT = Path(__file__).parent
KEEP_CHOICES = ("never", "on-failure", "always")
IMAGES = pytest.StashKey[Images]()
FAILED = pytest.StashKey[bool]()

pytest_plugins = [
    "steps.cluster",
    "steps.pods",
    "steps.services",
    "steps.replication",
    "steps.traffic",
    "steps.clearing",
]

log = logging.getLogger("kubelab")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("kubelab", "kubelab: the cluster the lab runs on")
    group.addoption(
        "--cluster", default="auto", choices=CHOICES, help="where the lab runs (default: auto)"
    )
    group.addoption("--kube-context", help="context in the kubeconfig")
    group.addoption(
        "--web-image", default="kubelab.local/web:1.0", help="web 1.0 image (existing clusters)"
    )
    group.addoption(
        "--web-image-v2", default="kubelab.local/web:2.0", help="web 2.0 image (existing clusters)"
    )
    group.addoption(
        "--redis-image", default="kubelab.local/redis:7", help="redis image (existing clusters)"
    )
    group.addoption(
        "--workers", type=int, default=3, help="worker nodes of a new kind/local cluster"
    )
    group.addoption("--k8s-version", help="Kubernetes release of the local cluster (1.32-1.34)")
    group.addoption(
        "--reports-dir",
        type=Path,
        default=ROOT / "reports",
        help="where reports go (default: reports/)",
    )
    group.addoption(
        "--keep-namespace",
        default="never",
        choices=KEEP_CHOICES,
        help="keep each scenario's namespace for debugging (default: never)",
    )


def _options(config: pytest.Config) -> Options:
    return Options(
        cluster=config.getoption("--cluster"),
        # --kubeconfig, --keep-cluster and --cluster-name are pytest-kind's options, shared.
        kubeconfig=Path(config.getoption("--kubeconfig"))
        if config.getoption("--kubeconfig")
        else None,
        context=config.getoption("--kube-context"),
        images=Images(
            redis=config.getoption("--redis-image"),
            web_v1=config.getoption("--web-image"),
            web_v2=config.getoption("--web-image-v2"),
        ),
        workers=config.getoption("--workers"),
        k8s_version=config.getoption("--k8s-version"),
        keep_cluster=config.getoption("--keep-cluster"),
        app_dir=ROOT / "app",
        work_dir=ROOT / ".kubelab",
    )


@pytest.fixture(scope="session")
def provider(request: pytest.FixtureRequest) -> Iterator[Provider]:
    """The cluster the lab runs on, chosen by --cluster; set up once per run."""
    try:
        chosen = choose(_options(request.config))
    except KubelabError as exc:
        pytest.exit(f"kubelab: {exc}", returncode=2)
    try:
        try:
            request.config.stash[IMAGES] = chosen.setup()
        except KubelabError as exc:
            hint = chosen.logs_hint()
            pytest.exit(f"kubelab: {exc}" + (f" ({hint})" if hint else ""), returncode=2)
        yield chosen
    finally:
        chosen.teardown()


@pytest.fixture(scope="session")
def images(provider: Provider, request: pytest.FixtureRequest) -> Images:
    """The image references the manifests are given on this cluster."""
    return request.config.stash[IMAGES]


@pytest.fixture(scope="session")
def kube(provider: Provider, request: pytest.FixtureRequest) -> Kube:
    """API access to the cluster, proven to work and allowed to create namespaces."""
    try:
        kube = Kube.from_kubeconfig(provider.kubeconfig, request.config.getoption("--kube-context"))
        version = kube.check_access()
    except KubelabError as exc:
        pytest.exit(f"kubelab: {exc}", returncode=2)
    log.info("cluster %s: Kubernetes %s", kube.where, version)
    return kube


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Iterator[pytest.TestReport]:
    report = yield
    if report.failed:
        item.stash.setdefault(FAILED, True)
    return report


@pytest.fixture
def namespace(kube: Kube, request: pytest.FixtureRequest) -> Iterator[LabNamespace]:
    """A fresh namespace for one scenario, deleted afterwards (see --keep-namespace)."""
    ns = kube.create_namespace()
    yield ns
    keep = request.config.getoption("--keep-namespace")
    failed = request.node.stash.get(FAILED, False)
    if keep == "always" or (keep == "on-failure" and failed):
        log.warning("keeping namespace %s", ns.name)
        return
    ns.destroy()


@pytest.fixture
def lab(
    provider: Provider, namespace: LabNamespace, images: Images, request: pytest.FixtureRequest
) -> Lab:
    """The lab's operations in this scenario's namespace."""
    return Lab(provider, namespace, images, reports=request.config.getoption("--reports-dir"))
