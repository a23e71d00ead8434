"""kubelab as a pytest plugin (entry point ``pytest11: kubelab``): the ``--cluster`` options,
the cluster (one per run) and a namespace per scenario as fixtures, diagnostics for a failing
step, and the reports. Installing kubelab is enough; a project writes its own features against
the ``kube``, ``namespace`` and ``lab`` fixtures.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import pytest

from kubelab import evidence, releases
from kubelab.cluster.base import Images, Provider
from kubelab.cluster.select import CHOICES, DEFAULT_IMAGES, Options
from kubelab.console import say
from kubelab.errors import KubelabError
from kubelab.paths import source_dir
from kubelab.waits import MEDIUM

# What a run that never asks for kubelab would not need is imported when kubelab is asked for:
# the plugin loads in every pytest session of an environment that has kubelab, also without
# its ``test`` extra (pytest-bdd, pytest-xdist, pytest-kind).
if TYPE_CHECKING:
    from pytest_bdd.parser import Scenario

    from kubelab import isolation
    from kubelab.client import Kube
    from kubelab.lab import Lab
    from kubelab.namespace import LabNamespace
    from kubelab.report import ScenarioResult

KEEP_CHOICES = ("never", "on-failure", "always")
SENTINEL_CHOICES = ("auto", "yes", "no")
MIN_WAIT = 10.0  # no pod starts and passes a readiness probe faster than this on any cluster

log = logging.getLogger("kubelab")


def _context(rep: pytest.TestReport) -> Any:
    """pytest-bdd's record of the scenario behind ``rep`` (None for plain tests, and without
    pytest-bdd): its ``scenario`` (serialized, steps included) and the test's ``name``."""
    try:
        from pytest_bdd.reporting import test_report_context_registry
    except ImportError:  # kubelab without its test extra: no scenario anywhere
        return None
    return test_report_context_registry.get(rep)


@dataclass(frozen=True)
class Cluster:
    """The cluster of this run, ready: its provider, the images on its nodes, API access."""

    provider: Provider
    images: Images
    kube: Kube


