"""What each step observed, recorded while it runs, for the living documentation.

kubelab's operations call :func:`record` with what the cluster answered (the nodes, the pods
with their node and IP, the web app's answers, ...). Whoever runs a step (the pytest plugin)
calls :func:`start` before it and :func:`stop` after it, and shows the blocks under the step, as
the seed shows its console output. Outside a step, recording only logs.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the pytest plugin imports this module in every pytest session
    from kubernetes import client

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Block:
    """One observation: what was looked at, and what it showed (console-like text, or a
    picture saved at ``image``)."""

    title: str
    text: str
    image: str | None = None

    def as_dict(self) -> dict[str, str]:
        """A JSON-ready form, for reports and for crossing from an xdist worker."""
        return {
            "title": self.title,
            "text": self.text,
            **({"image": self.image} if self.image else {}),
        }


_blocks: ContextVar[list[Block] | None] = ContextVar("kubelab_evidence", default=None)


def start() -> list[Block]:
    """From now on, collect what is recorded into the returned list (a step begins)."""
    blocks: list[Block] = []
    _blocks.set(blocks)
    return blocks


def stop() -> None:
    """Stop collecting (a step ended)."""
    _blocks.set(None)


def record(title: str, text: str) -> None:
    """Record an observation for the step running now (and log it)."""
    log.info("%s\n%s", title, text)
    blocks = _blocks.get()
    if blocks is not None:
        blocks.append(Block(title, text.rstrip("\n")))


def picture(title: str, path: Path, caption: str = "") -> None:
    """Record a picture saved at ``path`` (with a line of text saying what it shows)."""
    log.info("%s: %s", title, path)
    blocks = _blocks.get()
    if blocks is not None:
        blocks.append(Block(title, caption or str(path), image=str(path)))


def table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """Columns aligned the way kubectl aligns them (three spaces between columns)."""
    cells = [list(header), *([str(c) for c in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return "\n".join(
        "   ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    )


def clock(at: float) -> str:
    """A wall-clock time as the lab's logs show it: UTC, to the millisecond."""
    return datetime.datetime.fromtimestamp(at, datetime.UTC).strftime("%H:%M:%S.%f")[:-3]


def age(since: datetime.datetime | None) -> str:
    """How long ago ``since`` was, as kubectl's AGE column says it (``42s``, ``3m``)."""
    if since is None:
        return "<unknown>"
    seconds = int((datetime.datetime.now(datetime.UTC) - since).total_seconds())
    if seconds < 120:
        return f"{max(seconds, 0)}s"
    return f"{seconds // 60}m" if seconds < 7200 else f"{seconds // 3600}h"


def _ready(pod: client.V1Pod) -> str:
    statuses = pod.status.container_statuses or []
    return f"{sum(1 for s in statuses if s.ready)}/{len(pod.spec.containers)}"


def _status(pod: client.V1Pod) -> str:
    if pod.metadata.deletion_timestamp is not None:
        return "Terminating"
    for status in pod.status.container_statuses or []:
        if status.state and status.state.waiting and status.state.waiting.reason:
            return str(status.state.waiting.reason)
    return str(pod.status.phase)


def _controller(pod: client.V1Pod) -> str:
    refs = [r for r in pod.metadata.owner_references or [] if r.controller]
    return ", ".join(f"{r.kind}/{r.name}" for r in refs) or "<none>"


def pods_table(pods: Iterable[client.V1Pod], owners: bool = False) -> str:
    """The pods as ``kubectl get pods -o wide`` lists them (and who controls each)."""
    header = ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE"]
    rows = []
    for pod in sorted(pods, key=lambda p: p.metadata.name):
        restarts = sum(s.restart_count for s in pod.status.container_statuses or [])
        row = [
            pod.metadata.name,
            _ready(pod),
            _status(pod),
            restarts,
            age(pod.metadata.creation_timestamp),
            pod.status.pod_ip or "<none>",
            pod.spec.node_name or "<none>",
        ]
        rows.append([*row, _controller(pod)] if owners else row)
    return table([*header, "CONTROLLED BY"] if owners else header, rows)
