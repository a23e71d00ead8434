"""The cluster's life in a run: kubelab taking part, the cluster set up (once), the sentinels,
and the end of the run (sentinels checked, namespaces deleted, the cluster torn down) shielded
from Ctrl-C and SIGTERM."""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from kubelab import signals
from kubelab.cluster.base import Provider
from kubelab.console import say
from kubelab.errors import EnvironmentProblem, KubelabError, WaitTimeout
from kubelab.images import Images
from kubelab.plugin import namespaces
from kubelab.plugin.bdd import is_scenario
from kubelab.plugin.documentation import NAME, LivingDocumentation
from kubelab.plugin.options import cluster_options, reports_dir, value

if TYPE_CHECKING:
    from kubelab import isolation
    from kubelab.client import Kube

log = logging.getLogger("kubelab")


@dataclass(frozen=True)
class Cluster:
    """The cluster of this run, ready: its provider, the images on its nodes, API access."""

    provider: Provider
    images: Images
    kube: Kube


CLUSTER = pytest.StashKey[Cluster]()
PROVIDER = pytest.StashKey[Provider]()  # set up by this process: torn down at its end
SENTINELS: pytest.StashKey[isolation.Sentinels] = pytest.StashKey()
IN_PLAY = pytest.StashKey[bool]()  # a kubelab path or fixture is in this run: kubelab acts
SET_ASIDE = pytest.StashKey[bool]()  # the earlier run's reports are out of the reports directory
SESSION = pytest.StashKey[pytest.Session]()
CLEANED = pytest.StashKey[bool]()
# How long an image loaded on a node may be missing from the node's status (see
# refuse_images_never_pulled).
IMAGE_LIST_LAG = 45.0


def in_play(config: pytest.Config) -> bool:
    """kubelab acts in this run (a kubelab path or fixture is in it)."""
    return config.stash.get(IN_PLAY, False)


def needs_cluster(item: pytest.Item) -> bool:
    """The test uses kubelab's cluster fixture, or is a pytest-bdd scenario of a run that
    reaches ``kubelab_paths`` (its steps ask for fixtures only while it runs, so its fixture
    names cannot tell; elsewhere its first step that asks for one brings the cluster up)."""
    return _uses_kubelab_cluster(item) or (is_scenario(item) and in_play(item.config))


def _uses_kubelab_cluster(item: pytest.Item) -> bool:
    """The ``cluster`` fixture the test resolves is kubelab's, not a project's own of that name
    (the last definition is the one that applies: a conftest's or module's overrides a plugin's)."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None or "cluster" not in getattr(item, "fixturenames", ()):
        return False
    definitions = info.name2fixturedefs.get("cluster", ())
    return bool(definitions) and definitions[-1].func.__module__.split(".")[0] == "kubelab"


def take_part(config: pytest.Config, cucumber_json: str | None = None) -> None:
    """From now on kubelab acts in this run (once): the reports, and cleanup on SIGTERM as on
    Ctrl-C."""
    if in_play(config):
        return
    config.stash[IN_PLAY] = True
    if not hasattr(config, "workerinput"):  # the controller reports for every worker
        config.pluginmanager.register(LivingDocumentation(config, cucumber_json), NAME)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, signals.sigterm_as_interrupt)


def set_aside_earlier_reports(config: pytest.Config) -> None:
    """Once, as tests are about to run and report: move the earlier run's files out of the
    reports directory (kubelab.report.set_aside_earlier_run). Not on an xdist worker."""
    if hasattr(config, "workerinput") or config.stash.get(SET_ASIDE, False):
        return
    config.stash[SET_ASIDE] = True
    from kubelab import report

    report.set_aside_earlier_run(reports_dir(config))


def refuse_images_never_pulled(kube: Kube, images: Images) -> None:
    """EnvironmentProblem when the lab's images are kubelab's own (kubelab.local/...), which no
    registry serves, and a node that takes workload does not have them: every scenario would
    wait for a pull that cannot succeed. A node lists an image up to about 40 s after it was
    loaded (the kubelet refreshes its image list every 30 s, its status every 10 s): one
    missing for IMAGE_LIST_LAG is missing."""
    from kubelab import states
    from kubelab.waits import wait_until

    refs = [images.redis, images.web_v1, images.web_v2]
    seen: list[str | None] = [None]

    def problem() -> str | None:
        seen[0] = states.images_never_pulled(kube.nodes(), refs)
        return seen[0]

    try:
        wait_until(
            problem,
            lambda said: said is None,
            timeout=IMAGE_LIST_LAG,
            what="the lab's images to be listed on every node",
            interval=IMAGE_LIST_LAG / 9,
            describe=str,
        )
    except WaitTimeout as exc:
        raise EnvironmentProblem(str(seen[0])) from exc


def start_cluster(config: pytest.Config) -> None:
    """Choose, set up and reach the cluster; a problem ends the run with one line."""
    from kubelab import isolation
    from kubelab.client import Kube
    from kubelab.cluster.select import choose

    take_part(config)
    set_aside_earlier_reports(config)
    try:
        provider = choose(cluster_options(config))
    except KubelabError as exc:
        pytest.exit(f"kubelab: {exc}", returncode=2)
    worker = getattr(config, "workerinput", None)
    shared = (worker or {}).get("kubelab")
    if worker is not None and shared is None:
        return  # one cluster per worker would boot several: the cluster fixture says why not
    if shared is None:
        config.stash[PROVIDER] = provider  # torn down in pytest_sessionfinish, also after Ctrl-C
    try:
        # An xdist worker uses the cluster its controller set up (see kubelab.plugin.xdist).
        images = Images(**shared["images"]) if shared else provider.setup()
        kubeconfig = Path(shared["kubeconfig"]) if shared else provider.kubeconfig
        kube = Kube.from_kubeconfig(kubeconfig, value(config, "kube-context"))
        version = kube.check_access()
        if provider.name == "existing" and shared is None:
            refuse_images_never_pulled(kube, images)
    except KubelabError as exc:
        hint = provider.logs_hint()
        pytest.exit(f"kubelab: {exc}" + (f" ({hint})" if hint else ""), returncode=2)
    log.info("cluster %s (%s provider): Kubernetes %s", kube.where, provider.name, version)
    config.stash[CLUSTER] = Cluster(provider, images, kube)
    wanted = value(config, "sentinels")
    if shared is None and (wanted == "yes" or (wanted == "auto" and provider.name == "local")):
        config.stash[SENTINELS] = sentinels = isolation.Sentinels(kube)
        isolation.plant(sentinels)


def where(config: pytest.Config) -> str:
    """The run's cluster in a few words, for the reports."""
    cluster = config.stash.get(CLUSTER, None)
    if cluster is None:
        return "no cluster"
    return f"the {cluster.provider.name} cluster at {cluster.kube.where}"


