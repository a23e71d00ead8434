"""kubelab as a pytest plugin: another project installs kubelab and writes its own features.

The temporary project below is the README's example, run in a subprocess (so the plugin is
found through its ``pytest11`` entry point, not through any conftest) against the stand-in API
server of tests/stand_in_api.py. The same project shows that cleanup never depends on a
terminal: Ctrl-C, SIGTERM and a closed stdout (a killed ``| tee``) leave no namespace behind.
"""

from __future__ import annotations

import importlib
import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

from kubelab.waits import SHORT, wait_until
from tests.stand_in_api import kubeconfig, serve

FEATURE = """\
Feature: My cluster
  Scenario: Every node is Ready
    Given a namespace of my own
    Then every node is Ready
"""

STEPS = """\
from pytest_bdd import given, scenarios, then
from kubelab import checks

scenarios("nodes.feature")

@given("a namespace of my own")
def _(namespace):
    assert namespace.name.startswith("kubelab-")

@then("every node is Ready")
def _(kube):
    assert checks.nodes_not_ready(kube) == []
"""

SLOW_FEATURE = """\
Feature: My cluster
  Scenario: A quick one
    Given a namespace of my own

  Scenario: A slow one
    Given a namespace of my own
    When I wait 5 seconds
"""

SLOW_STEPS = """\
import time
from pytest_bdd import given, parsers, scenarios, when

scenarios("nodes.feature")

@given("a namespace of my own")
def _(namespace):
    pass

@when(parsers.parse("I wait {seconds:d} seconds"))
def _(seconds):
    time.sleep(seconds)
    print("a line that finds stdout closed", flush=True)
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makefile(".feature", nodes=FEATURE)
    pytester.makepyfile(test_nodes=STEPS)
    return pytester


def test_another_project_runs_its_own_features_on_the_cluster(project, tmp_path):
    with serve() as api:
        result = project.runpytest_subprocess(
            "--cluster=existing",
            f"--kubeconfig={kubeconfig(tmp_path, api.url)}",
            "-p",
            "no:cacheprovider",
        )
        assert api.namespaces == set()
    result.assert_outcomes(passed=1)
    assert result.ret == 0  # the end-of-run checks passed too


# Stand-in for the kubelet's refresh of a node's image list (kubelab waits 45 s for it). By
# import_module: the package's attribute `cluster` is the fixture of that name.
SHORT_IMAGE_LIST_LAG = (
    "import importlib\nimportlib.import_module('kubelab.plugin.cluster').IMAGE_LIST_LAG = 1.0\n"
)


REGISTRY_IMAGES = (
    "--web-image=127.0.0.1:5000/web:1.0",
    "--web-image-v2=127.0.0.1:5000/web:2.0",
    "--redis-image=127.0.0.1:5000/redis:7",
)


@pytest.mark.parametrize(
    ("images", "ret"),
    [((), 2), (("--web-image=127.0.0.1:5000/web:1.0",), 2), (REGISTRY_IMAGES, 0)],
    ids=["kubelab-local", "one-from-a-registry", "all-from-a-registry"],
)
def test_an_existing_cluster_whose_nodes_lack_kubelabs_own_images_is_refused_at_once(
    project, tmp_path, images, ret
):
    """No registry serves kubelab.local/: a node without those images would have every scenario
    wait for a pull that cannot succeed. Images from a registry are the nodes' to pull."""
    project.makeconftest(SHORT_IMAGE_LIST_LAG)
    with serve() as api:
        node = api.nodes[0]
        api.nodes = [{**node, "status": {**node["status"], "images": [{"names": ["redis:7"]}]}}]
        result = project.runpytest_subprocess(
            "--cluster=existing",
            f"--kubeconfig={kubeconfig(tmp_path, api.url)}",
            "-p",
            "no:cacheprovider",
            *images,
        )
        created = api.created
    assert result.ret == ret
    if ret == 0:
        return
    said = [line for line in result.stdout.lines + result.stderr.lines if "kubelab:" in line]
    assert said[0].startswith(
        "! _pytest.outcomes.Exit: kubelab: the lab's image kubelab.local/redis:7 is not on node "
        "stand-in-worker1, and no registry serves kubelab.local: push the images where the "
        "nodes pull from "
    ), said
    assert created == 0
    result.assert_outcomes()