CLUSTER = pytest.StashKey[Cluster]()
PROVIDER = pytest.StashKey[Provider]()
FAILED = pytest.StashKey[bool]()
DIAGNOSTICS = pytest.StashKey[str]()
CREATED = pytest.StashKey[list[str]]()  # namespaces to delete at the end of the run
PREPARED = pytest.StashKey[dict[str, "Future[LabNamespace]"]]()  # by the scenario's node id
PREPARER = pytest.StashKey[ThreadPoolExecutor]()
# Threads making scenarios' namespaces ahead (steps/ahead.py): one namespace waits for its
# default ServiceAccount while the next is made.
PREPARERS = 2
CLEANED = pytest.StashKey[bool]()
SHARES = pytest.StashKey[Path]()  # under xdist: where the workers write their shares
SESSION = pytest.StashKey[pytest.Session]()
SENTINELS: pytest.StashKey[isolation.Sentinels] = pytest.StashKey()
IN_PLAY = pytest.StashKey[bool]()  # a kubelab path or fixture is in this run: kubelab acts
SET_ASIDE = pytest.StashKey[bool]()  # the earlier run's reports are out of the reports directory
EVIDENCE = pytest.StashKey[list[list[evidence.Block]]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("kubelab", "kubelab: the cluster the lab runs on")
    group.addoption(
        "--cluster",
        default="auto",
        help=f"where the lab runs: {', '.join(CHOICES)} (default: auto)",
    )
    # --kubeconfig, --keep-cluster and --cluster-name come from pytest-kind and are shared.
    group.addoption("--kube-context", help="context in the kubeconfig")
    group.addoption(
        "--web-image", default=DEFAULT_IMAGES.web_v1, help="web 1.0 image (existing clusters)"
    )
    group.addoption(
        "--web-image-v2", default=DEFAULT_IMAGES.web_v2, help="web 2.0 image (existing clusters)"
    )
    group.addoption(
        "--redis-image", default=DEFAULT_IMAGES.redis, help="redis image (existing clusters)"
    )
    group.addoption(
        "--workers", type=int, default=3, help="worker nodes of a new kind/local cluster"
    )
    group.addoption(
        "--k8s-version",
        help=f"Kubernetes release of a new local or kind cluster: {releases.supported()}, or a "
        f"full version of one (default {releases.DEFAULT.version})",
    )
    group.addoption(
        "--proxy-mode",
        help="kube-proxy's mode on a new local or kind cluster: "
        f"{' or '.join(releases.PROXY_MODES)} (default {releases.DEFAULT_PROXY_MODE})",
    )
    group.addoption(
        "--sentinels",
        default="auto",
        help="plant sentinel objects outside the lab's namespaces and fail the run if the lab "
        f"changes them: {', '.join(SENTINEL_CHOICES)} (default auto: on kubelab's own local cluster)",
    )
    group.addoption(
        "--wait-timeout",
        type=float,
        default=MEDIUM,
        help=f"seconds a step may wait for pods and controllers (default {MEDIUM:.0f}, at least {MIN_WAIT:.0f})",
    )
    group.addoption(
        "--reports-dir", type=Path, help="where reports go (default: reports/ in the rootdir)"
    )
    group.addoption(
        "--check-report",
        default="yes",
        help="open lab.html in headless Chromium at the end and fail on console errors or "
        "missing sections: yes, no (default: yes)",
    )
    group.addoption(
        "--keep-namespace",
        default="never",
        help=f"keep each scenario's namespace for debugging: {', '.join(KEEP_CHOICES)} (default: never)",
    )
    group.addoption(
        "--cluster-change",
        help="run the change chapter (features/cluster_change.feature) with this change while "
        "traffic flows: command (the --change COMMAND), runtime-restart, proxy-mode or upgrade "
        "(built in, kubelab's local cluster); without it or --change the chapter is not run",
    )
    group.addoption(
        "--change",
        metavar="COMMAND",
        help="a shell command that changes the cluster (KUBECONFIG and KUBELAB_NAMESPACE set): "
        "the change chapter runs it while traffic flows; its exit status must be 0",
    )
    group.addoption(
        "--change-timeout",
        type=float,
        default=600.0,
        help="seconds the --change command may take before it is killed (default 600)",
    )
    parser.addini(
        "kubelab_paths",
        "paths whose tests run on the cluster; with pytest-xdist the controller sets the cluster "
        "up when the run's arguments reach one of them",
        type="paths",
        # None by default: kubelab acts in no other project's run unless its fixtures are asked for.
        default=[],
    )


def reports_dir(config: pytest.Config) -> Path:
    """Where the run's reports go: --reports-dir, else reports/ in the rootdir."""
    return config.getoption("--reports-dir") or config.rootpath / "reports"


def _options(config: pytest.Config) -> Options:
    # --kubeconfig and --keep-cluster are pytest-kind's, absent without kubelab's test extra.
    kubeconfig = config.getoption("--kubeconfig", None)
    return Options(
        cluster=config.getoption("--cluster"),
        kubeconfig=Path(kubeconfig) if kubeconfig else None,
        context=config.getoption("--kube-context"),
        images=Images(
            redis=config.getoption("--redis-image"),
            web_v1=config.getoption("--web-image"),
            web_v2=config.getoption("--web-image-v2"),
        ),
        workers=config.getoption("--workers"),
        k8s_version=config.getoption("--k8s-version"),
        proxy_mode=config.getoption("--proxy-mode"),
        keep_cluster=config.getoption("--keep-cluster", False),
        app_dir=source_dir("app"),
        work_dir=config.rootpath / ".kubelab",
    )


def _needs_cluster(item: pytest.Item) -> bool:
    """The test uses a cluster fixture, or is a pytest-bdd scenario of a run that reaches
    ``kubelab_paths`` (its steps ask for fixtures only while it runs, so its fixture names
    cannot tell; elsewhere its first step that asks for one brings the cluster up)."""
    names = getattr(item, "fixturenames", ())
    return "cluster" in names or (
        "_pytest_bdd_example" in names and item.config.stash.get(IN_PLAY, False)
    )


def _take_part(config: pytest.Config, cucumber_json: str | None = None) -> None:
    """From now on kubelab acts in this run (once): the reports, and cleanup on SIGTERM as on
    Ctrl-C."""
    if config.stash.get(IN_PLAY, False):
        return
    config.stash[IN_PLAY] = True
    if not hasattr(config, "workerinput"):  # the controller reports for every worker
        config.pluginmanager.register(
            LivingDocumentation(config, cucumber_json), "kubelab-living-documentation"
        )
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_sigterm)