def end_of_run(session: pytest.Session, documentation: Callable[[], object] = lambda: None) -> None:
    """Check the sentinels, delete the run's namespaces, tear the cluster down (once); a step
    that fails fails the run. ``documentation`` runs meanwhile: most of the cleanup is waiting
    for the namespace controller. Ctrl-C and SIGTERM wait until both are done, and nothing in
    the cleanup needs a writable terminal."""
    config = session.config
    if config.stash.get(CLEANED, False):
        documentation()
        return
    config.stash[CLEANED] = True

    def clean_up() -> None:
        for step in _cleanup_steps(config):
            try:
                step()
            except Exception as exc:  # noqa: BLE001  (each step runs; any failure fails the run)
                session.exitstatus = (
                    session.exitstatus if session.exitstatus else pytest.ExitCode.TESTS_FAILED
                )
                say(f"kubelab: end-of-run check failed: {exc}", sys.stderr)

    _end_pytests_line(config)
    with signals.shielded():
        cleanup = threading.Thread(target=clean_up, name="kubelab-end-of-run", daemon=True)
        cleanup.start()
        try:
            documentation()
        finally:
            cleanup.join()


def _end_pytests_line(config: pytest.Config) -> None:
    """End the line pytest leaves open ("... [100%]"), so that what the cleanup says (kind's
    "keeping cluster", the local cluster's "[down]") starts a line of its own."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    with contextlib.suppress(OSError, ValueError):  # a closed terminal, as in console.say
        reporter.ensure_newline()
        if config.get_terminal_writer().width_of_current_line:  # -q: the reporter cannot tell
            reporter.line("")


def _cleanup_steps(config: pytest.Config) -> list[Callable[[], object]]:
    """What the end of the run does, in order: check the sentinels, delete the namespaces,
    tear the cluster down (each only if the run has it)."""
    cluster, provider = config.stash.get(CLUSTER, None), config.stash.get(PROVIDER, None)
    sentinels = config.stash.get(SENTINELS, None)
    names = namespaces.created(config)
    steps: list[Callable[[], object]] = []
    if sentinels is not None:

        def check_sentinels() -> None:
            from kubelab import isolation

            problems = isolation.changed(sentinels)
            isolation.remove(sentinels)
            names.append(sentinels.namespace)
            if problems:
                raise AssertionError(
                    f"the lab changed objects it did not create: {'; '.join(problems)}"
                )

        steps.append(check_sentinels)
    if cluster is not None:
        steps.append(lambda: namespaces.delete_namespaces(config, cluster.kube, names))
    if provider is not None:
        steps.append(provider.teardown)
    return steps