def test_images_a_node_lists_while_kubelab_waits_are_taken(tmp_path, monkeypatch):
    """A node lists an image it was just given up to about 40 s later: no false refusal."""
    from kubelab.client import Kube
    from kubelab.cluster.select import DEFAULT_IMAGES

    plugin_cluster = importlib.import_module("kubelab.plugin.cluster")
    monkeypatch.setattr(plugin_cluster, "IMAGE_LIST_LAG", 5.0)
    with serve() as api:
        loaded = api.nodes[0]
        api.nodes = [{**loaded, "status": {**loaded["status"], "images": []}}]
        kube = Kube.from_kubeconfig(kubeconfig(tmp_path, api.url), None)
        threading.Timer(1.0, lambda: api.nodes.__setitem__(0, loaded)).start()
        plugin_cluster.refuse_images_never_pulled(kube, DEFAULT_IMAGES)
        assert sum(asked.startswith("GET /api/v1/nodes") for asked in api.asked) >= 2


def test_the_plugin_registers_its_options(project):
    result = project.runpytest_subprocess("--help")
    result.stdout.fnmatch_lines(
        ["kubelab: the cluster the lab runs on (each also --kubelab-NAME*", "*--cluster=CLUSTER*"]
    )


def test_a_plain_test_run_sets_up_no_cluster(pytester):
    pytester.makepyfile(test_plain="def test_one():\n    assert True\n")
    result = pytester.runpytest_subprocess("--cluster=existing", "--kubeconfig=/nonexistent")
    result.assert_outcomes(passed=1)


def test_a_test_asking_for_kubelabs_fixture_has_the_cluster_before_the_first_test(pytester):
    """kubelab's ``kube`` asks for its ``cluster``: it comes up before any test runs (here it
    cannot, and the run ends before the plain test that comes first)."""
    pytester.makepyfile(
        test_mixed=(
            "def test_plain():\n"
            "    open('plain-test-ran', 'w').close()\n\n"
            "def test_on_the_cluster(kube):\n"
            "    pass\n"
        )
    )
    result = pytester.runpytest_subprocess("--cluster=existing", "--kubeconfig=/nonexistent")
    assert result.ret == 2
    result.stdout.fnmatch_lines(["*kubelab: kubeconfig /nonexistent does not exist*"])
    assert not (pytester.path / "plain-test-ran").exists()


TEARDOWN_SAYS = """\
from kubelab.console import say
from kubelab.plugin.cluster import PROVIDER, take_part


class KeptCluster:
    def teardown(self):
        say("[stand-in] keeping cluster lab")


def pytest_configure(config):
    take_part(config)
    config.stash[PROVIDER] = KeptCluster()
"""


@pytest.mark.parametrize("verbosity", ["-q", "-v"])
def test_the_teardowns_progress_starts_a_line_of_its_own(pytester, verbosity):
    """The cluster's teardown says what it does after pytest's last progress mark ("[100%]"),
    on a line of its own."""
    pytester.makeconftest(TEARDOWN_SAYS)
    pytester.makepyfile(test_plain="def test_one():\n    pass\n")
    result = pytester.runpytest_subprocess(verbosity, "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*[[]100%]", "[[]stand-in] keeping cluster lab"], consecutive=True)


KEEPS = """\
import pytest

import kubelab.plugin.namespaces as namespaces


class Namespace:
    name = "lab-kept"

    def request_deletion(self):
        raise AssertionError("the kept namespace was deleted")


def new_namespace(config, kube):  # stands in for kubelab's (no cluster here)
    config.stash.setdefault(namespaces.CREATED, []).append(Namespace.name)
    return Namespace()


namespaces._new_namespace = new_namespace


@pytest.fixture
def kube():
    return None
"""


def test_a_kept_namespace_is_named_on_a_passing_run(pytester):
    """--keep-namespace keeps a passing scenario's namespace and says so past pytest's capture."""
    pytester.makeconftest(KEEPS)
    pytester.makepyfile(test_kept="def test_one(namespace):\n    pass\n")
    result = pytester.runpytest_subprocess(
        "--cluster=existing", "--kubeconfig=/nonexistent", "--keep-namespace=always"
    )
    result.assert_outcomes(passed=1)
    result.stderr.fnmatch_lines(["kubelab: keeping namespace lab-kept (--keep-namespace=always)"])


