"""The lab's living documentation: the features, scenarios and steps in the lab's order, each
step with what the cluster answered, as one static HTML page, as cucumber JSON, and the JUnit
file put in the same order."""

from __future__ import annotations

import base64
import datetime
import math
import os
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import markupsafe
from markdown_it import MarkdownIt

PREVIOUS = ".previous"  # where an earlier run's reports are kept, in the reports directory


def set_aside_earlier_run(directory: Path) -> list[Path]:
    """Move the files an earlier run left in ``directory`` into its PREVIOUS directory (replacing
    the run kept there), so that it holds this run's files only; return where they went.
    Directories in it (another run's reports directory, e.g. ``reports/kind``) and dotfiles stay."""
    earlier = (
        [p for p in directory.iterdir() if p.is_file() and not p.name.startswith(".")]
        if directory.is_dir()
        else []
    )
    if not earlier:
        return []
    kept = directory / PREVIOUS
    shutil.rmtree(kept, ignore_errors=True)
    kept.mkdir()
    return [path.rename(kept / path.name) for path in earlier]


# The lab's chapters in the lab's order; each feature is tagged with one (they are the markers).
CHAPTERS = ("cluster", "pods", "services", "replication", "rolling_update", "clear", "change")


def chapter(tags: Iterable[str]) -> int:
    """The position in the lab of a feature or scenario with ``tags`` (untagged ones last)."""
    return min((CHAPTERS.index(t) for t in tags if t in CHAPTERS), default=len(CHAPTERS))


@dataclass
class ScenarioResult:
    """One scenario as it ran: pytest-bdd's serialized scenario (each step with the evidence it
    recorded), the outcome, and its place in the lab's order."""

    scenario: dict[str, Any]
    outcome: str
    duration: float
    failure: str = ""
    order: int = 0  # position among the collected scenarios (collected in the lab's order)
    name: str = ""  # the test's name, as JUnit and cucumber JSON know it

    @property
    def key(self) -> tuple[int, int, int]:
        """Sort key: the chapter, then collection order, then the line in the feature."""
        feature = self.scenario["feature"]
        return (chapter(feature.get("tags", [])), self.order, self.scenario["line_number"])


def in_lab_order(results: Iterable[ScenarioResult]) -> list[ScenarioResult]:
    """``results`` in the lab's order, whatever order they finished in (xdist)."""
    return sorted(results, key=lambda r: r.key)


def steps(result: ScenarioResult) -> list[dict[str, Any]]:
    """The scenario's steps, each with its status: passed, failed, or notrun (after a failure)."""
    out, failed_seen = [], False
    for step in result.scenario["steps"]:
        if failed_seen:  # pytest-bdd marks the steps after a failure failed too; they never ran
            status = "notrun"
        elif step.get("failed"):
            status, failed_seen = "failed", True
        else:
            status = "passed"
        out.append({**step, "status": status, "evidence": step.get("evidence", [])})
    return out


def _title(result: ScenarioResult) -> str:
    return f"{result.scenario['keyword']}: {result.scenario['name']}"


def sections(results: Iterable[ScenarioResult]) -> list[str]:
    """Every section the page shows, in page order (the browser check expects each of them)."""
    shown, features = [], set()
    for result in in_lab_order(results):
        feature = result.scenario["feature"]
        if feature["rel_filename"] not in features:
            features.add(feature["rel_filename"])
            shown.append(f"{feature['keyword']}: {feature['name']}")
        shown.append(_title(result))
        shown.extend(
            f"{_title(result)} / {step['keyword']} {step['name']} / {block['title']}"
            for step in steps(result)
            for block in step["evidence"]
        )
    return shown


_markdown = MarkdownIt("commonmark", {"html": False})  # raw HTML in a feature is shown as text


def markdown(text: str) -> markupsafe.Markup:
    """A feature's description as HTML: paragraphs, code spans, emphasis, lists."""
    return markupsafe.Markup(_markdown.render(text))  # raw HTML in the input was escaped


