"""The rollout as a picture: answers per second by version, failures, and web pods over time."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from kubelab.rollout import PodCount
from kubelab.traffic import Record


def draw(record: Record, counts: Sequence[PodCount], title: str, path: Path) -> Path:
    """Save a two-panel PNG of ``record`` and ``counts`` at ``path`` and return the path."""
    # Imported here, not at collection: matplotlib takes over a second to import.
    import matplotlib

    matplotlib.use("Agg")  # no display: render straight to a file
    import matplotlib.pyplot as plt

    per_second: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for request in record.requests:
        label = f"version {request.version}" if request.ok else "failed"
        per_second[label][int(request.sent)] += 1
    seconds = range(int(record.duration) + 1)
    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(9, 5.5), height_ratios=[3, 2])
    for label in sorted(per_second):
        values = [per_second[label].get(s, 0) for s in seconds]
        style = {"color": "red", "marker": "x"} if label == "failed" else {}
        top.plot(list(seconds), values, label=label, drawstyle="steps-post", **style)
    top.set_ylabel("answers per second")
    top.set_title(f"{title}\n{record.summary()}", fontsize=9)
    top.legend(loc="upper right", fontsize=8)
    top.grid(alpha=0.3)
    if counts:
        times = [c.at - record.started for c in counts]
        bottom.step(
            times, [c.running for c in counts], where="post", label="web pods (not shutting down)"
        )
        bottom.step(times, [c.available for c in counts], where="post", label="ready web pods")
        bottom.set_ylim(0, max(c.running for c in counts) + 1)
    bottom.set_xlabel("seconds since traffic started")
    bottom.set_ylabel("pods")
    bottom.legend(loc="lower right", fontsize=8)
    bottom.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
