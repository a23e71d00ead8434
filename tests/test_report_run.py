"""A pytest-bdd run with kubelab's plugin, serially and under xdist: every report in the lab's
order, every scenario in the cucumber JSON, each step's evidence in it. The steps record their
own evidence; the cluster is the stand-in API server of tests/stand_in_api.py."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.stand_in_api import kubeconfig, serve

ROOT = Path(__file__).resolve().parents[1]

# Alphabetically the clear chapter comes first; the lab's order puts it last.
FEATURES = {
    "a_clear.feature": """@clear
Feature: Clear
  Deleting `everything`.

  Scenario: Nothing is left
    Given a step that sees "nothing left"
""",
    "b_cluster.feature": """@cluster
Feature: Cluster
  Nodes first.

  Scenario: Nodes are ready
    Given a step that sees "3 nodes"
    Then a step that sees "all Ready"

  Scenario: Versions are reported
    Given a step that sees "v1.34.4"
    Then it fails on purpose
""",
    "c_pods.feature": """@pods
Feature: Pods
  Then pods.

  Scenario Outline: The <pod> pod runs
    Given a step that sees "<pod> running"

    Examples:
      | pod   |
      | redis |
      | web   |
""",
}

STEPS = """
from pytest_bdd import given, parsers, scenarios, then

from kubelab import evidence

scenarios("../features")


@given(parsers.parse('a step that sees "{text}"'))
def _(text):
    evidence.record("what the step saw", text)


@then(parsers.parse('a step that sees "{text}"'))
def _(text):
    evidence.record("what the step saw", text)


@then("it fails on purpose")
def _():
    evidence.record("before failing", "this much was seen")
    raise AssertionError("on purpose")
"""

LAB_ORDER = [
    "Nodes are ready",
    "Versions are reported",
    "The redis pod runs",
    "The web pod runs",
    "Nothing is left",
]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("project")
    (root / "features").mkdir()
    for name, text in FEATURES.items():
        (root / "features" / name).write_text(text)
    (root / "docs").mkdir()
    (root / "docs" / "test_docs.py").write_text(STEPS)
    markers = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"][
        "markers"
    ]
    (root / "pytest.ini").write_text(
        "[pytest]\naddopts = --strict-markers -p no:cacheprovider\n"
        "bdd_features_base_dir = features\nkubelab_paths = docs\nmarkers =\n"
        + "".join(f"    {m}\n" for m in markers)
    )
    return root


def run(project: Path, name: str, *extra: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    out = project / name
    with serve() as api:
        config = kubeconfig(project, api.url)
        result = _pytest(project, out, "--cluster=existing", f"--kubeconfig={config}", *extra)
    assert result.returncode == 1, result.stdout + result.stderr  # one scenario fails on purpose
    return result, out


def _pytest(project: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "docs",
            "-v",
            "--check-report=no",
            f"--reports-dir={out}",
            f"--cucumberjson={out}/cucumber.json",
            f"--junitxml={out}/junit.xml",
            *extra,
        ],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


@pytest.fixture(scope="module", params=["serial", "xdist"])
def done(request: pytest.FixtureRequest, project: Path) -> Path:
    extra = ("-n", "2") if request.param == "xdist" else ("-p", "no:xdist")
    return run(project, request.param, *extra)[1]


def test_cucumber_json_holds_every_scenario_in_lab_order(done: Path):
    features = json.loads((done / "cucumber.json").read_text())
    assert [e["name"] for f in features for e in f["elements"]] == LAB_ORDER


def test_cucumber_json_has_each_steps_evidence_as_output(done: Path):
    features = json.loads((done / "cucumber.json").read_text())
    first, failing = features[0]["elements"]
    assert [s["output"] for s in first["steps"]] == [
        ["what the step saw\n3 nodes"],
        ["what the step saw\nall Ready"],
    ]
    assert [s["result"]["status"] for s in failing["steps"]] == ["passed", "failed"]
    assert failing["steps"][1]["output"] == ["before failing\nthis much was seen"]
    assert "on purpose" in failing["steps"][1]["result"]["error_message"]


def test_junit_in_lab_order(done: Path):
    cases = [c.get("name") for c in ET.parse(done / "junit.xml").getroot().iter("testcase")]
    assert cases == [
        "test_nodes_are_ready",
        "test_versions_are_reported",
        "test_the_pod_pod_runs[redis]",
        "test_the_pod_pod_runs[web]",
        "test_nothing_is_left",
    ]


def test_the_page_in_lab_order_with_evidence_and_markdown(done: Path):
    page = (done / "lab.html").read_text()
    positions = [page.index(f"<h3>{name} ") for name in LAB_ORDER]
    assert positions == sorted(positions)
    assert '<pre class="console">nothing left</pre>' in page
    assert "Deleting <code>everything</code>." in page


def test_collection_and_terminal_follow_the_lab(project: Path):
    result, _ = run(project, "terminal", "-p", "no:xdist")
    shown = [
        line.split("::")[1].split(" ")[0]
        for line in result.stdout.splitlines()
        if line.startswith("docs/test_docs.py::")
    ]
    assert shown == [
        "test_nodes_are_ready",
        "test_versions_are_reported",
        "test_the_pod_pod_runs[redis]",
        "test_the_pod_pod_runs[web]",
        "test_nothing_is_left",
    ], result.stdout


# Scenarios that fail or skip outside their steps: the cucumber JSON says so, as JUnit does.
PHASES_FEATURE = """@cluster
Feature: Phases
  Outside the steps.

  Scenario: Its setup fails
    Given a step that sees "never"
    Then a step that sees "never either"

  Scenario: Its teardown fails
    Given a step that sees "ran"
    Then a step that sees "ran too"

  Scenario: It is skipped
    Given a step that sees "never"

  Scenario: A step skips it
    Given a step that sees "ran"
    Then it skips
    Then a step that sees "never"
