"""A rollout or a change of the cluster as a picture: answers per second by version and failures,
web pods over time, when each pod started, became ready and exited, and (a change) each node's
steps as bands."""

from __future__ import annotations

import functools
import itertools
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubelab import evidence
from kubelab.podwatch import PodCount, PodLife
from kubelab.traffic import Record

log = logging.getLogger(__name__)

FAILED = "failed"


@dataclass(frozen=True)
class Band:
    """One step of a change on one node (``node`` may be ``cluster``): wall-clock times."""

    node: str
    step: str
    start: float
    end: float


# Failures have their own colour, never one a version could get.
COLOURS = {"1.0": "#4878d0", "2.0": "#6acc64", FAILED: "#d62728"}
OTHER_COLOURS = ["#956cb4", "#8c613c", "#dc7ec0", "#797979"]
SHORTEST_BIN = 0.25  # a last partial second shorter than this joins the one before it
# A change's steps by kind (the words a step's name starts with), each its own colour.
CONTROL_PLANE_COLOUR = "#8172b3"
STEP_COLOURS = {
    "cordon": "#ccb974",
    "drain": "#dd8452",
    "uncordon": "#64b5cd",
    "kubelet": "#4c72b0",
    "kube-proxy": "#55a868",
    "containerd": "#c44e52",
    "coredns": "#da8bc3",
    "etcd": CONTROL_PLANE_COLOUR,
    "kube-apiserver": CONTROL_PLANE_COLOUR,
    "kube-controller-manager": CONTROL_PLANE_COLOUR,
    "kube-scheduler": CONTROL_PLANE_COLOUR,
}
OTHER_STEP = "#937860"
# Pictures to draw at the end of the run: drawn then, while the run waits for its namespaces to
# go, they cost the scenarios nothing (matplotlib's import included).
_PENDING: list[Callable[[], Path]] = []


def bins(duration: float) -> list[tuple[float, float]]:
    """Whole seconds from 0, the last one ending at ``duration`` (a short rest joins it)."""
    edges = [float(s) for s in range(int(duration) + 1)]
    if duration - edges[-1] >= SHORTEST_BIN or len(edges) == 1:
        edges.append(duration)
    else:
        edges[-1] = duration
    return [(a, b) for a, b in itertools.pairwise(edges) if b > a] or [(0.0, max(duration, 1e-3))]


def rates(record: Record) -> dict[str, list[float]]:
    """Answers per second in each of :func:`bins`, per version and for failures: a count over
    the bin's own width, so the last, partial second shows no drop."""
    spans = bins(record.duration)
    counts: dict[str, list[int]] = defaultdict(lambda: [0] * len(spans))
    for request in record.requests:
        label = (request.version or "?") if request.ok else FAILED
        index = next((i for i, (_, end) in enumerate(spans) if request.sent < end), len(spans) - 1)
        counts[label][index] += 1
    return {
        label: [n / (end - start) for n, (start, end) in zip(values, spans, strict=True)]
        for label, values in counts.items()
    }


def _colour(label: str, others: list[str]) -> str:
    if label in COLOURS:
        return COLOURS[label]
    if label not in others:
        others.append(label)
    return OTHER_COLOURS[others.index(label) % len(OTHER_COLOURS)]


def _short(name: str) -> str:
    parts = name.split("-")
    return f"{parts[0]}-…-{parts[-1]}" if len(parts) > 2 and len(name) > 24 else name


def draw(
    record: Record,
    counts: Sequence[PodCount],
    title: str,
    path: Path,
    lives: Sequence[tuple[PodLife, str]] = (),
    bands: Sequence[Band] = (),
) -> Path:
    """Save a PNG of ``record``, ``counts``, the pods' ``lives`` (each with its version) and a
    change's steps (``bands``, one lane per node) at ``path`` and return the path."""
    # Imported here, not at collection: matplotlib is slow to import.
    import matplotlib

    matplotlib.use("Agg")  # no display: render straight to a file
    import matplotlib.pyplot as plt

    others: list[str] = []
    lanes = sorted({b.node for b in bands})
    heights = [3, 2, 1 + 0.35 * max(len(lives), 1)] + ([1 + 0.35 * len(lanes)] if lanes else [])
    fig, axes = plt.subplots(
        len(heights),
        1,
        sharex=True,
        figsize=(10.5, 7.5 + 0.18 * (len(lives) + len(lanes)) + (1.5 if lanes else 0)),
        height_ratios=heights,
    )
    _answers(axes[0], record, title, others)
    _pods(axes[1], record, counts)
    _lives(axes[2], record, lives, others)
    if lanes:
        _bands(axes[3], record, bands, lanes)
    axes[-1].set_xlabel("seconds since traffic started")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _answers(top: Any, record: Record, title: str, others: list[str]) -> None:
    """Answers per second, stacked by version, failures in red; each failure also a tick."""
    spans = bins(record.duration)
    per_label = rates(record)
    base = [0.0] * len(spans)
    labels = sorted((label for label in per_label if label != FAILED), key=str)
    labels += [FAILED] if FAILED in per_label else []
    for label in labels:
        values = per_label[label]
        top.bar(
            [start for start, _ in spans],
            values,
            width=[end - start for start, end in spans],
            bottom=base,
            align="edge",
            color=_colour(label, others),
            edgecolor="white",
            linewidth=0.5,
            label=label if label == FAILED else f"version {label}",
        )
        base = [b + v for b, v in zip(base, values, strict=True)]
    failures = [r.sent for r in record.requests if not r.ok]
    if failures:
        top.plot(
            failures,
            [0] * len(failures),
            linestyle="none",
            marker="|",
            markersize=14,
            color=COLOURS[FAILED],
            label=f"each failed request ({len(failures)})",
        )
    top.set_ylabel("answers per second")
    top.set_title(f"{title}\n{record.summary()}", fontsize=9)
    top.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7)
    top.grid(alpha=0.3, axis="y")


