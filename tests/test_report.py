"""The living documentation: lab order, evidence under each step, Markdown, cucumber JSON, JUnit,
and the page as headless Chromium shows it."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from kubelab import browser, evidence, gatereport, report

DESCRIPTION = "Pods do not find each other by name: until the `redis` Service exists..."


def scenario(
    feature: str, tag: str, name: str, line: int, steps: list[tuple[str, str, list]]
) -> dict:
    return {
        "keyword": "Scenario",
        "name": name,
        "line_number": line,
        "tags": [],
        "description": "",
        "feature": {
            "keyword": "Feature",
            "name": feature,
            "filename": f"/lab/features/{tag}.feature",
            "rel_filename": f"{tag}.feature",
            "language": "en",
            "line_number": 2,
            "description": DESCRIPTION if tag == "services" else "What the chapter teaches.",
            "tags": [tag],
        },
        "steps": [
            {
                "name": text,
                "type": keyword.lower(),
                "keyword": keyword,
                "line_number": line + 1 + i,
                "failed": False,
                "duration": 0.25,
                "evidence": blocks,
            }
            for i, (keyword, text, blocks) in enumerate(steps)
        ],
    }


def results(picture: Path | None = None) -> list[report.ScenarioResult]:
    """A small lab's results, finished out of order (as under xdist)."""
    nodes = evidence.table(["NAME", "STATUS", "ROLES"], [["cp", "Ready", "control-plane"]])
    answer = {"title": "the web pod's answers", "text": "Error -2 connecting to redis:6379."}
    rolled = [{"title": "the rollout's timeline", "text": "a picture", "image": str(picture)}]
    made = [
        (
            "clear",
            "Clear the environment",
            "Deleting leaves nothing",
            [("Then", "nothing of the lab is left", [])],
        ),
        (
            "services",
            "Create services",
            "The web pod cannot resolve redis before its Service exists",
            [("When", "I ask the web pod", [answer])],
        ),
        (
            "cluster",
            "Prepare the lab environment",
            "Every node is Ready",
            [("Given", "the lab cluster", []), ("Then", "every node is Ready", [])],
        ),
        (
            "rolling_update",
            "Update the web app without an outage",
            "Moving web under a Deployment",
            [("When", "I roll the web pods", rolled if picture else [])],
        ),
    ]
    out = []
    for order, (tag, feature, name, steps) in zip([5, 2, 0, 4], made, strict=True):
        data = scenario(feature, tag, name, 10, steps)
        if tag == "cluster":
            data["steps"][1]["evidence"] = [{"title": "the nodes and their roles", "text": nodes}]
        out.append(report.ScenarioResult(data, "passed", 1.0, order=order, name=f"test_{tag}"))
    return out


def test_the_page_follows_the_lab_whatever_order_scenarios_finished_in(tmp_path: Path):
    page = report.render(results(), tmp_path / "lab.html", "a test").read_text()
    positions = [
        page.index(f'id="{tag}"') for tag in ("cluster", "services", "rolling_update", "clear")
    ]
    assert positions == sorted(positions)


def test_evidence_is_shown_under_its_step_as_console_output(tmp_path: Path):
    page = report.render(results(), tmp_path / "lab.html", "a test").read_text()
    step = page.index('<span class="kw">Then</span> every node is Ready')
    block = page.index('<pre class="console">NAME   STATUS   ROLES')
    assert step < block < page.index('id="services"')


def test_descriptions_render_their_markdown(tmp_path: Path):
    page = report.render(results(), tmp_path / "lab.html", "a test").read_text()
    assert "until the <code>redis</code> Service exists" in page
    assert "`redis`" not in page


def test_markdown_escapes_html():
    assert (
        str(report.markdown("a <script>x</script> b"))
        == "<p>a &lt;script&gt;x&lt;/script&gt; b</p>\n"
    )


def test_cucumber_json_in_lab_order_with_evidence_as_step_output():
    features = report.cucumber(results())
    assert [f["uri"] for f in features] == [
        "cluster.feature",
        "services.feature",
        "rolling_update.feature",
        "clear.feature",
    ]
    then = features[0]["elements"][0]["steps"][1]
    assert then["output"][0].startswith("the nodes and their roles\nNAME")
    assert "output" not in features[0]["elements"][0]["steps"][0]
    json.dumps(features)  # serializable as it is