def _set_aside_earlier_reports(config: pytest.Config) -> None:
    """Once, as tests are about to run and report: move the earlier run's files out of the
    reports directory (kubelab.report.set_aside_earlier_run). Not on an xdist worker."""
    if hasattr(config, "workerinput") or config.stash.get(SET_ASIDE, False):
        return
    config.stash[SET_ASIDE] = True
    from kubelab import report

    report.set_aside_earlier_run(reports_dir(config))


def _start_cluster(config: pytest.Config) -> None:
    """Choose, set up and reach the cluster; a problem ends the run with one line."""
    from kubelab import isolation
    from kubelab.client import Kube
    from kubelab.cluster.select import choose

    _take_part(config)
    _set_aside_earlier_reports(config)
    try:
        provider = choose(_options(config))
    except KubelabError as exc:
        pytest.exit(f"kubelab: {exc}", returncode=2)
    worker = getattr(config, "workerinput", None)
    shared = (worker or {}).get("kubelab")
    if worker is not None and shared is None:
        return  # one cluster per worker would boot several: the cluster fixture says why not
    if shared is None:
        config.stash[PROVIDER] = provider  # torn down in pytest_sessionfinish, also after Ctrl-C
    try:
        # An xdist worker uses the cluster its controller set up (see pytest_configure_node).
        images = Images(**shared["images"]) if shared else provider.setup()
        kubeconfig = Path(shared["kubeconfig"]) if shared else provider.kubeconfig
        kube = Kube.from_kubeconfig(kubeconfig, config.getoption("--kube-context"))
        version = kube.check_access()
    except KubelabError as exc:
        hint = provider.logs_hint()
        pytest.exit(f"kubelab: {exc}" + (f" ({hint})" if hint else ""), returncode=2)
    log.info("cluster %s (%s provider): Kubernetes %s", kube.where, provider.name, version)
    config.stash[CLUSTER] = Cluster(provider, images, kube)
    wanted = config.getoption("--sentinels")
    if shared is None and (wanted == "yes" or (wanted == "auto" and provider.name == "local")):
        config.stash[SENTINELS] = sentinels = isolation.Sentinels(kube)
        isolation.plant(sentinels)