def render(results: Iterable[ScenarioResult], out: Path, cluster: str) -> Path:
    """Write the HTML page for ``results`` at ``out`` (pictures linked relative to it)."""
    ordered = in_lab_order(results)
    features: dict[str, dict[str, Any]] = {}
    for result in ordered:
        feature = result.scenario["feature"]
        entry = features.setdefault(
            feature["rel_filename"],
            {
                "title": f"{feature['keyword']}: {feature['name']}",
                "name": feature["name"],
                "anchor": Path(feature["rel_filename"]).stem,
                "description": markdown(feature.get("description", "")),
                "scenarios": [],
                "outcomes": [],
            },
        )
        entry["outcomes"].append(result.outcome)
        entry["scenarios"].append(
            {
                "title": _title(result),
                "name": result.scenario["name"],
                "outcome": result.outcome,
                "duration": result.duration,
                "steps": [
                    {
                        **step,
                        "evidence": [
                            {
                                **block,
                                "src": os.path.relpath(block["image"], out.parent)
                                if block.get("image")
                                else None,
                            }
                            for block in step["evidence"]
                        ],
                    }
                    for step in steps(result)
                ],
                "failure": result.failure,
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


def _tags(item: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [{"name": tag, "line": item["line_number"] - 1} for tag in item["tags"]]


def _embedding(block: Mapping[str, str]) -> list[dict[str, str]]:
    try:
        data = Path(block["image"]).read_bytes() if block.get("image") else None
    except OSError:
        return []
    return [{"mime_type": "image/png", "data": base64.b64encode(data).decode()}] if data else []


def cucumber(results: Iterable[ScenarioResult]) -> list[dict[str, Any]]:
    """The results as cucumber JSON (pytest-bdd's layout), in the lab's order, each step with
    the evidence it recorded as its ``output`` (and pictures as ``embeddings``)."""
    features: dict[str, dict[str, Any]] = {}
    for result in in_lab_order(results):
        scenario, feature = result.scenario, result.scenario["feature"]
        entry = features.setdefault(
            feature["filename"],
            {
                "keyword": feature["keyword"],
                "uri": feature["rel_filename"],
                "name": feature["name"] or feature["rel_filename"],
                "id": feature["rel_filename"].lower().replace(" ", "-"),
                "line": feature["line_number"],
                "description": feature["description"],
                "language": feature["language"],
                "tags": _tags(feature),
                "elements": [],
            },
        )
        elements = []
        for step in steps(result):
            status = {"notrun": "skipped"}.get(step["status"], step["status"])
            outcome: dict[str, Any] = {
                "status": status,
                "duration": math.floor(1e9 * step["duration"]),
            }
            if status == "failed":
                outcome["error_message"] = result.failure
            element: dict[str, Any] = {
                "keyword": step["keyword"],
                "name": step["name"],
                "line": step["line_number"],
                "match": {"location": ""},
                "result": outcome,
            }
            if step["evidence"]:
                element["output"] = [f"{b['title']}\n{b['text']}" for b in step["evidence"]]
                embeddings = [e for b in step["evidence"] for e in _embedding(b)]
                if embeddings:
                    element["embeddings"] = embeddings
            elements.append(element)
        entry["elements"].append(
            {
                "keyword": scenario["keyword"],
                "id": result.name,
                "name": scenario["name"],
                "line": scenario["line_number"],
                "description": scenario["description"],
                "tags": _tags(scenario),
                "type": "scenario",
                "steps": elements,
            }
        )
    return list(features.values())


def order_junit(path: Path, results: Iterable[ScenarioResult]) -> None:
    """Put the test cases of the JUnit file at ``path`` in the lab's order of ``results``."""
    position = {r.name: i for i, r in enumerate(in_lab_order(results))}
    tree = ET.parse(path)
    for suite in tree.getroot().iter("testsuite"):
        cases = [child for child in suite if child.tag == "testcase"]
        for case in cases:
            suite.remove(case)
        cases.sort(key=lambda case: position.get(case.get("name", ""), len(position)))
        suite.extend(cases)
    tree.write(path, encoding="utf-8", xml_declaration=True)
