"""kubelab is inert unless asked: installed beside another project, it changes nothing of that
project's pytest run.

An unrelated pytest-bdd project (a calculator adding 2 and 3, no kubelab fixture, its steps in a
``steps`` directory like the lab's) runs in a subprocess of this environment, where kubelab's
plugin loads through its ``pytest11`` entry point. Everything kubelab could touch is pointed at a
place the test then inspects: KUBECONFIG at the stand-in API server (tests/stand_in_api.py; an
eager plugin would choose it and ask it), kubelab's state and cache directories, HOME, and a
``chromium`` on PATH that only leaves a mark. A project with a ``cluster`` fixture of its own
runs the same way: the fixture's name alone does not bring kubelab in.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from kubelab import releases
from tests.stand_in_api import kubeconfig, serve

FEATURE = """\
Feature: Calculator
  Scenario: Adding two numbers
    Given the numbers 2 and 3
    When I add them
    Then the result is 5
"""

STEPS = """\
from pytest_bdd import given, parsers, scenarios, then, when

scenarios("../calculator.feature")


@given(parsers.parse("the numbers {a:d} and {b:d}"), target_fixture="numbers")
def _(a, b):
    return a, b


@when("I add them", target_fixture="total")
def _(numbers):
    return sum(numbers)


@then(parsers.parse("the result is {n:d}"))
def _(total, n):
    assert total == n
"""

# What the run looked like to the project itself, at its very end: the SIGTERM handler,
# pytest-bdd's --cucumberjson option as the project passed it, and whether the kubernetes client
# (a second of imports) was loaded.
CONFTEST = """\
import json
import signal
import sys

import pytest


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    seen = {
        "sigterm": repr(signal.getsignal(signal.SIGTERM)),
        "cucumber_json_path": config.option.cucumber_json_path,
        "kubernetes client imported": "kubernetes" in sys.modules,
    }
    with open("seen.json", "w") as out:
        json.dump(seen, out)
"""

CHROMIUM = """\
#!/bin/sh
touch "$(dirname "$0")/chromium-was-started"
exit 1
"""


def make_project(project: Path, files: dict[str, str]) -> Path:
    """A project of ``files`` (path -> text) at ``project``."""
    for name, text in files.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(text)
    return project


@pytest.fixture
def calculator(tmp_path: Path) -> Path:
    return make_project(
        tmp_path / "calculator",
        {
            "calculator.feature": FEATURE,
            "steps/test_calculator.py": STEPS,
            "conftest.py": CONFTEST,
            "pytest.ini": "[pytest]\n",
        },
    )


def _cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Run:
    """A pytest run of a project beside kubelab, everything kubelab could touch watched."""

    result: subprocess.CompletedProcess[str]
    made: dict[str, object]  # what kubelab could have left behind, as found after the run
    cpu: float
    wall: float


NOTHING_MADE = {
    "API server asked": [],
    "reports/": False,
    ".kubelab/": False,
    "state": [],
    "cache": [],
    "HOME": [],
    "Chromium": False,
}


def run_beside_kubelab(project: Path, tmp_path: Path, *args: str) -> Run:
    state, cache, home, bin_dir = (tmp_path / d for d in ("state", "cache", "home", "bin"))
    for directory in (state, cache, home, bin_dir):
        directory.mkdir()
    (bin_dir / "chromium").write_text(CHROMIUM)
    (bin_dir / "chromium").chmod(0o755)
    with serve() as api:
        env = {
            **os.environ,
            "KUBECONFIG": str(kubeconfig(tmp_path, api.url)),
            "KUBELAB_STATE_DIR": str(state),
            "KUBELAB_CACHE_DIR": str(cache),
            "HOME": str(home),
            "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        }
        cpu, started = _cpu_of_children(), time.monotonic()
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        cpu, wall = _cpu_of_children() - cpu, time.monotonic() - started
    made = {
        "API server asked": api.asked,
        "reports/": (project / "reports").exists(),
        ".kubelab/": (project / ".kubelab").exists(),
        "state": sorted(p.name for p in state.iterdir()),
        "cache": sorted(p.name for p in cache.iterdir()),
        "HOME": sorted(p.name for p in home.iterdir()),
        "Chromium": (bin_dir / "chromium-was-started").exists(),
    }
    return Run(result, made, cpu, wall)


def test_an_unrelated_pytest_bdd_project_runs_as_without_kubelab(calculator, tmp_path):
    ran = run_beside_kubelab(calculator, tmp_path, "--cucumberjson=out.json")
    run, cpu, wall = ran.result, ran.cpu, ran.wall
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed" in run.stdout, run.stdout
    assert "kubelab" not in run.stdout.replace("kubelab-0.1.0", ""), run.stdout  # not a word
    assert ran.made == NOTHING_MADE
    seen = json.loads((calculator / "seen.json").read_text())
    assert seen == {
        "sigterm": "<Handlers.SIG_DFL: 0>",
        "cucumber_json_path": "out.json",
        "kubernetes client imported": False,
    }
    assert json.loads((calculator / "out.json").read_text())[0]["name"] == "Calculator"
    # The bound is wall time; CPU time is asserted too, so a slow run under load (a Go
    # build, xdist) can be told from kubelab doing work: the message gives both.
    took = f"the calculator's run took {wall:.2f} s wall, {cpu:.2f} s of CPU"
    assert wall < 2, took
    assert cpu < 2, took


OWN_CLUSTER = """\
import pytest


