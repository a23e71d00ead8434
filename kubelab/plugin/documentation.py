"""The living documentation: each scenario's outcome and the evidence under each of its steps,
written at the end of the run as lab.html and the cucumber JSON, and checked in Chromium."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from kubelab import evidence
from kubelab.errors import KubelabError
from kubelab.plugin.bdd import complete_record, report_context, set_report_context
from kubelab.plugin.options import reports_dir, value

if TYPE_CHECKING:
    from kubelab.report import ScenarioResult

NAME = "kubelab-living-documentation"  # the name it is registered under
EVIDENCE = pytest.StashKey[list[list[evidence.Block]]]()


def start_step(item: pytest.Item) -> None:
    """Collect what the step about to run observes (kubelab records it) to show it under it."""
    item.stash.setdefault(EVIDENCE, []).append(evidence.start())


def stop_step() -> None:
    """Stop collecting the current step's evidence."""
    evidence.stop()


def record(item: pytest.Item, rep: pytest.TestReport) -> None:
    """Put each step's evidence, and the scenario's place in the lab, in pytest-bdd's record,
    which lists every step of the scenario (also in a setup's report, which pytest-bdd leaves
    without one: the scenario had not started)."""
    context = report_context(rep)
    scenario = complete_record(item, context.scenario if context is not None else None)
    if scenario is None:
        return
    if context is None:
        set_report_context(rep, {"scenario": scenario, "name": item.name})
        context = report_context(rep)
    context.scenario = scenario
    recorded = item.stash.get(EVIDENCE, [])
    for step, blocks in zip(context.scenario["steps"], recorded, strict=False):
        step["evidence"] = [block.as_dict() for block in blocks]
    context.scenario["order"] = item.session.items.index(item)


class LivingDocumentation:
    """Collects each scenario's outcome and evidence; at the end of the run writes lab.html and
    the cucumber JSON, puts the JUnit file in the lab's order, and checks the page in Chromium."""

    def __init__(self, config: pytest.Config, cucumber_json: str | None) -> None:
        self.config = config
        self.cucumber_json = cucumber_json
        self.results: dict[str, ScenarioResult] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Each scenario's result from its call, or from its setup when that failed or skipped
        it; a failing teardown fails it, said apart from what its steps said."""
        context = report_context(report)
        if context is None or (report.when == "setup" and report.passed):
            return
        known = self.results.get(report.nodeid)
        if report.when == "teardown":
            if report.failed:
                known = known or self.results.setdefault(report.nodeid, _result(context, report))
                known.outcome, known.teardown_failure = "failed", str(report.longrepr)
            return
        self.results[report.nodeid] = _result(context, report)

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        reports = terminalreporter.stats.get("passed", []) + terminalreporter.stats.get(
            "failed", []
        )
        properties = [p for r in reports for p in getattr(r, "user_properties", [])]
        for key, title in (
            ("outcome", "what the lab found"),
            ("traffic", "traffic during rolling updates"),
            ("change", "traffic during cluster changes"),
        ):
            lines = [str(value) for k, value in properties if k == key]
            if lines:
                terminalreporter.section(title)
                for line in lines:
                    terminalreporter.write_line(line)

    def finish(self, session: pytest.Session, where: str) -> None:
        """Write the reports and check the page (at the end of the run, after the JUnit file);
        ``where`` names the cluster the lab ran on."""
        if not self.results:
            return
        from kubelab import browser, report

        results = list(self.results.values())
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        say = reporter.write_line if reporter is not None else print
        if reporter is not None:
            reporter.ensure_newline()
        if self.cucumber_json:
            path = Path(self.cucumber_json)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(report.cucumber(results)))
            say(f"kubelab: cucumber JSON (each step's evidence as its output) in {path}")
        xml = self.config.option.xmlpath
        if xml and Path(xml).is_file():
            report.order_junit(Path(xml), results)
        page = report.render(results, reports_dir(self.config) / "lab.html", where)
        say(f"kubelab: living documentation in {page}")
        if value(self.config, "check-report") == "no":
            return
        try:
            check = browser.check_page(page, page.with_suffix(".png"))
            problems = check.problems(report.sections(results))
        except KubelabError as exc:
            problems = [str(exc)]
        if problems:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
            say(f"kubelab: {page} does not read well in Chromium: {'; '.join(problems)}")
        else:
            say(f"kubelab: Chromium shows every section of {page}; screenshot {check.screenshot}")


def _result(context: Any, rep: pytest.TestReport) -> ScenarioResult:
    """A scenario's result for the living documentation, from pytest-bdd's record of it."""
    from kubelab.report import ScenarioResult

    failure = str(rep.longrepr) if rep.failed else ""
    return ScenarioResult(
        scenario=context.scenario,
        outcome=rep.outcome,
        duration=rep.duration,
        failure=failure if rep.when == "call" else "",
        setup_failure=failure if rep.when == "setup" else "",
        order=int(context.scenario.get("order", 0)),
        name=context.name,
    )
