"""Given steps start together: everything a scenario's Given steps need is started before its
first step, in their order; each Given step then waits for its own state."""

from __future__ import annotations

from pathlib import Path

import pytest

FEATURE = """\
Feature: Two pods
  Background:
    Given the redis pod is running

  Scenario: Both pods run
    Given the web pod is running
    And the lab cluster
    When I look
    Then I saw it
"""

STEPS = """\
import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from kubelab.plugin.ahead import given_ahead

calls = []


class Lab:
    def start_pod(self, name):
        calls.append(f"start {name}")

    def run_pod(self, name):
        calls.append(f"wait {name}")


@pytest.fixture
def lab():
    return Lab()


@given_ahead(parsers.parse("the {pod} pod is running"), lambda lab, pod: lab.start_pod(pod))
def _(lab, pod):
    lab.run_pod(pod)


@given("the lab cluster")
def _():
    calls.append("cluster")


@when("I look")
def _():
    calls.append("look")


@then("I saw it")
def _():
    assert calls == [
        "start redis", "start web", "wait redis", "wait web", "cluster", "look"
    ], calls


scenarios("pods.feature")
"""


def _run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, name: str, feature: str, steps: str
) -> pytest.RunResult:
    """Run ``feature`` with ``steps`` and kubelab.plugin.ahead's given_ahead, on kubelab's plugin
    (no cluster: the steps' own fixtures stand in for kubelab's)."""
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parents[1]))  # for steps/
    pytester.makefile(".feature", **{name: feature})
    pytester.makepyfile(**{f"test_{name}": steps})
    return pytester.runpytest_subprocess("-q")


def test_given_steps_start_what_they_need_before_the_first_step(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    _run(pytester, monkeypatch, "pods", FEATURE, STEPS).assert_outcomes(passed=1)


TWO_FEATURE = """\
Feature: Two scenarios
  Scenario: Zeroth
    Given the lab cluster
    Then the next scenarios' pods were made ahead, though this one needs no namespace

  Scenario: First
    Given the lab cluster
    And the redis pod is running
    Then the next scenario's pods were made ahead, in a namespace of their own

  Scenario: Second
    Given the redis pod is running
    And the web pod is running
    Then the one after it was asked for again (kubelab's prepare_namespace makes it once)

  Scenario: Third
    Given the web pod is running
    Then nothing more was made ahead: no scenario follows
"""

TWO_STEPS = """\
from pathlib import Path

import pytest
from pytest_bdd import given, parsers, scenarios, then

import kubelab.plugin.namespaces
from kubelab.cluster.select import DEFAULT_IMAGES
from kubelab.plugin.ahead import given_ahead

prepared = []


class Namespace:
    kube = None

    def __init__(self, name):
        self.name, self.made = name, []

    def get(self, kind, name):
        return None

    def apply(self, manifest):
        self.made.append(manifest["metadata"]["name"])


def prepare(config, nodeid, kube, then):  # stands in for kubelab's (no cluster here)
    ns = Namespace("made-ahead")
    then(ns)
    prepared.append((nodeid.split("::")[-1], ns.name, ns.made))


kubelab.plugin.namespaces.prepare_namespace = prepare


class Lab:
    provider, images, reports = None, DEFAULT_IMAGES, Path(".")

    def __init__(self):
        self.ns = Namespace("this-one")

    def start_pod(self, name):
        pass


@pytest.fixture
def lab():
    return Lab()


@pytest.fixture
def provider():  # what a namespace made ahead is given; kubelab's fixtures stand in here
    return None


@pytest.fixture
def images():
    return DEFAULT_IMAGES


@pytest.fixture
def kube():
    return None


@given_ahead(parsers.parse("the {pod} pod is running"), lambda lab, pod: lab.start_pod(pod))
def _(pod):
    pass


@given("the lab cluster")
def _():
    pass


FIRST = ("test_first", "made-ahead", ["redis"])
SECOND = ("test_second", "made-ahead", ["redis", "web"])
THIRD = ("test_third", "made-ahead", ["web"])
ZEROTH_MADE = [FIRST, SECOND, THIRD]  # the next three (AHEAD is more): all that follow


@then("the next scenarios' pods were made ahead, though this one needs no namespace")
def _():
    assert prepared == ZEROTH_MADE, prepared


@then("the next scenario's pods were made ahead, in a namespace of their own")
def _():
    assert prepared == [*ZEROTH_MADE, SECOND, THIRD], prepared


@then("the one after it was asked for again (kubelab's prepare_namespace makes it once)")
def _():
    assert prepared == [*ZEROTH_MADE, SECOND, THIRD, THIRD], prepared


@then("nothing more was made ahead: no scenario follows")
def _():
    assert prepared == [*ZEROTH_MADE, SECOND, THIRD, THIRD], prepared


scenarios("two.feature")
"""


def test_the_next_scenarios_given_objects_are_made_while_a_scenario_runs(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    _run(pytester, monkeypatch, "two", TWO_FEATURE, TWO_STEPS).assert_outcomes(passed=4)


def test_an_xdist_worker_makes_ahead_in_its_own_share_only() -> None:
    """A worker sent a share (kubelab.shares) makes ahead the next of its share; a worker
    without one only the scenario it was sent next."""
    from types import SimpleNamespace

    from kubelab.plugin.ahead import AHEAD, NEXT, following
    from kubelab.shares import SHARE

    session = SimpleNamespace(items=[])
    config = SimpleNamespace(workerinput={"workerid": "gw0"})
    items = [SimpleNamespace(stash=pytest.Stash(), session=session, config=config) for _ in "x" * 9]
    session.items.extend(items)
    for item, share in zip(items, (0, 1, 0, 1, 0, 0, 0, 0, 1), strict=True):
        item.stash[SHARE] = share
    items[0].stash[NEXT] = items[2]
    assert AHEAD == 4
    assert following(items[0]) == [items[2], items[4], items[5], items[6]]
    items[1].stash[NEXT] = items[3]
    assert following(items[1]) == [items[3], items[8]]
    alone = SimpleNamespace(stash=pytest.Stash(), session=session, config=config)
    alone.stash[NEXT] = items[5]
    assert following(alone) == [items[5]]
