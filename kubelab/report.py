"""The lab's living documentation: one static HTML page of features, scenarios and steps."""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2


@dataclass
class ScenarioResult:
    """One scenario as it ran: pytest-bdd's serialized scenario plus the outcome."""

    scenario: dict[str, Any]
    outcome: str
    duration: float
    failure: str = ""
    images: list[str] = field(default_factory=list)


def _steps(result: ScenarioResult) -> list[dict[str, Any]]:
    steps, failed_seen = [], False
    for step in result.scenario["steps"]:
        if failed_seen:  # pytest-bdd marks the steps after a failure failed too; they never ran
            status = "notrun"
        elif step.get("failed"):
            status, failed_seen = "failed", True
        else:
            status = "passed"
        steps.append({**step, "status": status})
    return steps


def render(results: Iterable[ScenarioResult], out: Path, cluster: str) -> Path:
    """Write the HTML page for ``results`` at ``out`` (images linked relative to it)."""
    features: dict[str, dict[str, Any]] = {}
    ordered = sorted(
        results, key=lambda r: (r.scenario["feature"]["rel_filename"], r.scenario["line_number"])
    )
    for result in ordered:
        feature = result.scenario["feature"]
        entry = features.setdefault(
            feature["rel_filename"],
            {
                "name": feature["name"],
                "description": feature.get("description", ""),
                "scenarios": [],
            },
        )
        entry["scenarios"].append(
            {
                "name": result.scenario["name"],
                "outcome": result.outcome,
                "duration": result.duration,
                "steps": _steps(result),
                "failure": result.failure,
                "images": [os.path.relpath(image, out.parent) for image in result.images],
            }
        )
    passed = sum(1 for r in ordered if r.outcome == "passed")
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("kubelab", "templates"),
        autoescape=jinja2.select_autoescape(["j2", "html"]),
    )
    html = env.get_template("report.html.j2").render(
        features=list(features.values()),
        summary=f"{passed} of {len(ordered)} scenarios passed",
        cluster=cluster,
        generated=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html)
    return out
