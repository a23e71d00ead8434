"""Given steps start together: before a scenario's first step, everything its Given steps will
need is created at once, in their order; each Given step then waits for its own state.

A Given is a state, so its step still creates what is missing and waits until the state holds;
starting early only lets the waits overlap (two pods start side by side, not one after the other).
The next scenario's namespace, and what its Given steps need, are made while a scenario runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from kubernetes.client.rest import ApiException
from pytest_bdd import parsers
from pytest_bdd.parser import Feature, Scenario

from kubelab.cluster.base import Provider
from kubelab.errors import KubelabError
from kubelab.images import Images
from kubelab.lab import Lab
from kubelab.namespace import LabNamespace
from kubelab.plugin.bdd import scenario_of
from kubelab.plugin.namespaces import prepare_namespace
from kubelab.shares import SHARE

log = logging.getLogger(__name__)

Start = Callable[..., None]
STARTS: list[tuple[parsers.StepParser, Start]] = []


def ahead(parser: parsers.StepParser, start: Start) -> parsers.StepParser:
    """Register what a Given step with ``parser``'s text can start before the scenario runs;
    return the parser for the step's own decorator."""
    STARTS.append((parser, start))
    return parser


NEXT = pytest.StashKey[pytest.Item | None]()
# Scenarios made ahead of the one running. Four: most scenarios take a second or two, less than
# their pods take to start. On a warm local cluster, alternating runs: four ahead with two
# threads making them (kubelab's PREPARERS) 55.5 and 55.8 s, three 58.4 and 60.5 s, two with one
# thread 60.8 and 65.9 s. An xdist worker makes ahead in its share (kubelab.shares).
AHEAD = 4


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    item.stash[NEXT] = nextitem
    return (yield)


def _following(item: pytest.Item) -> list[pytest.Item]:
    """The scenarios that run after ``item`` in this process, as far as it can be known."""
    nextitem = item.stash.get(NEXT, None)
    if nextitem is None:
        return []
    items = item.session.items
    if hasattr(item.config, "workerinput"):  # an xdist worker: its share, if it was sent one
        share = item.stash.get(SHARE, None)
        items = [i for i in items if share is not None and i.stash.get(SHARE, None) == share]
    if nextitem not in items:
        return [nextitem]
    at = items.index(nextitem)
    return items[at : at + AHEAD]


def _starts(scenario: Scenario) -> list[tuple[Start, dict[str, Any]]]:
    """What ``scenario``'s Given steps can start, in their order."""
    starts: list[tuple[Start, dict[str, Any]]] = []
    for step in scenario.steps:
        if step.type != "given":
            continue
        for parser, start in STARTS:
            if parser.is_matching(step.name):
                starts.append((start, parser.parse_arguments(step.name) or {}))
                break
    return starts


def _start(lab: Lab, starts: list[tuple[Start, dict[str, Any]]]) -> None:
    for start, arguments in starts:
        try:
            start(lab, **arguments)
        except (KubelabError, ApiException) as exc:
            # The Given step meets the same problem, and fails with the diagnostics.
            log.warning("starting ahead in %s stopped: %s", lab.ns.name, exc)
            return


def _start_in(
    provider: Provider, images: Images, starts: list[tuple[Start, dict[str, Any]]], ns: LabNamespace
) -> None:
    """``_start`` in namespace ``ns`` (one made ahead), on the run's cluster."""
    _start(Lab(provider, ns, images), starts)


def _starts_of(item: pytest.Item) -> list[tuple[Start, dict[str, Any]]]:
    """What the Given steps of the scenario that ``item`` runs can start."""
    scenario = scenario_of(item)
    return _starts(scenario) if scenario is not None else []


def pytest_bdd_before_scenario(
    request: pytest.FixtureRequest, feature: Feature, scenario: Scenario
) -> None:
    starts = _starts(scenario)
    if starts:
        # what a namespace made ahead (below) already has is not made again
        _start(request.getfixturevalue("lab"), starts)
    # The next scenarios' namespaces and Given objects are made while this one runs, also when
    # this one needs no namespace: their pods start meanwhile, each in a namespace of its own,
    # so their state is as fresh as ever.
    following = [(item, found) for item in _following(request.node) if (found := _starts_of(item))]
    if not following:
        return
    provider, images = request.getfixturevalue("provider"), request.getfixturevalue("images")
    kube = request.getfixturevalue("kube")
    for item, starts_next in following:
        prepare_namespace(
            request.config, item.nodeid, kube, partial(_start_in, provider, images, starts_next)
        )
