"""Given steps that can be made ahead, declared once: the step's text, what starts its state
ahead of the scenario, and the step itself (kubelab.plugin.ahead runs the starts)."""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec, TypeVar

from pytest_bdd import given, parsers

from kubelab.plugin import ahead

P = ParamSpec("P")
T = TypeVar("T")


def given_ahead(
    parser: parsers.StepParser, start: ahead.Start, target_fixture: str | None = None
) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """A Given step with ``parser``'s text whose state ``start(lab, **arguments)`` starts before
    the scenario runs (and while the one before it runs); the step itself waits for it."""
    ahead.register(parser, start)
    return given(parser, target_fixture=target_fixture)
