"""What a gate's phases found, from each phase's reports: every scenario named as the features
name it (its cucumber JSON), its outcome (JUnit's verdict, else its steps'), and the phases side
by side as gate.md's table; for a failed phase its first failure, and for the change phase what
its change scenario recorded (the traffic's summary, the change's error, each failed request);
gate.html, the one page a reader opens: gate.md with a link to each phase's own report and
output, and the change's timeline shown."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import markupsafe
from markdown_it import MarkdownIt

# Raw HTML in the summary (a scenario's or a command's text) is shown as text.
_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table")
SHOWN_REQUESTS = 20  # failed requests listed in gate.md; all of them are in change/lab.html


@dataclass(frozen=True)
class ChangeFound:
    """What the change phase's change scenario recorded (kubelab.change.run_under_traffic)."""

    scenario: str  # "feature: scenario"
    outcome: str
    summary: str = ""  # the traffic during the change: requests, failed, the longest gap
    error: str = ""  # why the change could not be made (a --change command: its status, output)
    failed_requests: tuple[str, ...] = ()  # each a line: when, node, steps in progress, error


@dataclass(frozen=True)
class PhaseResult:
    """One phase's pytest run: its exit status, time, and each scenario's outcome; a failed
    phase's first failure; the change phase's change scenario, if it ran one."""

    phase: str
    status: int
    seconds: float
    outcomes: dict[str, str]  # "feature: scenario" -> passed / failed / error / skipped
    first_failure: str = ""  # one line (kubelab.soak.first_failure), for a failed phase
    change: ChangeFound | None = None


def _scenarios(phase_dir: Path) -> Iterator[tuple[str, dict[str, Any], str]]:
    """Each scenario of a phase's cucumber JSON: its name ("feature: scenario"), its element,
    its outcome (JUnit's verdict for its test, else its steps')."""
    cucumber = phase_dir / "cucumber.json"
    if not cucumber.is_file():
        return
    verdicts = junit_outcomes(phase_dir / "junit.xml")
    seen: set[str] = set()
    for feature in json.loads(cucumber.read_text()):
        for element in feature.get("elements", []):
            name = f"{feature.get('name', '?')}: {element.get('name', '?')}"
            if name in seen:  # the same title twice: the test's own name tells them apart
                name += f" [{element.get('id', '?')}]"
            seen.add(name)
            yield name, element, verdicts.get(element.get("id", "")) or steps_outcome(element)


def outcomes(phase_dir: Path) -> dict[str, str]:
    """Each scenario a phase ran, named as the features name it ("feature: scenario", from its
    cucumber JSON), and its outcome: JUnit's verdict for its test (which sees setup, teardown
    and skips), else what its steps say. Empty when the phase wrote no cucumber JSON."""
    return {name: outcome for name, _, outcome in _scenarios(phase_dir)}


def change_found(phase_dir: Path) -> ChangeFound | None:
    """The change scenario a phase ran (the one whose When runs a change), its outcome, and what
    it recorded: its JUnit properties (summary, error) and the failed requests listed under its
    When step. None when the phase ran no change scenario."""
    from kubelab import change

    for name, element, outcome in _scenarios(phase_dir):
        steps = element.get("steps", [])
        if change.kind_of([step.get("name", "") for step in steps]) is None:
            continue
        properties = junit_properties(phase_dir / "junit.xml").get(element.get("id", ""), {})
        failed: list[str] = []
        for step in steps:
            for output in step.get("output", []):
                title, _, text = str(output).partition("\n")
                if title == change.FAILED_REQUESTS:
                    failed += text.splitlines()
        return ChangeFound(
            name,
            outcome,
            properties.get(change.SUMMARY_PROPERTY, ""),
            properties.get(change.ERROR_PROPERTY, ""),
            tuple(failed),
        )
    return None


def steps_outcome(element: dict[str, Any]) -> str:
    """A cucumber scenario's outcome from its steps and hooks: failed when one failed, passed
    when every step passed, skipped otherwise (none ran, or some were skipped or undefined)."""
    statuses = [step.get("result", {}).get("status") for step in element.get("steps", [])]
    hooks = [h for key in ("before", "after") for h in element.get(key, [])]
    if "failed" in statuses or any(h.get("result", {}).get("status") == "failed" for h in hooks):
        return "failed"
    return "passed" if statuses and all(s == "passed" for s in statuses) else "skipped"


def _cases(junit: Path) -> list[ElementTree.Element]:
    return list(ElementTree.parse(junit).getroot().iter("testcase")) if junit.is_file() else []


def junit_outcomes(junit: Path) -> dict[str, str]:
    """Each test case of a JUnit file and its outcome (empty when there is no file)."""
    found = {}
    for case in _cases(junit):
        kinds = [child.tag for child in case]
        outcome = next(
            (k for k in ("failure", "error", "skipped") if k in kinds), "passed"
        ).replace("failure", "failed")
        found[case.get("name", "?")] = outcome
    return found


def junit_properties(junit: Path) -> dict[str, dict[str, str]]:
    """Each test case of a JUnit file and the properties it recorded (record_property)."""
    return {
        case.get("name", "?"): {
            p.get("name", ""): p.get("value", "") for p in case.iter("property")
        }
        for case in _cases(junit)
    }


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


def failures(results: Sequence[PhaseResult]) -> str:
    """gate.md's list of each failed phase's first failure ("" when none failed)."""
    lines = [f"- {r.phase}: {r.first_failure}" for r in results if r.first_failure]
    return "\n".join(["## What failed first, phase by phase", "", *lines]) if lines else ""


def change_section(found: ChangeFound) -> str:
    """gate.md's account of the change: its summary line, its error, each failed request (the
    first SHOWN_REQUESTS of them) with its node and the step then in progress."""
    parts = ["## The change", "", found.summary or "(the change scenario recorded no summary)"]
    if found.error:
        parts += ["", f"The change failed: {found.error}"]
    if found.failed_requests:
        total = len(found.failed_requests)
        shown = found.failed_requests[:SHOWN_REQUESTS]
        more = f" (the first {len(shown)}; all in change/lab.html)" if total > len(shown) else ""
        parts += ["", f"{total} failed requests{more}:", "", "```", *shown, "```"]
    return "\n".join(parts)


def html(summary: str, reports: Path, phases: Sequence[str]) -> str:
    """gate.html: the summary (gate.md's Markdown), the own report and output of each of
    ``phases`` (the ones this run ran) linked, and every timeline picture of its change phase shown (paths
    relative to ``reports``)."""
    parts = [_MARKDOWN.render(summary), "<h2>Each phase's report</h2>", "<ul>"]
    for phase in phases:
        page = reports / phase / "lab.html"
        link = (
            f'<a href="{phase}/lab.html">{phase}/lab.html</a>'
            if page.is_file()
            else f"{phase}: no report (the phase did not run to its end)"
        )
        if (reports / f"{phase}.log").is_file():
            link += f' (its output: <a href="{phase}.log">{phase}.log</a>)'
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
