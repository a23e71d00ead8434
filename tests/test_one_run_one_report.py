"""The reports directory holds one run's files: an earlier run's are moved into its
``.previous`` directory (the run before that is dropped), and the page shows only its own
pictures. A pytest-bdd project whose step draws a picture, as a rollout does, runs twice with
kubelab's plugin against the stand-in API server of tests/stand_in_api.py; under pytest-xdist
the controller alone moves the earlier run's files, once, before a worker draws."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kubelab.report import set_aside_earlier_run
from tests.stand_in_api import kubeconfig, serve

FEATURE = """\
Feature: Pictures
  Scenario: A rollout draws its timeline
    Then a picture is drawn
"""

STEPS = """\
import uuid

from pytest_bdd import scenarios, then

from kubelab import evidence

scenarios("pictures.feature")


@then("a picture is drawn")
def _(pytestconfig):
    path = pytestconfig.getoption("--reports-dir") / f"rollout-{uuid.uuid4().hex[:8]}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\\x89PNG\\r\\n\\x1a\\n")
    evidence.picture("the rollout's timeline", path)
"""


def _run(project: Path, api_url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            *(sys.executable, "-m", "pytest", "lab", "-p", "no:cacheprovider"),
            *("--cluster=existing", f"--kubeconfig={kubeconfig(project, api_url)}"),
            *("--check-report=no", "--reports-dir=reports", *extra),
        ],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_a_second_run_leaves_one_runs_reports_and_keeps_the_first_aside(tmp_path):
    project = tmp_path / "project"
    (project / "lab").mkdir(parents=True)
    (project / "lab" / "pictures.feature").write_text(FEATURE)
    (project / "lab" / "test_pictures.py").write_text(STEPS)
    (project / "pytest.ini").write_text("[pytest]\nkubelab_paths = lab\n")
    reports = project / "reports"
    (reports / "kind").mkdir(parents=True)  # another run's reports directory: left alone
    (reports / "kind" / "lab.html").write_text("the kind run")
    pictures = []
    with serve() as api:
        for _ in range(2):
            run = _run(project, api.url, "--junitxml=reports/junit.xml")
            assert run.returncode == 0, run.stdout + run.stderr
            pictures.append(sorted(p.name for p in reports.glob("*.png")))
        listed = _run(project, api.url, "--collect-only")  # runs nothing, reports nothing
        assert listed.returncode == 0, listed.stdout + listed.stderr
    first, second = pictures
    assert [len(first), len(second)] == [1, 1], pictures
    assert first != second
    assert sorted(p.name for p in reports.iterdir()) == sorted(
        [".previous", "kind", "lab.html", "junit.xml", *second]
    )
    assert sorted(p.name for p in (reports / ".previous").iterdir()) == sorted(
        ["lab.html", "junit.xml", *first]
    )
    assert (reports / "kind" / "lab.html").read_text() == "the kind run"
    page = (reports / "lab.html").read_text()
    assert re.findall(r'<img src="([^"]+)"', page) == second


def test_the_run_before_the_previous_one_is_dropped(tmp_path):
    reports = tmp_path / "reports"
    (reports / ".previous").mkdir(parents=True)
    (reports / ".previous" / "rollout-oldest.png").write_bytes(b"")
    (reports / "rollout-earlier.png").write_bytes(b"")
    (reports / ".gitignore").write_text("*\n")
    moved = set_aside_earlier_run(reports)
    assert moved == [reports / ".previous" / "rollout-earlier.png"]
    assert sorted(p.name for p in reports.iterdir()) == [".gitignore", ".previous"]
    assert set_aside_earlier_run(tmp_path / "none yet") == []


@pytest.mark.parametrize("where", [".", ".."])
def test_a_reports_dir_holding_the_project_is_refused(pytester, where):
    pytester.makepyfile(test_plain="def test_one():\n    pass\n")
    result = pytester.runpytest_subprocess(f"--reports-dir={where}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*--reports-dir={where} holds the project itself*"])


XDIST_FEATURE = """\
Feature: Pictures
  Scenario: One rollout draws its timeline
    Then a picture is drawn

  Scenario: Another rollout draws its timeline
    Then a picture is drawn
"""

# Each worker draws in the reports directory where the lab's steps do (kubelab.plugin.options
# .reports_dir: reports/ by default), once the earlier run's files are out of it.
XDIST_STEPS = """\
import os

from pytest_bdd import scenarios, then

from kubelab import evidence
from kubelab.plugin.options import reports_dir

scenarios("pictures.feature")


@then("a picture is drawn")
def _(pytestconfig):
    reports = reports_dir(pytestconfig)
    assert not (reports / "rollout-earlier.png").exists(), "the earlier run's files are still here"
    path = reports / f"rollout-{os.environ['PYTEST_XDIST_WORKER']}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\\x89PNG\\r\\n\\x1a\\n")
    evidence.picture("the rollout's timeline", path)
"""

# Which process moves the earlier run's files aside, each time it does: the controller or a worker.
COUNTING_CONFTEST = """\
import os

from kubelab import report

real = report.set_aside_earlier_run


def counted(directory, *args, **kwargs):
    moved = real(directory, *args, **kwargs)
    with open(os.path.join(os.path.dirname(__file__), "set-aside.log"), "a") as log:
        who = os.environ.get("PYTEST_XDIST_WORKER", "controller")
        log.write(f"{who} moved {len(moved)}\\n")
    return moved


report.set_aside_earlier_run = counted
"""


def test_under_xdist_the_controller_sets_the_earlier_run_aside_once_before_any_worker_draws(
    tmp_path,
):
    project = tmp_path / "project"
    (project / "lab").mkdir(parents=True)
    (project / "lab" / "pictures.feature").write_text(XDIST_FEATURE)
    (project / "lab" / "test_pictures.py").write_text(XDIST_STEPS)
    (project / "conftest.py").write_text(COUNTING_CONFTEST)
    (project / "pytest.ini").write_text("[pytest]\nkubelab_paths = lab\n")
    reports = project / "reports"  # the default place: no --reports-dir
    reports.mkdir()
    earlier = ["lab.html", "junit.xml", "rollout-earlier.png"]
    for name in earlier:
        (reports / name).write_text("the earlier run's")
    with serve() as api:
        run = subprocess.run(
            [
                *(sys.executable, "-m", "pytest", "lab", "-n", "2", "-p", "no:cacheprovider"),
                *("--cluster=existing", f"--kubeconfig={kubeconfig(project, api.url)}"),
                "--check-report=no",
            ],
            cwd=project,
            # Its controller is no worker, also when this test runs on one (pytest -n auto).
            env={k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST_")},
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "2 passed" in run.stdout, run.stdout
    assert (project / "set-aside.log").read_text().splitlines() == ["controller moved 3"]
    assert sorted(p.name for p in (reports / ".previous").iterdir()) == sorted(earlier)
    pictures = ["rollout-gw0.png", "rollout-gw1.png"]  # each worker drew one
    assert sorted(p.name for p in reports.iterdir()) == sorted([".previous", "lab.html", *pictures])
    page = (reports / "lab.html").read_text()
    assert sorted(re.findall(r'<img src="([^"]+)"', page)) == pictures