@pytest.fixture(scope="session")
def cluster():
    return "the project's own cluster"


def test_uses_its_own_cluster(cluster):
    assert cluster == "the project's own cluster"
"""


def test_a_project_with_its_own_cluster_fixture_runs_as_without_kubelab(tmp_path):
    project = tmp_path / "own"
    project.mkdir()
    (project / "test_own.py").write_text(OWN_CLUSTER)
    (project / "pytest.ini").write_text("[pytest]\n")
    ran = run_beside_kubelab(project, tmp_path)
    assert ran.result.returncode == 0, ran.result.stdout + ran.result.stderr
    assert "1 passed" in ran.result.stdout, ran.result.stdout
    assert ran.made == NOTHING_MADE


BLOCKED = """\
import sys

# As if kubelab were installed without its test extra: none of these can be imported.
for name in ("pytest_bdd", "xdist", "pytest_kind", "kubernetes_validate"):
    sys.modules[name] = None
import pytest

sys.exit(pytest.main(["-p", "kubelab.plugin", "-p", "no:cacheprovider", "-q"]))
"""


def test_kubelab_without_its_test_extra_leaves_a_plain_run_working(tmp_path):
    (tmp_path / "test_plain.py").write_text("def test_one():\n    assert 2 + 3 == 5\n")
    run = subprocess.run(
        [sys.executable, "-c", BLOCKED],
        cwd=tmp_path,
        env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed" in run.stdout, run.stdout


PAST_END_OF_LIFE = """\
import datetime

from kubelab import releases

# As on the day after the last end of life in kubelab's table: every release in it is refused.
AFTER = max(r.end_of_life for r in releases.RELEASES) + datetime.timedelta(days=1)
releases.today = lambda: AFTER
assert releases.live() == []
"""

PLAIN = "def test_one():\n    assert 2 + 3 == 5\n"


@pytest.fixture
def past_end_of_life(tmp_path: Path) -> Path:
    """A plain project, run on a day past every release's end of life (its conftest.py moves
    kubelab's clock: a test hook of the project, no setting of kubelab's)."""
    return make_project(
        tmp_path / "plain",
        {
            "test_plain.py": PLAIN,
            "lab/test_lab.py": PLAIN,
            "conftest.py": PAST_END_OF_LIFE,
            "pytest.ini": "[pytest]\nkubelab_paths = lab\n",
        },
    )


def test_a_release_past_its_end_of_life_fails_no_unrelated_run(past_end_of_life, tmp_path):
    ran = run_beside_kubelab(past_end_of_life, tmp_path, "test_plain.py")
    assert ran.result.returncode == 0, ran.result.stdout + ran.result.stderr
    assert "1 passed" in ran.result.stdout, ran.result.stdout
    assert ran.made == NOTHING_MADE


def pytest_in(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """A pytest run in ``project``, its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


NEWEST = f"1.{releases.DEFAULT.minor}"


@pytest.mark.parametrize(
    "args", [["lab"], ["test_plain.py", f"--k8s-version={NEWEST}"]], ids=["the-lab", "asked"]
)
def test_a_release_past_its_end_of_life_is_refused_where_kubelab_is_asked(past_end_of_life, args):
    run = pytest_in(past_end_of_life, *args)
    assert run.returncode == pytest.ExitCode.USAGE_ERROR, run.stdout + run.stderr
    assert f"Kubernetes {NEWEST} reached end of life" in run.stderr, run.stderr


# A project's own --cluster and --workers, as plain pytest_addoption declares them (dest
# "cluster" and "workers"), read by its test.
OWN_OPTIONS_CONFTEST = """\
def pytest_addoption(parser):
    parser.addoption("--cluster", default="staging")
    parser.addoption("--workers", type=int, default=1)
"""

OWN_OPTIONS_TEST = """\
def test_its_own_options(pytestconfig):
    assert pytestconfig.getoption("--cluster") == "production"
    assert pytestconfig.getoption("workers") == 4
"""


def test_a_project_with_its_own_cluster_and_workers_options_keeps_them(tmp_path):
    project = make_project(
        tmp_path / "own-options",
        {
            "conftest.py": OWN_OPTIONS_CONFTEST,
            "test_options.py": OWN_OPTIONS_TEST,
            "pytest.ini": "[pytest]\n",
        },
    )
    ran = run_beside_kubelab(project, tmp_path, "--cluster", "production", "--workers=4")
    assert ran.result.returncode == 0, ran.result.stdout + ran.result.stderr
    assert "1 passed" in ran.result.stdout, ran.result.stdout
    assert ran.made == NOTHING_MADE
    # kubelab's own is still there, by its other name.
    refused = pytest_in(project, "--kubelab-cluster=nowhere")
    assert refused.returncode == pytest.ExitCode.USAGE_ERROR, refused.stdout + refused.stderr
    assert "--kubelab-cluster=nowhere is not one of auto" in refused.stderr, refused.stderr
