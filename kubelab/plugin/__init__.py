"""kubelab as a pytest plugin (entry point ``pytest11: kubelab``): the ``--cluster`` options,
the cluster (one per run) and a namespace per scenario as fixtures, diagnostics for a failing
step, and the reports. Installing kubelab is enough; a project writes its own features against
the ``kube``, ``namespace`` and ``lab`` fixtures.

This module holds the hooks and fixtures pytest registers; each concern has a module of its
own: options, cluster (its life and signals), namespaces, ahead (make-ahead), xdist,
documentation, collection, and bdd (the one adapter for pytest-bdd's internals).
"""

from __future__ import annotations

import sys
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from kubelab.cluster.base import Provider
from kubelab.images import Images
from kubelab.plugin import ahead, bdd, collection, documentation, namespaces, options, xdist
from kubelab.plugin.cluster import (
    CLUSTER,
    SESSION,
    Cluster,
    end_of_run,
    in_play,
    needs_cluster,
    set_aside_earlier_reports,
    start_cluster,
    take_part,
    where,
)
from kubelab.plugin.namespaces import FAILED
from kubelab.plugin.options import reports_dir

# What a run that never asks for kubelab would not need is imported when kubelab is asked for:
# the plugin loads in every pytest session of an environment that has kubelab, also without
# its ``test`` extra (pytest-bdd, pytest-xdist, pytest-kind).
if TYPE_CHECKING:
    from kubelab.client import Kube
    from kubelab.lab import Lab
    from kubelab.namespace import LabNamespace
    from kubelab.plugin.bdd import Scenario

DIAGNOSTICS = pytest.StashKey[str]()
COLLECTED = pytest.StashKey[bool]()  # every plugin's modifyitems ran: -k and -m were valid


def pytest_addoption(parser: pytest.Parser) -> None:
    options.add_options(parser)


@pytest.hookimpl(wrapper=True)
def pytest_load_initial_conftests(parser: pytest.Parser) -> Generator[None, None, None]:
    """kubelab's short option names once the project's conftest.py files have declared theirs
    (pytest asks every plugin first): a project's own ``--cluster`` keeps its name, and kubelab's
    is then ``--kubelab-cluster`` only (kubelab.plugin.options.add_short_names)."""
    try:
        return (yield)
    finally:  # also when a conftest.py fails to import: ``--help`` still lists them
        options.add_short_names(parser)


@pytest.hookimpl(tryfirst=True)  # before pytest-bdd would open its own cucumber JSON writer
def pytest_configure(config: pytest.Config) -> None:
    options.check_options(config)
    if not options.runs_lab(config):
        return  # kubelab acts later only if a test asks for one of its fixtures
    # kubelab writes --cucumberjson itself: in the lab's order, every scenario also under
    # xdist, each step with its evidence as output.
    cucumber_json = getattr(config.option, "cucumber_json_path", None)
    if cucumber_json:
        config.option.cucumber_json_path = None
    take_part(config, cucumber_json)
    xdist.plan_shares(config)


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[SESSION] = session  # for pytest_unconfigure


@pytest.hookimpl(trylast=True)  # the collection as it will run: -k and -m applied
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The change chapter only when asked, the lab's order; on an xdist worker, its shares."""
    if in_play(config):
        collection.deselect_other_changes(config, items)
        collection.in_lab_order(items)
    xdist.split_shares(config, items)
    config.stash[COLLECTED] = True