"""

PHASES_STEPS = (
    STEPS
    + """

@then("it skips")
def _():
    pytest.skip("no node shell on this provider")
"""
).replace("from pytest_bdd", "import pytest\nfrom pytest_bdd", 1)

PHASES_CONFTEST = """
import pytest


@pytest.fixture(autouse=True)
def _phases(request):
    if request.node.name == "test_its_setup_fails":
        raise RuntimeError("the namespace could not be made")
    yield
    if request.node.name == "test_its_teardown_fails":
        raise AssertionError("left behind: pod web")


def pytest_collection_modifyitems(items):
    for item in items:
        if item.name == "test_it_is_skipped":
            item.add_marker(pytest.mark.skip(reason="not on this provider"))
"""


@pytest.fixture(scope="module", params=["serial", "xdist"])
def phases(
    request: pytest.FixtureRequest, project: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict]:
    root = tmp_path_factory.mktemp("phases")
    (root / "features").mkdir()
    (root / "features" / "phases.feature").write_text(PHASES_FEATURE)
    (root / "docs").mkdir()
    (root / "docs" / "test_docs.py").write_text(PHASES_STEPS)
    (root / "docs" / "conftest.py").write_text(PHASES_CONFTEST)
    (root / "pytest.ini").write_text((project / "pytest.ini").read_text())
    extra = ("-n", "2") if request.param == "xdist" else ("-p", "no:xdist")
    out = root / request.param
    with serve() as api:
        config = kubeconfig(root, api.url)
        result = _pytest(root, out, "--cluster=existing", f"--kubeconfig={config}", *extra)
    assert "1 passed, 2 skipped, 2 errors" in result.stdout, result.stdout + result.stderr
    features = json.loads((out / "cucumber.json").read_text())
    return {e["name"]: e for f in features for e in f["elements"]}


def statuses(element: dict) -> list[str]:
    return [s["result"]["status"] for s in element["steps"]]


def failed_hook(element: dict, side: str) -> str:
    """The error of the scenario's one hook on ``side`` ("before" or "after"), which failed;
    checks that it has no hook on the other side."""
    [hook] = element[side]
    assert hook["result"]["status"] == "failed"
    assert ({"before", "after"} - {side}).isdisjoint(element), element.keys()
    return hook["result"]["error_message"]


def test_a_scenario_whose_setup_failed_has_a_failed_before_hook_and_no_step_run(phases):
    element = phases["Its setup fails"]
    assert statuses(element) == ["skipped", "skipped"]
    assert "RuntimeError: the namespace could not be made" in failed_hook(element, "before")


def test_a_scenario_whose_teardown_failed_has_a_failed_after_hook(phases):
    element = phases["Its teardown fails"]
    assert statuses(element) == ["passed", "passed"]
    assert "AssertionError: left behind: pod web" in failed_hook(element, "after")


def test_a_skipped_scenario_has_every_step_skipped(phases):
    assert statuses(phases["It is skipped"]) == ["skipped"]
    assert statuses(phases["A step skips it"]) == ["passed", "skipped", "skipped"]
    assert not {"before", "after"} & (
        phases["It is skipped"].keys() | phases["A step skips it"].keys()
    )
