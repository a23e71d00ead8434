"""kubelab as a pytest plugin: another project installs kubelab and writes its own features.

The temporary project below is the README's example, run by pytester in a subprocess (so the
plugin is found through its ``pytest11`` entry point, not through any conftest) against the
stand-in API server of tests/stand_in_api.py.
"""

from __future__ import annotations

import pytest

from tests.stand_in_api import kubeconfig, serve

FEATURE = """\
Feature: My cluster
  Scenario: Every node is Ready
    Given a namespace of my own
    Then every node is Ready
"""

STEPS = """\
from pytest_bdd import given, scenarios, then
from kubelab import checks

scenarios("nodes.feature")

@given("a namespace of my own")
def _(namespace):
    assert namespace.name.startswith("kubelab-")

@then("every node is Ready")
def _(kube):
    assert checks.nodes_not_ready(kube) == []
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makefile(".feature", nodes=FEATURE)
    pytester.makepyfile(test_nodes=STEPS)
    return pytester


def test_another_project_runs_its_own_features_on_the_cluster(project, tmp_path):
    with serve() as url:
        result = project.runpytest_subprocess(
            "--cluster=existing",
            f"--kubeconfig={kubeconfig(tmp_path, url)}",
            "-p",
            "no:cacheprovider",
        )
    result.assert_outcomes(passed=1)


def test_the_plugin_registers_its_options(project):
    result = project.runpytest_subprocess("--help")
    result.stdout.fnmatch_lines(["kubelab: the cluster the lab runs on:", "*--cluster=CLUSTER*"])


def test_a_plain_test_run_sets_up_no_cluster(pytester):
    pytester.makepyfile(test_plain="def test_one():\n    assert True\n")
    result = pytester.runpytest_subprocess("--cluster=existing", "--kubeconfig=/nonexistent")
    result.assert_outcomes(passed=1)