@pytest.hookimpl(trylast=True)  # the collection as it will run: -k and -m applied
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the scenarios in the lab's order (cluster, pods, services, ... clear), not the
    alphabetical order of the feature files; within a chapter, as written. On an xdist worker
    of a run with shares, split them (kubelab.shares) for the controller's scheduler, which
    reads the split once every worker has reported its collection, and for what the worker
    makes ahead."""
    if config.stash.get(IN_PLAY, False):
        from kubelab import report

        _deselect_other_changes(config, items)
        items.sort(key=lambda item: report.chapter(m.name for m in item.iter_markers()))
    worker = getattr(config, "workerinput", {})
    path = worker.get("kubelab_shares")
    if path is not None:
        from kubelab import shares

        split = shares.split([_weight(item) for item in items], worker["workercount"])
        for item, share in zip(items, split, strict=True):
            item.stash[shares.SHARE] = share
        shares.write(Path(path), dict(zip((item.nodeid for item in items), split, strict=True)))


def asked_change(config: pytest.Config) -> str | None:
    """The change the run asks the change chapter for (``--cluster-change``, or ``command``
    when only ``--change`` is given); None: the chapter does not run."""
    kind = config.getoption("--cluster-change")
    return kind or ("command" if config.getoption("--change") else None)


def _deselect_other_changes(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The change chapter's scenarios run only when asked, and then only the one asked for
    (pytest-bdd's --generate-missing sees them all: they are bound all the same)."""
    from kubelab.change import kind_of

    if getattr(config.option, "generate_missing", False):
        return
    asked = asked_change(config)
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        scenario = scenario_of(item) if item.get_closest_marker("change") else None
        kind = kind_of([s.name for s in scenario.steps]) if scenario else None
        (dropped if scenario is not None and kind != asked else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def scenario_of(item: pytest.Item) -> Scenario | None:
    """The pytest-bdd scenario (examples filled in) that ``item`` runs; None for other tests."""
    from pytest_bdd.scenario import scenario_wrapper_template_registry

    function = getattr(item, "obj", None)
    template = scenario_wrapper_template_registry.get(function) if function else None
    if template is None:
        return None
    callspec = getattr(item, "callspec", None)
    return template.render(callspec.params.get("_pytest_bdd_example", {}) if callspec else {})


def _weight(item: pytest.Item) -> int:
    """A scenario's rough length: its When and Then steps (its Givens are made ahead)."""
    scenario = scenario_of(item)
    return sum(step.type != "given" for step in scenario.steps) if scenario else 1


def pytest_collection_finish(session: pytest.Session) -> None:
    """Bring up (or reach) the cluster before the first scenario; a problem ends the run here."""
    config = session.config
    if config.option.collectonly or getattr(config.option, "generate_missing", False):
        return
    if config.stash.get(IN_PLAY, False):
        _set_aside_earlier_reports(config)
    if CLUSTER in config.stash or not any(_needs_cluster(item) for item in session.items):
        return
    _start_cluster(config)


def _runs_lab(config: pytest.Config) -> bool:
    """The run's paths reach the lab's (the ``kubelab_paths`` ini option)."""
    lab = [(config.rootpath / p).resolve() for p in config.getini("kubelab_paths")]
    lab = [p for p in lab if p.exists()]
    args = [Path(config.invocation_params.dir, a.split("::")[0]).resolve() for a in config.args]
    return any(a.is_relative_to(p) or p.is_relative_to(a) for a in args for p in lab)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_setupnodes(config: pytest.Config) -> None:
    """With pytest-xdist the controller sets the cluster up once, before any worker starts."""
    if _runs_lab(config):
        _start_cluster(config)


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``-n N`` on the lab: each worker is sent its whole share of it (kubelab.shares)."""
    path = config.stash.get(SHARES, None)
    if path is None:
        return None
    from kubelab import shares

    return shares.ShareScheduling(config, log, path)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """Hand each xdist worker the cluster's kubeconfig and images (names never collide: every
    scenario has its own random namespace, and NodePorts are allocated by the API server)."""
    path = node.config.stash.get(SHARES, None)
    if path is not None:
        node.workerinput["kubelab_shares"] = str(path)
    cluster = node.config.stash.get(CLUSTER, None)
    if cluster is not None:
        node.workerinput["kubelab"] = {
            "kubeconfig": str(cluster.provider.kubeconfig),
            "images": dataclasses.asdict(cluster.images),
        }


@pytest.hookimpl(wrapper=True)
def pytest_report_to_serializable(
    report: pytest.TestReport,
) -> Generator[None, dict[str, Any] | None, dict[str, Any] | None]:
    """Carry pytest-bdd's scenario record from an xdist worker to the controller's report."""
    data = yield
    context = _context(report)
    if data is not None and context is not None:
        data["kubelab_scenario"] = {"scenario": context.scenario, "name": context.name}
    return data


@pytest.hookimpl(wrapper=True)
def pytest_report_from_serializable(
    data: dict[str, Any],
) -> Generator[None, pytest.TestReport | None, pytest.TestReport | None]:
    rep = yield
    if rep is not None and "kubelab_scenario" in data:
        from pytest_bdd.reporting import ReportContext, test_report_context_registry

        # As if pytest-bdd had run the scenario here: every report reads it the same way.
        test_report_context_registry[rep] = ReportContext(**data["kubelab_scenario"])
    return rep


class LivingDocumentation:
    """Collects each scenario's outcome and evidence; at the end of the run writes lab.html and
    the cucumber JSON, puts the JUnit file in the lab's order, and checks the page in Chromium."""

    def __init__(self, config: pytest.Config, cucumber_json: str | None) -> None:
        self.config = config
        self.cucumber_json = cucumber_json
        self.results: dict[str, ScenarioResult] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        context = _context(report)
        if context is None or not (report.when == "call" or report.failed):
            return
        known = self.results.get(report.nodeid)
        if known is not None:  # the scenario passed, then its teardown failed
            known.outcome, known.failure = "failed", str(report.longrepr)
            return
        self.results[report.nodeid] = _result(context, report)

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        reports = terminalreporter.stats.get("passed", []) + terminalreporter.stats.get(
            "failed", []
        )
        properties = [p for r in reports for p in getattr(r, "user_properties", [])]
        for key, title in (
            ("outcome", "what the lab found"),
            ("traffic", "traffic during rolling updates"),
            ("change", "traffic during cluster changes"),
        ):
            lines = [str(value) for k, value in properties if k == key]
            if lines:
                terminalreporter.section(title)
                for line in lines:
                    terminalreporter.write_line(line)

    def finish(self, session: pytest.Session) -> None:
        """Write the reports and check the page (at the end of the run, after the JUnit file)."""
        if not self.results:
            return
        from kubelab import browser, report

        results = list(self.results.values())
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        say = reporter.write_line if reporter is not None else print
        if reporter is not None:
            reporter.ensure_newline()
        if self.cucumber_json:
            path = Path(self.cucumber_json)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(report.cucumber(results)))
            say(f"kubelab: cucumber JSON (each step's evidence as its output) in {path}")
        xml = self.config.option.xmlpath
        if xml and Path(xml).is_file():
            report.order_junit(Path(xml), results)
        cluster = self.config.stash.get(CLUSTER, None)
        where = (
            f"the {cluster.provider.name} cluster at {cluster.kube.where}"
            if cluster
            else "no cluster"
        )
        page = report.render(results, reports_dir(self.config) / "lab.html", where)
        say(f"kubelab: living documentation in {page}")
        if self.config.getoption("--check-report") == "no":
            return
        try:
            check = browser.check_page(page, page.with_suffix(".png"))
            problems = check.problems(report.sections(results))
        except KubelabError as exc:
            problems = [str(exc)]
        if problems:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
            say(f"kubelab: {page} does not read well in Chromium: {'; '.join(problems)}")
        else:
            say(f"kubelab: Chromium shows every section of {page}; screenshot {check.screenshot}")