def _pods(middle: Any, record: Record, counts: Sequence[PodCount]) -> None:
    """How many web pods there were, and how many were ready, after every watch event."""
    if counts:
        times = [c.at - record.started for c in counts] + [record.duration]
        middle.step(
            times,
            [c.running for c in counts] + [counts[-1].running],
            where="post",
            label="web pods (not shutting down)",
        )
        middle.step(
            times,
            [c.available for c in counts] + [counts[-1].available],
            where="post",
            label="ready web pods",
        )
        middle.set_ylim(0, max(c.running for c in counts) + 1)
        middle.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7)
    middle.set_ylabel("pods")
    middle.grid(alpha=0.3)


def _lives(
    bottom: Any, record: Record, lives: Sequence[tuple[PodLife, str]], others: list[str]
) -> None:
    """One lane per pod: starting (thin), ready (thick), shutting down (thin), and marks."""
    marks: dict[str, tuple[str, list[float], list[int]]] = {
        "started": ("^", [], []),
        "ready": ("o", [], []),
        "exited": ("x", [], []),
    }

    def at(moment: float | None, default: float) -> float:
        return default if moment is None else moment - record.started

    for lane, (life, version) in enumerate(lives):
        colour = _colour(version, others)
        started, end = at(life.started, 0.0), at(life.exited, record.duration)
        ready, stopping = at(life.ready, started), at(life.stopping, end)
        bottom.hlines(lane, started, ready, colors=colour, linewidth=2, alpha=0.6)
        bottom.hlines(lane, ready, stopping, colors=colour, linewidth=7)
        bottom.hlines(lane, stopping, end, colors=colour, linewidth=2, alpha=0.6)
        for name, moment in (
            ("started", life.started),
            ("ready", life.ready),
            ("exited", life.exited),
        ):
            if moment is not None:
                marks[name][1].append(moment - record.started)
                marks[name][2].append(lane)
    for name, (marker, xs, ys) in marks.items():
        if xs:
            bottom.plot(xs, ys, linestyle="none", marker=marker, color="black", label=name)
    bottom.set_yticks(range(len(lives)), [f"{_short(life.name)} ({v})" for life, v in lives])
    bottom.tick_params(axis="y", labelsize=7)
    bottom.set_ylim(-0.7, max(len(lives), 1) - 0.3)
    bottom.invert_yaxis()
    if any(xs for _marker, xs, _ys in marks.values()):  # no pod started or ended: no marks
        bottom.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7)
    bottom.grid(alpha=0.3, axis="x")
    bottom.set_xlim(0, max(record.duration, 1.0))


def step_colour(step: str) -> str:
    """The colour of a change's step, by the kind of step its name starts with."""
    return next(
        (colour for kind, colour in STEP_COLOURS.items() if step.startswith(kind)), OTHER_STEP
    )


def _bands(axis: Any, record: Record, bands: Sequence[Band], lanes: list[str]) -> None:
    """One lane per node, each step of the change a bar in its kind's colour; every failed
    request a red line across the lanes, so what it coincided with shows."""
    shown: set[str] = set()
    for band in bands:
        colour = step_colour(band.step)
        # The control plane's components share a colour and one entry in the legend.
        name = "control plane" if colour == CONTROL_PLANE_COLOUR else band.step
        axis.barh(
            lanes.index(band.node),
            max(band.end - band.start, 0.05),
            left=band.start - record.started,
            height=0.6,
            color=colour,
            edgecolor="white",
            linewidth=0.5,
            label=None if name in shown else name,
        )
        shown.add(name)
    for failed in record.failed:
        axis.axvline(failed.sent, color=COLOURS[FAILED], linewidth=0.8, alpha=0.7)
    axis.set_yticks(range(len(lanes)), lanes)
    axis.tick_params(axis="y", labelsize=7)
    axis.set_ylim(-0.7, len(lanes) - 0.3)
    axis.invert_yaxis()
    axis.set_title("the change's steps by node (red: a failed request)", fontsize=8)
    axis.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7)
    axis.grid(alpha=0.3, axis="x")


def publish(
    record: Record,
    counts: Sequence[PodCount],
    title: str,
    path: Path,
    what: str,
    caption: str,
    lives: Sequence[tuple[PodLife, str]] = (),
    bands: Sequence[Band] = (),
) -> None:
    """Draw the picture at the end of the run (:func:`draw_later`) and put it in the evidence
    now, titled ``what`` with ``caption`` (the summary line) under it."""
    draw_later(functools.partial(draw, record, counts, title, path, lives=lives, bands=bands))
    evidence.picture(what, path, caption=f"{path.name}: {caption}")
    log.info("%s: %s; timeline: %s", what, caption, path)


def draw_later(drawing: Callable[[], Path]) -> None:
    """Keep ``drawing`` (a :func:`draw` with its arguments) for :func:`draw_pending`."""
    _PENDING.append(drawing)


def draw_pending() -> list[Path]:
    """Draw every picture :func:`draw_later` was given, in order; return their paths."""
    drawn = []
    while _PENDING:
        drawn.append(_PENDING.pop(0)())
    return drawn
