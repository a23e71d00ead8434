"""Make-ahead: before a scenario's first step, everything its Given steps will need is started
at once, in their order, and the next scenarios' namespaces and Given objects are made while it
runs; each Given step then waits for its own state.

A Given is a state, so its step still creates what is missing and waits until the state holds;
starting early only lets the waits overlap (two pods start side by side, not one after the
other). A Given that can be started ahead is declared once, with what starts it
(``given_ahead``, for step modules of the lab and of its users alike).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import pytest

from kubelab.plugin import bdd, namespaces
from kubelab.plugin.bdd import arguments, scenario_of

if TYPE_CHECKING:
    from kubelab.cluster.base import Provider
    from kubelab.images import Images
    from kubelab.lab import Lab
    from kubelab.namespace import LabNamespace
    from kubelab.plugin.bdd import Scenario, StepParser

log = logging.getLogger("kubelab")

Start = Callable[..., None]
Starts = list[tuple[Start, dict[str, Any]]]
STARTS: list[tuple[StepParser, Start]] = []

NEXT = pytest.StashKey[pytest.Item | None]()
# Scenarios made ahead of the one running. Four: most scenarios take less time than their pods
# take to start, and fewer ahead (or one thread making them, PREPARERS) leaves scenarios waiting
# for their pods (docs/measurements.md). An xdist worker makes ahead in its share (kubelab.shares).
AHEAD = 4


P = ParamSpec("P")
T = TypeVar("T")


def given_ahead(
    parser: StepParser, start: Start, target_fixture: str | None = None
) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """A Given step with ``parser``'s text whose state ``start(lab, **arguments)`` starts before
    the scenario runs (and while the one before it runs); the step itself waits for it."""
    STARTS.append((parser, start))
    return bdd.given(parser, target_fixture=target_fixture)


def remember_next(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """Note the test that runs after ``item`` (pytest knows it only while ``item`` runs)."""
    item.stash[NEXT] = nextitem


def following(item: pytest.Item) -> list[pytest.Item]:
    """The scenarios that run after ``item`` in this process, as far as it can be known."""
    from kubelab.shares import SHARE

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


def _starts(scenario: Scenario) -> Starts:
    """What ``scenario``'s Given steps can start, in their order."""
    starts: Starts = []
    for step in scenario.steps:
        if step.type != "given":
            continue
        for parser, start in STARTS:
            found = arguments(parser, step.name)
            if found is not None:
                starts.append((start, found))
                break
    return starts


def _starts_of(item: pytest.Item) -> Starts:
    """What the Given steps of the scenario that ``item`` runs can start."""
    scenario = scenario_of(item)
    return _starts(scenario) if scenario is not None else []


def _start(lab: Lab, starts: Starts) -> None:
    """Start ``starts`` in the lab's namespace, in order; stop at the first problem."""
    from kubernetes.client.rest import ApiException

    from kubelab.errors import KubelabError

    for start, args in starts:
        try:
            start(lab, **args)
        except (KubelabError, ApiException) as exc:
            # The Given step meets the same problem, and fails with the diagnostics.
            log.warning("starting ahead in %s stopped: %s", lab.ns.name, exc)
            return


def _start_in(provider: Provider, images: Images, starts: Starts, ns: LabNamespace) -> None:
    """``_start`` in namespace ``ns`` (one made ahead), on the run's cluster."""
    from kubelab.lab import Lab

    _start(Lab(provider, ns, images), starts)


def before_scenario(request: pytest.FixtureRequest, scenario: Scenario) -> None:
    """Start what ``scenario``'s Givens need, then make the next scenarios' namespaces and
    Given objects in the background (nothing when no Given is declared to be made ahead)."""
    if not STARTS:
        return
    starts = _starts(scenario)
    if starts:
        # what a namespace made ahead (below) already has is not made again
        _start(request.getfixturevalue("lab"), starts)
    # The next scenarios' namespaces and Given objects are made while this one runs, also when
    # this one needs no namespace: their pods start meanwhile, each in a namespace of its own,
    # so their state is as fresh as ever.
    ahead = [(item, found) for item in following(request.node) if (found := _starts_of(item))]
    if not ahead:
        return
    provider, images = request.getfixturevalue("provider"), request.getfixturevalue("images")
    kube = request.getfixturevalue("kube")
    for item, starts_next in ahead:
        namespaces.prepare_namespace(
            request.config, item.nodeid, kube, partial(_start_in, provider, images, starts_next)
        )