def _result(context: Any, rep: pytest.TestReport) -> ScenarioResult:
    """A scenario's result for the living documentation, from pytest-bdd's record of it."""
    from kubelab.report import ScenarioResult

    return ScenarioResult(
        scenario=context.scenario,
        outcome=rep.outcome,
        duration=rep.duration,
        failure=str(rep.longrepr) if rep.failed else "",
        order=int(context.scenario.get("order", 0)),
        name=context.name,
    )


@pytest.hookimpl(tryfirst=True)  # before pytest-bdd would open its own cucumber JSON writer
def pytest_configure(config: pytest.Config) -> None:
    # Checked here rather than by argparse ``choices`` so the error is one line naming the fix.
    choices = (
        ("--cluster", CHOICES),
        ("--keep-namespace", KEEP_CHOICES),
        ("--sentinels", SENTINEL_CHOICES),
        ("--check-report", ("yes", "no")),
    )
    for option, allowed in choices:
        if config.getoption(option) not in allowed:
            raise pytest.UsageError(
                f"{option}={config.getoption(option)} is not one of {', '.join(allowed)}"
            )
    reports = config.getoption("--reports-dir")
    if reports is not None and any(
        p.is_relative_to(reports.resolve())
        for p in (config.rootpath, config.invocation_params.dir.resolve())
    ):
        raise pytest.UsageError(
            f"--reports-dir={reports} holds the project itself, and kubelab moves an earlier run's "
            "files out of the reports directory: name a directory of its own (e.g. reports)"
        )
    wait = config.getoption("--wait-timeout")
    if wait < MIN_WAIT:
        raise pytest.UsageError(
            f"--wait-timeout={wait:g} is shorter than a pod can ever take to start and become ready; "
            f"use at least {MIN_WAIT:.0f} seconds"
        )
    _check_change_options(config)
    try:  # a release or mode kubelab does not offer: refused before anything starts
        releases.choose(config.getoption("--k8s-version"))
        releases.choose_proxy_mode(config.getoption("--proxy-mode"))
    except KubelabError as exc:
        raise pytest.UsageError(str(exc)) from None
    if not _runs_lab(config):
        return  # kubelab acts later only if a test asks for one of its fixtures
    # kubelab writes --cucumberjson itself: in the lab's order, every scenario also under
    # xdist, each step with its evidence as output.
    cucumber_json = getattr(config.option, "cucumber_json_path", None)
    if cucumber_json:
        config.option.cucumber_json_path = None
    _take_part(config, cucumber_json)
    # `-n N` on the lab, xdist's default distribution: kubelab hands out shares instead.
    chosen = any(a.startswith(("--dist", "--tx", "-d")) for a in config.invocation_params.args)
    if config.getoption("dist", "no") == "load" and not chosen:
        config.stash[SHARES] = Path(tempfile.mkdtemp(prefix="kubelab-shares-")) / "shares.json"


