"""The run's collection as kubelab runs it: the change chapter only when asked, and the
scenarios in the lab's order."""

from __future__ import annotations

import pytest

from kubelab.plugin.bdd import step_names
from kubelab.plugin.options import asked_change


def in_lab_order(items: list[pytest.Item]) -> None:
    """Sort ``items`` in the lab's order (cluster, pods, services, ... clear), not the
    alphabetical order of the feature files; within a chapter, as written."""
    from kubelab import report

    items.sort(key=lambda item: report.chapter(m.name for m in item.iter_markers()))


def deselect_other_changes(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The change chapter's scenarios run only when asked, and then only the one asked for
    (pytest-bdd's --generate-missing sees them all: they are bound all the same)."""
    from kubelab.change import kind_of

    if getattr(config.option, "generate_missing", False):
        return
    asked = asked_change(config)
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        names = step_names(item) if item.get_closest_marker("change") else None
        kind = kind_of(names) if names is not None else None
        (dropped if names is not None and kind != asked else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
