"""What a gate's phases found, from each phase's reports: every scenario named as the features
name it (its cucumber JSON), its outcome (JUnit's verdict, else its steps'), and the phases side
by side as gate.md's table; gate.html, the one page a reader opens: gate.md with a link to each
phase's own report and the change's timeline shown."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import markupsafe
from markdown_it import MarkdownIt

# Raw HTML in the summary (a scenario's or a command's text) is shown as text.
_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table")


@dataclass(frozen=True)
class PhaseResult:
    """One phase's pytest run: its exit status, time, and each scenario's outcome."""

    phase: str
    status: int
    seconds: float
    outcomes: dict[str, str]  # "feature: scenario" -> passed / failed / error / skipped


def outcomes(phase_dir: Path) -> dict[str, str]:
    """Each scenario a phase ran, named as the features name it ("feature: scenario", from its
    cucumber JSON), and its outcome: JUnit's verdict for its test (which sees setup, teardown
    and skips), else what its steps say. Empty when the phase wrote no cucumber JSON."""
    cucumber = phase_dir / "cucumber.json"
    if not cucumber.is_file():
        return {}
    verdicts = junit_outcomes(phase_dir / "junit.xml")
    found: dict[str, str] = {}
    for feature in json.loads(cucumber.read_text()):
        for element in feature.get("elements", []):
            name = f"{feature.get('name', '?')}: {element.get('name', '?')}"
            if name in found:  # the same title twice: the test's own name tells them apart
                name += f" [{element.get('id', '?')}]"
            found[name] = verdicts.get(element.get("id", "")) or steps_outcome(element)
    return found


def steps_outcome(element: dict[str, Any]) -> str:
    """A cucumber scenario's outcome from its steps and hooks: failed when one failed, passed
    when every step passed, skipped otherwise (none ran, or some were skipped or undefined)."""
    statuses = [step.get("result", {}).get("status") for step in element.get("steps", [])]
    hooks = [h for key in ("before", "after") for h in element.get(key, [])]
    if "failed" in statuses or any(h.get("result", {}).get("status") == "failed" for h in hooks):
        return "failed"
    return "passed" if statuses and all(s == "passed" for s in statuses) else "skipped"


def junit_outcomes(junit: Path) -> dict[str, str]:
    """Each test case of a JUnit file and its outcome (empty when there is no file)."""
    if not junit.is_file():
        return {}
    found = {}
    for case in ElementTree.parse(junit).getroot().iter("testcase"):
        kinds = [child.tag for child in case]
        outcome = next(
            (k for k in ("failure", "error", "skipped") if k in kinds), "passed"
        ).replace("failure", "failed")
        found[case.get("name", "?")] = outcome
    return found


def side_by_side(results: list[PhaseResult]) -> str:
    """The phases as one Markdown table: scenario by scenario, each phase's outcome."""
    names: list[str] = []
    for result in results:
        names += [n for n in result.outcomes if n not in names]
    lines = [
        "| scenario | " + " | ".join(r.phase for r in results) + " |",
        "|---|" + "---|" * len(results),
    ]
    lines += [
        f"| {name} | " + " | ".join(r.outcomes.get(name, "-") for r in results) + " |"
        for name in names
    ]
    lines.append(
        "| **exit status, time** | "
        + " | ".join(f"{r.status}, {r.seconds:.0f} s" for r in results)
        + " |"
    )
    return "\n".join(lines)


def html(summary: str, reports: Path, phases: Sequence[str]) -> str:
    """gate.html: the summary (gate.md's Markdown), the own report of each of ``phases`` (the
    ones this run ran) linked, and every timeline picture of its change phase shown (paths
    relative to ``reports``)."""
    parts = [_MARKDOWN.render(summary), "<h2>Each phase's report</h2>", "<ul>"]
    for phase in phases:
        page = reports / phase / "lab.html"
        link = (
            f'<a href="{phase}/lab.html">{phase}/lab.html</a>'
            if page.is_file()
            else f"{phase}: no report (the phase did not run to its end)"
        )
        parts.append(f"<li>{link}</li>")
    parts.append("</ul>")
    pictures = (reports / "change").glob("change-*.png") if "change" in phases else ()
    for picture in sorted(pictures):
        where = markupsafe.escape(f"change/{picture.name}")
        parts += [
            "<h2>The change's timeline</h2>",
            f'<p><img src="{where}" alt="{where}" style="max-width:100%"></p>',
        ]
    body = "\n".join(parts)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        "<title>kubelab gate</title><style>body{font-family:sans-serif;margin:2em}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px}</style>"
        f"</head><body>\n{body}\n</body></html>\n"
    )