def _check_change_options(config: pytest.Config) -> None:
    """--cluster-change names a change kubelab knows; a command change has its command."""
    from kubelab.change import KINDS
    from kubelab.changes import check_command

    kind, command = config.getoption("--cluster-change"), config.getoption("--change")
    if kind is not None and kind not in KINDS:
        raise pytest.UsageError(f"--cluster-change={kind} is not one of {', '.join(KINDS)}")
    if kind == "command" and not command:
        raise pytest.UsageError('--cluster-change=command needs the command: --change "COMMAND"')
    if command is not None and kind not in (None, "command"):
        raise pytest.UsageError(
            f"--change runs the user's command; --cluster-change={kind} is a built-in change: "
            "give one of them"
        )
    if config.getoption("--change-timeout") <= 0:
        raise pytest.UsageError("--change-timeout must be a positive number of seconds")
    if command is not None:
        try:
            check_command(command)
        except KubelabError as exc:
            raise pytest.UsageError(str(exc)) from None


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[SESSION] = session  # for pytest_unconfigure


def _shielded(signum: int, frame: FrameType | None) -> None:
    say("kubelab: still cleaning up; it ends by itself", sys.stderr)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # what CI systems send on cancel: clean up as on Ctrl-C


@contextmanager
def _shielded_from_signals() -> Iterator[None]:
    """Ctrl-C and SIGTERM wait until the block is done (in the main thread; elsewhere, as is)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _shielded) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _end_of_run(
    session: pytest.Session, documentation: Callable[[], object] = lambda: None
) -> None:
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

    with _shielded_from_signals():
        cleanup = threading.Thread(target=clean_up, name="kubelab-end-of-run", daemon=True)
        cleanup.start()
        try:
            documentation()
        finally:
            cleanup.join()


def _cleanup_steps(config: pytest.Config) -> list[Callable[[], object]]:
    cluster, provider = config.stash.get(CLUSTER, None), config.stash.get(PROVIDER, None)
    sentinels = config.stash.get(SENTINELS, None)
    names = config.stash.get(CREATED, [])
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
        timeout = config.getoption("--wait-timeout")

        def delete_namespaces() -> None:
            from kubelab.namespace import wait_until_deleted

            if PREPARER in config.stash:  # none is still being prepared
                config.stash[PREPARER].shutdown(wait=True)
            for name in names:  # those whose scenario was cut short are not deleted yet
                cluster.kube.delete("Namespace", name)
            if names:
                wait_until_deleted(cluster.kube, names, timeout)

        steps.append(delete_namespaces)
    if provider is not None:
        steps.append(provider.teardown)
    return steps


@pytest.hookimpl(trylast=True)  # after the last scenario's fixtures and the JUnit file
def pytest_sessionfinish(session: pytest.Session) -> None:
    """Tear down what the run created and write the reports, before the summary; a cleanup or
    a report check that fails fails the run."""
    if not session.config.stash.get(IN_PLAY, False):
        return
    docs = session.config.pluginmanager.get_plugin("kubelab-living-documentation")

    def documentation() -> None:
        from kubelab import timeline

        try:
            timeline.draw_pending()  # an xdist worker draws its own, before it reports finished
        except Exception as exc:  # noqa: BLE001  (the report check names the missing picture)
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
            say(f"kubelab: a rollout's timeline could not be drawn: {exc}", sys.stderr)
        if docs is not None:
            docs.finish(session)

    _end_of_run(session, documentation)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_unconfigure(config: pytest.Config) -> Generator[None, None, None]:
    """Also when the run ends abnormally, e.g. a closed stdout (a killed ``| tee``) broke a
    hook before ours: tear down what the run created, then let pytest finish."""
    try:
        yield
    finally:
        session = config.stash.get(SESSION, None)
        if session is not None and config.stash.get(IN_PLAY, False):
            _end_of_run(session)
        if SHARES in config.stash:
            shutil.rmtree(config.stash[SHARES].parent, ignore_errors=True)


@pytest.fixture(scope="session")
def cluster(request: pytest.FixtureRequest) -> Cluster:
    """The run's cluster, set up before the first scenario (or, outside ``kubelab_paths``, when
    the first test asks for it)."""
    config = request.config
    if CLUSTER not in config.stash and not hasattr(config, "workerinput"):
        _start_cluster(config)
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


def _new_namespace(config: pytest.Config, kube: Kube) -> LabNamespace:
    from kubelab.namespace import LabNamespace, namespace_name

    name = namespace_name()
    # Listed before it exists: a Ctrl-C at any point leaves nothing behind.
    config.stash.setdefault(CREATED, []).append(name)
    return LabNamespace.new(kube, name, timeout=config.getoption("--wait-timeout"))


def prepare_namespace(
    config: pytest.Config, nodeid: str, kube: Kube, then: Callable[[LabNamespace], object]
) -> None:
    """Create the namespace of the scenario ``nodeid`` (one of the next to run) in the
    background and call ``then`` with it (what ``then`` raises is logged: the scenario meets it
    again); the scenario's ``namespace`` fixture takes it over."""

    def work() -> LabNamespace:
        ns = _new_namespace(config, kube)
        try:
            then(ns)
        except Exception as exc:  # noqa: BLE001  (the scenario's own steps fail with diagnostics)
            log.warning("preparing %s stopped: %s", ns.name, exc)
        return ns

    prepared = config.stash.setdefault(PREPARED, {})
    if nodeid in prepared:  # asked for again by the scenario before it: made once
        return
    if PREPARER not in config.stash:
        config.stash[PREPARER] = ThreadPoolExecutor(PREPARERS, thread_name_prefix="kubelab-prepare")
    prepared[nodeid] = config.stash[PREPARER].submit(work)


