"""Given steps start together: before a scenario's first step, everything its Given steps will
need is created at once, in their order; each Given step then waits for its own state.

A Given is a state, so its step still creates what is missing and waits until the state holds;
starting early only lets the waits overlap (two pods start side by side, not one after the other).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes.client.rest import ApiException
from pytest_bdd import parsers
from pytest_bdd.parser import Feature, Scenario

from kubelab.errors import KubelabError
from kubelab.lab import Lab

log = logging.getLogger(__name__)

Start = Callable[..., None]
STARTS: list[tuple[parsers.StepParser, Start]] = []


def ahead(parser: parsers.StepParser, start: Start) -> parsers.StepParser:
    """Register what a Given step with ``parser``'s text can start before the scenario runs;
    return the parser for the step's own decorator."""
    STARTS.append((parser, start))
    return parser


def pytest_bdd_before_scenario(
    request: pytest.FixtureRequest, feature: Feature, scenario: Scenario
) -> None:
    starts: list[tuple[Start, dict[str, Any]]] = []
    for step in scenario.steps:
        if step.type != "given":
            continue
        for parser, start in STARTS:
            if parser.is_matching(step.name):
                starts.append((start, parser.parse_arguments(step.name) or {}))
                break
    if starts:
        lab: Lab = request.getfixturevalue("lab")
        for start, arguments in starts:
            try:
                start(lab, **arguments)
            except (KubelabError, ApiException) as exc:
                # The Given step meets the same problem, and fails with the diagnostics.
                log.warning("starting ahead stopped: %s", exc)
                return