def test_junit_cases_are_put_in_lab_order(tmp_path: Path):
    junit = tmp_path / "junit.xml"
    cases = "".join(
        f'<testcase classname="steps.test_lab" name="test_{t}"/>'
        for t in ("clear", "services", "cluster", "rolling_update")
    )
    junit.write_text(f'<testsuites><testsuite name="pytest">{cases}</testsuite></testsuites>')
    report.order_junit(junit, results())
    names = [c.get("name") for c in ET.parse(junit).getroot().iter("testcase")]
    assert names == ["test_cluster", "test_services", "test_rolling_update", "test_clear"]


def test_evidence_is_collected_per_step_and_only_while_collecting():
    evidence.record("outside", "nobody collects this")
    blocks = evidence.start()
    evidence.record("the pods", "NAME\nweb\n")
    evidence.stop()
    evidence.record("after", "not collected either")
    assert blocks == [evidence.Block("the pods", "NAME\nweb")]


def test_table_aligns_columns_like_kubectl():
    assert evidence.table(["NAME", "IP"], [["redis", "10.0.0.1"], ["web-abcde", "-"]]) == (
        "NAME        IP\nredis       10.0.0.1\nweb-abcde   -"
    )


@pytest.fixture(scope="module")
def chromium() -> str:
    return browser.ensure_chromium()


@pytest.fixture
def picture(tmp_path: Path) -> Path:
    from kubelab import timeline
    from kubelab.traffic import Record, Request

    record = Record(
        requests=[
            Request(sent=i / 10, latency=0.01, target="x", status=200, version="1.0")
            for i in range(25)
        ],
        started=0.0,
        duration=2.5,
    )
    return timeline.draw(record, [], "a test", tmp_path / "pics" / "rollout.png")


@pytest.mark.usefixtures("chromium")
def test_chromium_shows_every_section_of_the_page(tmp_path: Path, picture: Path):
    done = results(picture)
    page = report.render(done, tmp_path / "lab.html", "a test")
    check = browser.check_page(page, tmp_path / "lab.png")
    assert check.problems(report.sections(done)) == []
    assert check.screenshot == tmp_path / "lab.png"
    assert check.screenshot.stat().st_size > 10_000
    assert report.sections(done)[:3] == [
        "Feature: Prepare the lab environment",
        "Scenario: Every node is Ready",
        "Scenario: Every node is Ready / Then every node is Ready / the nodes and their roles",
    ]


@pytest.mark.usefixtures("chromium")
def test_chromium_check_fails_on_a_missing_picture_a_script_error_and_a_missing_section(
    tmp_path: Path, picture: Path
):
    done = results(picture)
    page = report.render(done, tmp_path / "lab.html", "a test")
    picture.unlink()
    page.write_text(page.read_text().replace("</body>", "<script>nothing.here()</script></body>"))
    problems = browser.check_page(page).problems([*report.sections(done), "Feature: Not rendered"])
    assert any(p.startswith("console: Failed to load resource") for p in problems), problems
    assert any("nothing is not defined" in p for p in problems), problems
    assert "image does not load: pics/rollout.png" in problems
    assert "missing section: Feature: Not rendered" in problems


@pytest.mark.usefixtures("chromium")
def test_chromium_check_fails_when_sections_are_out_of_order(tmp_path: Path):
    done = results()
    page = report.render(done, tmp_path / "lab.html", "a test")
    expected = report.sections(done)
    problems = browser.check_page(page).problems([expected[1], expected[0]])
    assert [p.split(":")[0] for p in problems] == ["sections out of order"], problems


def test_a_call_that_failed_outside_every_step_is_a_failed_hook():
    # e.g. a before-scenario hook (the Givens made ahead) raised before the first step started
    data = scenario("Cluster", "cluster", "Every node is Ready", 10, [("Then", "every node", [])])
    data["steps"][0]["ran"] = False
    failed = report.ScenarioResult(data, "failed", 1.0, failure="WaitTimeout: redis", name="t")
    [element] = report.cucumber([failed])[0]["elements"]
    assert [s["result"]["status"] for s in element["steps"]] == ["skipped"]
    assert element["before"][0]["result"]["error_message"] == "WaitTimeout: redis"
    assert gatereport.steps_outcome(element) == "failed"