@pytest.mark.parametrize(
    ("signum", "close_stdout"),
    [(signal.SIGINT, True), (signal.SIGTERM, False), (signal.SIGTERM, True), (None, True)],
    ids=["ctrl-c-with-tee-gone", "sigterm", "sigterm-with-tee-gone", "tee-gone"],
)
def test_an_interrupted_run_leaves_nothing_behind(project, tmp_path, signum, close_stdout):
    project.makefile(".feature", nodes=SLOW_FEATURE)
    project.makepyfile(test_nodes=SLOW_STEPS)
    with serve() as api:
        argv = ["-v", "-p", "no:cacheprovider", "--cluster=existing"]
        run = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pytest",
                *argv,
                f"--kubeconfig={kubeconfig(tmp_path, api.url)}",
            ],
            cwd=project.path,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL if close_stdout else subprocess.PIPE,
        )
        assert run.stdout is not None
        wait_until(  # the first scenario's namespace is being deleted, the second one exists
            lambda: api.created, lambda n: n == 2, timeout=SHORT, what="two namespaces"
        )
        if close_stdout:
            run.stdout.close()  # the pipe's reader is gone, as when Ctrl-C also ends `tee`
        if signum is not None:
            time.sleep(0.5)
            run.send_signal(signum)
        code = run.wait(timeout=60)
        assert api.namespaces == set()
    assert code != 0


@pytest.mark.parametrize("where", [".", "lab"], ids=["from-the-root", "from-the-lab-dir"])
def test_xdist_sets_the_cluster_up_once_from_anywhere(pytester, tmp_path, where):
    """With -n 2 the controller sets the cluster up, and the sentinels are planted, once."""
    pytester.makeini("[pytest]\nkubelab_paths = lab\n")
    lab = pytester.mkpydir("lab")
    (lab / "nodes.feature").write_text(FEATURE)
    (lab / "test_nodes.py").write_text(STEPS)
    with serve() as api:
        run = subprocess.run(
            [
                *(sys.executable, "-m", "pytest", "-n", "2", "-p", "no:cacheprovider"),
                *(
                    "--sentinels=yes",
                    "--cluster=existing",
                    f"--kubeconfig={kubeconfig(tmp_path, api.url)}",
                ),
            ],
            cwd=pytester.path / where,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        sentinels = [
            p
            for p in api.posted
            if p.startswith("/api/v1/namespaces/kubelab-sentinel-") and p.count("/") == 4
        ]
        assert run.returncode == 0, run.stdout + run.stderr
        assert len(sentinels) == 1, api.posted
        assert api.namespaces == set()


def test_xdist_outside_the_lab_paths_fails_saying_why(project, tmp_path):
    with serve() as api:
        result = project.runpytest_subprocess(
            "-n", "1", "--cluster=existing", f"--kubeconfig={kubeconfig(tmp_path, api.url)}"
        )
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        ["*kubelab: under pytest-xdist the controller sets the cluster up*"]
    )
    assert api.posted == []  # no worker set a cluster up of its own


SHARES_FEATURE = """\
Feature: Five scenarios of different lengths
  Scenario: A
    Then it is done

  Scenario: B
    Then it is done
    And it is done
    And it is done
    And it is done
    And it is done
    And it is done

  Scenario: C
    Then it is done

  Scenario: D
    Then it is done

  Scenario: E
    Then it is done
    And it is done
    And it is done
"""

SHARES_STEPS = """\
from pytest_bdd import scenarios, then

scenarios("shares.feature")


@then("it is done")
def _():
    pass
"""


def test_xdist_workers_are_each_sent_a_balanced_share_to_run_in_order(pytester, tmp_path):
    """-n 2: B (six Then steps) is one worker's share; A, C, D and E (six together) the other's,
    run in the feature's order. xdist's own load balancing splits them otherwise."""
    pytester.makeini("[pytest]\nkubelab_paths = lab\n")
    lab = pytester.mkpydir("lab")
    (lab / "shares.feature").write_text(SHARES_FEATURE)
    (lab / "test_shares.py").write_text(SHARES_STEPS)
    private_tmp = tmp_path / "tmp"  # where the run's temporary files go: nothing must be left
    private_tmp.mkdir()
    with serve() as api:
        run = subprocess.run(
            [
                *(sys.executable, "-m", "pytest", "-n", "2", "-v", "-p", "no:cacheprovider"),
                *("--cluster=existing", f"--kubeconfig={kubeconfig(tmp_path, api.url)}"),
                "--check-report=no",  # Chromium does not start with a TMPDIR this deep
            ],
            cwd=pytester.path,
            env={**os.environ, "TMPDIR": str(private_tmp)},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    assert run.returncode == 0, run.stdout + run.stderr
    ran: dict[str, list[str]] = {}
    for worker, name in re.findall(r"\[(gw\d)\] \[ *\d+%\] PASSED \S+::test_(\w+)", run.stdout):
        ran.setdefault(worker, []).append(name)
    assert sorted(ran.values()) == [["a", "c", "d", "e"], ["b"]], run.stdout
    assert list(private_tmp.glob("kubelab-shares-*")) == []
