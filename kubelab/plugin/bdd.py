"""The one adapter for pytest-bdd: the scenario an item runs, the record of a scenario a report
carries, and the Given steps ``given_ahead`` declares. Nothing else in kubelab's plugin imports
pytest-bdd, and this module imports it only when asked (the plugin loads also without kubelab's
test extra)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import pytest

if TYPE_CHECKING:
    from pytest_bdd.parser import Scenario
    from pytest_bdd.parsers import StepParser

# The parameter pytest-bdd gives every scenario's test function (its Examples row).
EXAMPLE = "_pytest_bdd_example"

P = ParamSpec("P")
T = TypeVar("T")


def given(
    parser: StepParser, target_fixture: str | None = None
) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """pytest-bdd's ``given`` for a step with ``parser``'s text (the step module that applies it
    gets the step, as with pytest-bdd's own)."""
    from pytest_bdd import given as bdd_given  # step modules import pytest-bdd; the plugin need not

    return bdd_given(parser, target_fixture=target_fixture)


def is_scenario(item: pytest.Item) -> bool:
    """``item`` is a pytest-bdd scenario."""
    return EXAMPLE in getattr(item, "fixturenames", ())


def report_context(rep: pytest.TestReport) -> Any:
    """pytest-bdd's record of the scenario behind ``rep`` (None for plain tests, and without
    pytest-bdd): its ``scenario`` (serialized, steps included) and the test's ``name``."""
    try:
        from pytest_bdd.reporting import test_report_context_registry
    except ImportError:  # kubelab without its test extra: no scenario anywhere
        return None
    return test_report_context_registry.get(rep)


def set_report_context(rep: pytest.TestReport, context: dict[str, Any]) -> None:
    """Give ``rep`` the scenario record ``context`` (from ``report_context``), as if pytest-bdd
    had run the scenario in this process."""
    from pytest_bdd.reporting import ReportContext, test_report_context_registry

    test_report_context_registry[rep] = ReportContext(**context)


def scenario_of(item: pytest.Item) -> Scenario | None:
    """The pytest-bdd scenario (examples filled in) that ``item`` runs; None for other tests."""
    from pytest_bdd.scenario import scenario_wrapper_template_registry

    function = getattr(item, "obj", None)
    template = scenario_wrapper_template_registry.get(function) if function else None
    if template is None:
        return None
    callspec = getattr(item, "callspec", None)
    return template.render(callspec.params.get(EXAMPLE, {}) if callspec else {})


def complete_record(item: pytest.Item, record: dict[str, Any] | None) -> dict[str, Any] | None:
    """pytest-bdd's ``record`` of the scenario ``item`` runs (from ``report_context``; None: the
    scenario never started, as when its setup failed or it was skipped) with every step of the
    scenario in it: those pytest-bdd never reached (it lists only steps it started, and after a
    failing one the rest) marked ``"ran": False``. None for other tests."""
    scenario = scenario_of(item)
    if scenario is None:
        return record
    from pytest_bdd.reporting import ScenarioReport, StepReport

    if record is None:
        record = dict(ScenarioReport(scenario).serialize())
    reached = len(record["steps"])
    record["steps"] = list(record["steps"]) + [
        {**StepReport(step).serialize(), "ran": False} for step in scenario.steps[reached:]
    ]
    return record


def step_names(item: pytest.Item) -> list[str] | None:
    """The step texts of the scenario ``item`` runs; None for other tests."""
    scenario = scenario_of(item)
    return [step.name for step in scenario.steps] if scenario is not None else None


def weight(item: pytest.Item) -> int:
    """A scenario's rough length: its When and Then steps (its Givens are made ahead)."""
    scenario = scenario_of(item)
    return sum(step.type != "given" for step in scenario.steps) if scenario else 1


def arguments(parser: StepParser, text: str) -> dict[str, Any] | None:
    """The arguments ``parser`` reads from the step text ``text``; None if it does not match."""
    if not parser.is_matching(text):
        return None
    return parser.parse_arguments(text) or {}
