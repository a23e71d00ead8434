"""Under pytest-xdist, each worker is sent its whole share of the lab at once.

xdist's default (``load``) sends a worker a scenario or two at a time, so a worker knows only its
next scenario and makes only that one ahead (kubelab.plugin.ahead). kubelab splits the scenarios into
one share per worker instead, balanced by their When and Then steps (their Givens are made
ahead), and sends each worker its whole share, which it runs in the lab's order and makes four
ahead of, as a serial run does (faster than ``--dist load``: docs/measurements.md).

The workers collect the scenarios; the controller, which schedules them, sees only node ids. So
each worker writes the split (the same: it depends only on the collection) to the file the
controller named before the worker reports its collection, and the controller's scheduler reads
it. xdist's ``--dist loadgroup`` would carry groups in the node ids, which pytest 9.2 no longer
lets it rename (pytest-dev/pytest-xdist#1386).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from xdist.scheduler import LoadScopeScheduling

SHARE = pytest.StashKey[int]()  # on a worker: the share a scenario is in


def split(weights: Sequence[int], workers: int) -> list[int]:
    """The share of each scenario: the heaviest first, each to the lightest share so far."""
    load = [0] * workers
    share = [0] * len(weights)
    for at in sorted(range(len(weights)), key=lambda at: -weights[at]):
        share[at] = load.index(min(load))
        load[share[at]] += weights[at]
    return share


def write(path: Path, shares: dict[str, int]) -> None:
    """Write the split for the controller (whole or not at all: every worker writes it)."""
    partial = path.with_name(f"{path.name}.{os.getpid()}")
    partial.write_text(json.dumps(shares))
    partial.replace(path)


class ShareScheduling(LoadScopeScheduling):
    """xdist's scope scheduling with one scope per share: a worker is sent a whole share."""

    def __init__(self, config: pytest.Config, log: Any, path: Path) -> None:
        super().__init__(config, log)
        self._path = path
        self._shares: dict[str, int] | None = None

    def _split_scope(self, nodeid: str) -> str:
        if self._shares is None:  # every worker wrote it before it reported its collection
            self._shares = json.loads(self._path.read_text())
        return f"kubelab share {self._shares[nodeid]}"