def pytest_collection_finish(session: pytest.Session) -> None:
    """Bring up (or reach) the cluster before the first scenario; a problem ends the run here."""
    config = session.config
    if config.option.collectonly or getattr(config.option, "generate_missing", False):
        return
    # pytest calls this hook also after a failed collection (a bad -k, a path not found, a
    # steps file that does not import): the run ends there, so kubelab does nothing.
    if not config.stash.get(COLLECTED, False) or (
        session.testsfailed and not config.option.continue_on_collection_errors
    ):
        return
    if in_play(config):
        set_aside_earlier_reports(config)
    if CLUSTER in config.stash or not any(needs_cluster(item) for item in session.items):
        return
    start_cluster(config)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_setupnodes(config: pytest.Config) -> None:
    """With pytest-xdist the controller sets the cluster up once, before any worker starts."""
    if options.runs_lab(config):
        start_cluster(config)


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``-n N`` on the lab: each worker is sent its whole share of it (kubelab.shares)."""
    return xdist.scheduler(config, log)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """Hand each xdist worker the cluster and its share."""
    xdist.configure_node(node)


@pytest.hookimpl(wrapper=True)
def pytest_report_to_serializable(
    report: pytest.TestReport,
) -> Generator[None, dict[str, Any] | None, dict[str, Any] | None]:
    """Carry pytest-bdd's scenario record from an xdist worker to the controller's report."""
    data = yield
    context = bdd.report_context(report)
    if data is not None and context is not None:
        data["kubelab_scenario"] = {"scenario": context.scenario, "name": context.name}
    return data


@pytest.hookimpl(wrapper=True)
def pytest_report_from_serializable(
    data: dict[str, Any],
) -> Generator[None, pytest.TestReport | None, pytest.TestReport | None]:
    rep = yield
    if rep is not None and "kubelab_scenario" in data:
        # As if pytest-bdd had run the scenario here: every report reads it the same way.
        bdd.set_report_context(rep, data["kubelab_scenario"])
    return rep


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    ahead.remember_next(item, nextitem)
    return (yield)


@pytest.hookimpl(optionalhook=True)  # pytest-bdd's hook
def pytest_bdd_before_scenario(request: pytest.FixtureRequest, scenario: Scenario) -> None:
    """Start what the scenario's Givens need, and make the next scenarios' ahead."""
    ahead.before_scenario(request, scenario)


@pytest.hookimpl(optionalhook=True)  # pytest-bdd's hook
def pytest_bdd_before_step(request: pytest.FixtureRequest) -> None:
    """Collect what the step observes (kubelab records it) to show it under the step."""
    documentation.start_step(request.node)


@pytest.hookimpl(optionalhook=True)  # pytest-bdd's hook
def pytest_bdd_after_step() -> None:
    documentation.stop_step()


@pytest.hookimpl(optionalhook=True)  # pytest-bdd's hook
def pytest_bdd_step_error(request: pytest.FixtureRequest, **_: object) -> None:
    """Gather what explains a failing step, while its namespace still exists."""
    documentation.stop_step()
    cluster = request.config.stash.get(CLUSTER, None)
    if cluster is None:
        return
    from kubelab import diagnostics

    ns = request.getfixturevalue("namespace") if "namespace" in request.fixturenames else None
    request.node.stash[DIAGNOSTICS] = diagnostics.collect(cluster.kube, cluster.provider, ns)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if in_play(item.config):  # each step's evidence, and the scenario's place in the lab
        documentation.record(item, report)
    if report.failed:
        item.stash[FAILED] = True
        text = item.stash.get(DIAGNOSTICS, None)
        if text is not None and call.when == "call":
            report.sections.append(("kubelab diagnostics", text))
            addsection = getattr(report.longrepr, "addsection", None)
            if addsection is not None:
                addsection("kubelab diagnostics", text)
    return report


@pytest.hookimpl(trylast=True)  # after the last scenario's fixtures and the JUnit file
def pytest_sessionfinish(session: pytest.Session) -> None:
    """Tear down what the run created and write the reports, before the summary; a cleanup or
    a report check that fails fails the run."""
    config = session.config
    if not in_play(config):
        return
    docs = config.pluginmanager.get_plugin(documentation.NAME)

    def write_documentation() -> None:
        from kubelab import timeline
        from kubelab.console import say

        try:
            timeline.draw_pending()  # an xdist worker draws its own, before it reports finished
        except Exception as exc:  # noqa: BLE001  (the report check names the missing picture)
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
            say(f"kubelab: a rollout's timeline could not be drawn: {exc}", sys.stderr)
        if docs is not None:
            docs.finish(session, where(config))

    end_of_run(session, write_documentation)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_unconfigure(config: pytest.Config) -> Generator[None, None, None]:
    """Also when the run ends abnormally, e.g. a closed stdout (a killed ``| tee``) broke a
    hook before ours: tear down what the run created, then let pytest finish."""
    try:
        yield
    finally:
        session = config.stash.get(SESSION, None)
        if session is not None and in_play(config):
            end_of_run(session)
        xdist.remove_shares(config)


@pytest.fixture(scope="session")
def cluster(request: pytest.FixtureRequest) -> Cluster:
    """The run's cluster, set up before the first scenario (or, outside ``kubelab_paths``, when
    the first test asks for it)."""
    config = request.config
    if CLUSTER not in config.stash and not hasattr(config, "workerinput"):
        start_cluster(config)
    try:
        return request.config.stash[CLUSTER]
    except KeyError:
        paths = ", ".join(str(p) for p in request.config.getini("kubelab_paths"))
        pytest.fail(
            "kubelab: under pytest-xdist the controller sets the cluster up, for runs that reach "
            f"a path of the kubelab_paths ini option ({paths}); add this run's path to it",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def provider(cluster: Cluster) -> Provider:
    """The provider of the run's cluster (kind, existing, local)."""
    return cluster.provider


@pytest.fixture(scope="session")
def images(cluster: Cluster) -> Images:
    """The image references the manifests are given on this cluster."""
    return cluster.images


@pytest.fixture(scope="session")
def kube(cluster: Cluster) -> Kube:
    """API access to the cluster, proven to work and allowed to create namespaces."""
    return cluster.kube


@pytest.fixture
def namespace(kube: Kube, request: pytest.FixtureRequest) -> Iterator[LabNamespace]:
    """A fresh namespace for one scenario (made while the previous one ran, when it could be:
    see ``kubelab.plugin.namespaces.prepare_namespace``), deleted afterwards (see
    --keep-namespace)."""
    yield from namespaces.scenario_namespace(request, kube)


@pytest.fixture
def lab(
    provider: Provider, namespace: LabNamespace, images: Images, request: pytest.FixtureRequest
) -> Lab:
    """The lab's operations in this scenario's namespace."""
    from kubelab.lab import Lab

    return Lab(provider, namespace, images, reports=reports_dir(request.config))
