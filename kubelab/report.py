"""The lab's living documentation: the features, scenarios and steps in the lab's order, each
step with what the cluster answered, as one static HTML page, as cucumber JSON, and the JUnit
file put in the same order."""

from __future__ import annotations

import base64
import datetime
import math
import os
import re
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import markupsafe
from markdown_it import MarkdownIt

from kubelab.errors import UsageError

PREVIOUS = ".previous"  # where an earlier run's reports are kept, in the reports directory


def refuse_reports_dir(
    directory: Path, option: str, projects: Iterable[Path], example: str = "reports"
) -> None:
    """A one-line UsageError when ``directory`` (the value of ``option``) holds one of
    ``projects`` (kubelab's source tree, the directory the command runs in), the home directory
    or the root directory: set_aside_earlier_run would move their files (README.md,
    pyproject.toml, ...) into PREVIOUS, and the next run would delete them."""
    where = directory.resolve()
    held = [
        (what, path)
        for what, path in (
            *(("the project itself", p) for p in projects),
            ("the home directory", Path.home()),
        )
        if path.resolve().is_relative_to(where)
    ]
    if held:
        raise UsageError(
            f"{option}={directory} holds {held[0][0]}, and kubelab moves an earlier run's files "
            f"out of the reports directory: name a directory of its own (e.g. {example})"
        )


def set_aside_earlier_run(directory: Path, runs: re.Pattern[str] | None = None) -> list[Path]:
    """Move the files an earlier run left in ``directory`` into its PREVIOUS directory (replacing
    the run kept there), so that it holds this run's files only; return where they went.
    Directories in it (another run's reports directory, e.g. ``reports/kind``) and dotfiles stay,
    except the directories whose names match ``runs`` (a soak's ``run-K``: all the earlier run's)."""
    earlier = (
        [
            p
            for p in directory.iterdir()
            if not p.name.startswith(".")
            and (p.is_file() or (runs is not None and p.is_dir() and runs.fullmatch(p.name)))
        ]
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
    failure: str = ""  # what failed while the scenario ran (a step, or a hook around them)
    order: int = 0  # position among the collected scenarios (collected in the lab's order)
    name: str = ""  # the test's name, as JUnit and cucumber JSON know it
    setup_failure: str = ""  # a fixture failed before the scenario started: no step ran
    teardown_failure: str = ""  # a fixture failed after it (e.g. a leftover check)

    @property
    def failures(self) -> str:
        """Every failure of the scenario, in the order its phases ran."""
        return "\n\n".join(
            f for f in (self.setup_failure, self.failure, self.teardown_failure) if f
        )

    @property
    def key(self) -> tuple[int, int, int]:
        """Sort key: the chapter, then collection order, then the line in the feature."""
        feature = self.scenario["feature"]
        return (chapter(feature.get("tags", [])), self.order, self.scenario["line_number"])


def in_lab_order(results: Iterable[ScenarioResult]) -> list[ScenarioResult]:
    """``results`` in the lab's order, whatever order they finished in (xdist)."""
    return sorted(results, key=lambda r: r.key)


def steps(result: ScenarioResult) -> list[dict[str, Any]]:
    """The scenario's steps, each with its status: passed, failed, skipped (the step skipped the
    scenario), or notrun (never reached: after a failure or a skip, or none ran at all)."""
    recorded = result.scenario["steps"]
    reached = [i for i, step in enumerate(recorded) if step.get("ran", True)]
    # pytest.skip() is no error to pytest-bdd: the step it stopped is recorded as not failed
    skipping = reached[-1] if result.outcome == "skipped" and reached else None
    out, stopped = [], bool(result.setup_failure)
    for i, step in enumerate(recorded):
        if stopped or not step.get("ran", True):  # pytest-bdd marks steps after a failure
            status = "notrun"  # failed too; they never ran
        elif step.get("failed"):
            status, stopped = "failed", True
        elif i == skipping:
            status, stopped = "skipped", True
        else:
            status = "passed"
        out.append({**step, "status": status, "evidence": step.get("evidence", [])})
    return out


def hooks(result: ScenarioResult, statuses: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Cucumber's ``before`` and ``after`` hooks of a scenario that failed outside its steps
    (``statuses``): its setup or whatever ran before its first step, its teardown or whatever ran
    after its last; nothing for a scenario that failed in a step or did not fail."""

    def failed(message: str) -> list[dict[str, Any]]:
        outcome = {"status": "failed", "duration": 0, "error_message": message}
        return [{"match": {"location": ""}, "result": outcome}]

    out = {}
    before = result.setup_failure
    after = result.teardown_failure
    if result.failure and "failed" not in statuses:  # the call failed, in none of the steps
        if "passed" in statuses:
            after = "\n\n".join(f for f in (result.failure, after) if f)
        else:
            before = result.failure
    if before:
        out["before"] = failed(before)
    if after:
        out["after"] = failed(after)
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
                "failure": result.failures,
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
        shown = steps(result)
        for step in shown:
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
                **hooks(result, [step["status"] for step in shown]),
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
