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

from steps.ahead import ahead

calls = []


class Lab:
    def start_pod(self, name):
        calls.append(f"start {name}")

    def run_pod(self, name):
        calls.append(f"wait {name}")


@pytest.fixture
def lab():
    return Lab()


RUNNING = ahead(parsers.parse("the {pod} pod is running"), lambda lab, pod: lab.start_pod(pod))


@given(RUNNING)
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


def test_given_steps_start_what_they_need_before_the_first_step(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parents[1]))  # for steps/
    pytester.makefile(".feature", pods=FEATURE)
    pytester.makepyfile(test_pods=STEPS)
    pytester.makeconftest('pytest_plugins = ["steps.ahead"]')
    result = pytester.runpytest_subprocess("-p", "no:kubelab", "-q")
    result.assert_outcomes(passed=1)