@pytest.fixture
def namespace(kube: Kube, request: pytest.FixtureRequest) -> Iterator[LabNamespace]:
    """A fresh namespace for one scenario (made while the previous one ran, when it could be:
    see ``prepare_namespace``), deleted afterwards (see --keep-namespace)."""
    prepared = request.config.stash.get(PREPARED, {}).pop(request.node.nodeid, None)
    ns = prepared.result() if prepared else _new_namespace(request.config, kube)
    name = ns.name
    created = request.config.stash[CREATED]
    yield ns
    keep = request.config.getoption("--keep-namespace")
    if keep == "always" or (keep == "on-failure" and request.node.stash.get(FAILED, False)):
        log.warning("keeping namespace %s", ns.name)
        created.remove(name)
        return
    # Deleted in the background while the next scenario runs; the run waits for all of them
    # at its end, and fails if any is left.
    ns.request_deletion()


@pytest.fixture
def lab(
    provider: Provider, namespace: LabNamespace, images: Images, request: pytest.FixtureRequest
) -> Lab:
    """The lab's operations in this scenario's namespace."""
    from kubelab.lab import Lab

    return Lab(provider, namespace, images, reports=reports_dir(request.config))


@pytest.hookimpl(optionalhook=True)  # pytest-bdd's hook
def pytest_bdd_before_step(request: pytest.FixtureRequest) -> None:
    """Collect what the step observes (kubelab records it) to show it under the step."""
    request.node.stash.setdefault(EVIDENCE, []).append(evidence.start())


@pytest.hookimpl(optionalhook=True)  # pytest-bdd's hook
def pytest_bdd_after_step() -> None:
    evidence.stop()


@pytest.hookimpl(optionalhook=True)  # pytest-bdd's hook
def pytest_bdd_step_error(request: pytest.FixtureRequest, **_: object) -> None:
    """Gather what explains a failing step, while its namespace still exists."""
    evidence.stop()
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
    context = _context(report) if item.config.stash.get(IN_PLAY, False) else None
    if context is not None:  # each step's evidence, and the scenario's place in the lab
        recorded = item.stash.get(EVIDENCE, [])
        for step, blocks in zip(context.scenario["steps"], recorded, strict=False):
            step["evidence"] = [block.as_dict() for block in blocks]
        context.scenario["order"] = item.session.items.index(item)
    if report.failed:
        item.stash[FAILED] = True
        text = item.stash.get(DIAGNOSTICS, None)
        if text is not None and call.when == "call":
            report.sections.append(("kubelab diagnostics", text))
            addsection = getattr(report.longrepr, "addsection", None)
            if addsection is not None:
                addsection("kubelab diagnostics", text)
    return report
