"""``tox -e soak``: each failed run's first line, where it was raised, and whether it is a
diagnosis (kubelab's errors, a step's assertion) or an exception kubelab's code should not raise,
read from the JUnit file a real pytest run writes (a project whose ``kubelab`` and ``steps``
directories raise what the lab's code can)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from kubelab import soak
from kubelab.soak import DIAGNOSIS, KUBELAB, Failure, first_failure, report, run_failure

STEPS = """\
import pytest

from kubelab.commands import run
from kubelab.watching import decode, stop
from kubelab.waits import wait


def test_a_diagnosis_of_the_cluster():
    wait()


def test_an_assertion_about_the_cluster():
    assert [] == ["redis"], "Service redis has no endpoints because its selector app=x matches no pod"


def test_an_assertion_kubelab_got_wrong():
    most = 5
    assert most <= 4, "the watch saw 5 web pods at once: web, web-dmkvd, web-p6t82"


def test_kubelab_raising_what_it_should_not():
    stop()


def test_passing():
    pass


@pytest.fixture
def namespace():
    yield
    wait()


def test_a_namespace_that_does_not_go(namespace):
    pass


@pytest.fixture
def watch():
    stop()


def test_a_watch_kubelab_cannot_start(watch):
    pass


def test_a_library_raising_under_kubelab():
    decode()


def test_a_command_on_the_host_failing():
    run()
"""

WATCHING = """\
import errno
import json


def stop():
    raise OSError(errno.EBADF, "Bad file descriptor")


def decode():
    return json.loads("{")
"""

# A diagnosis whose class is not in kubelab/errors.py: a subclass of one of them elsewhere.
COMMANDS = """\
from kubelab.errors import EnvironmentProblem


class CommandFailed(EnvironmentProblem):
    pass


def run():
    raise CommandFailed("containerd restart on kubelab-worker: exit status 1")
"""

WAITS = """\
from kubelab.errors import WaitTimeout


def wait():
    raise WaitTimeout("pod web to be ready: not reached within 0:02:00; last seen: Pending")
"""


@pytest.fixture(scope="module")
def junit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The JUnit file of a run of failing tests, a passing one, one whose fixture's teardown fails
    on the cluster and one whose fixture's setup fails in kubelab's code."""
    root = tmp_path_factory.mktemp("project")
    (root / "steps").mkdir()
    (root / "steps" / "test_lab.py").write_text(STEPS)
    own = root / "kubelab"
    own.mkdir()
    errors = Path(__file__).resolve().parents[1] / "kubelab" / "errors.py"
    (own / "errors.py").write_text(errors.read_text())
    (own / "__init__.py").write_text("")
    (own / "watching.py").write_text(WATCHING)
    (own / "waits.py").write_text(WAITS)
    (own / "commands.py").write_text(COMMANDS)
    out = root / "junit.xml"
    subprocess.run(
        [sys.executable, "-m", "pytest", "steps", "-p", "no:kubelab", f"--junitxml={out}"],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        check=False,  # all but one fail on purpose
        timeout=60,
    )
    return out


def test_the_first_failure_is_a_diagnosis_of_the_cluster(junit):
    assert first_failure(junit, "") == Failure(
        "test_a_diagnosis_of_the_cluster",
        "kubelab.errors.WaitTimeout: pod web to be ready: not reached within 0:02:00; "
        "last seen: Pending",
        DIAGNOSIS,
        "kubelab/waits.py:5",
    )


def test_each_failure_says_what_it_is_and_where_it_was_raised(junit):
    from kubelab.soak import junit_failures

    found = {f.test: f for f in junit_failures(junit.read_text())}
    # json raised it (its line is the Python version's), called by kubelab: kubelab's to answer.
    library = found.pop("test_a_library_raising_under_kubelab")
    assert library.source == KUBELAB
    assert re.fullmatch(r"json/decoder\.py:\d+, from kubelab/watching\.py:10", library.raised_at)
    assert library.line.startswith("json.decoder.JSONDecodeError: Expecting property name")
    assert {test: (f.source, f.raised_at) for test, f in found.items()} == {
        "test_a_diagnosis_of_the_cluster": (DIAGNOSIS, "kubelab/waits.py:5"),
        "test_an_assertion_about_the_cluster": (DIAGNOSIS, "steps/test_lab.py:13"),
        # The soak's one false failure: a diagnosis, and kubelab's own mistake all the same.
        "test_an_assertion_kubelab_got_wrong": (DIAGNOSIS, "steps/test_lab.py:18"),
        "test_kubelab_raising_what_it_should_not": (KUBELAB, "kubelab/watching.py:6"),
        "test_a_namespace_that_does_not_go": (DIAGNOSIS, "kubelab/waits.py:5"),
        "test_a_watch_kubelab_cannot_start": (KUBELAB, "kubelab/watching.py:6"),
        "test_a_command_on_the_host_failing": (DIAGNOSIS, "kubelab/commands.py:9"),
    }
    assert found["test_an_assertion_about_the_cluster"].line.startswith(
        "AssertionError: Service redis has no endpoints"
    )
    assert found["test_an_assertion_kubelab_got_wrong"].shown() == (
        "diagnosis: AssertionError: the watch saw 5 web pods at once: web, web-dmkvd, web-p6t82 "
        "(raised at steps/test_lab.py:18) [test_an_assertion_kubelab_got_wrong]"
    )
    assert found["test_kubelab_raising_what_it_should_not"].line == (
        "OSError: [Errno 9] Bad file descriptor"
    )
    # JUnit wraps a fixture's error ('failed on teardown with "..."'): the line is the error's.
    assert found["test_a_namespace_that_does_not_go"].line.startswith(
        "kubelab.errors.WaitTimeout: pod web to be ready"
    )
    assert found["test_a_watch_kubelab_cannot_start"].line == (
        "OSError: [Errno 9] Bad file descriptor"
    )


def test_kubelabs_diagnostics_under_a_traceback_are_not_its_frames():
    from kubelab.soak import raised_at

    traceback = (
        "kubelab/waits.py:5: WaitTimeout\n"
        "------------------------- kubelab diagnostics -------------------------\n"
        "app/app.py:12: a line of the pod's log that looks like a frame\n"
    )
    assert raised_at(traceback) == "kubelab/waits.py:5"


def test_a_run_that_failed_outside_any_test_names_kubelabs_line():
    exit_line = "! _pytest.outcomes.Exit: kubelab: no cluster to run on: no kubeconfig given !"
    assert run_failure(f"collected 40 items\n\n{exit_line}\n") == Failure(
        "", "kubelab: no cluster to run on: no kubeconfig given", DIAGNOSIS
    )
    chromium = "kubelab: reports/lab.html does not read well in Chromium: no section Pods"
    assert run_failure(f"40 passed\n{chromium}\n").source == KUBELAB
    sentinels = (
        "kubelab: end-of-run check failed: the lab changed objects it did not create: "
        "ConfigMap kubelab-sentinel-x/keep: deleted"
    )
    assert run_failure(f"40 passed\n{sentinels}\n").source == KUBELAB
    assert run_failure("Segmentation fault\n") == Failure("", "Segmentation fault", KUBELAB)


def test_the_report_counts_and_lists_each_failed_run():
    failure = Failure("test_x", "OSError: boom", KUBELAB, "kubelab/watching.py:5")
    wait = Failure("test_y", "WaitTimeout: pod web", DIAGNOSIS, "kubelab/waits.py:60")
    assert report([None, failure, wait, None]).splitlines() == [
        "kubelab soak: 2 of 4 runs passed on one cluster",
        "  run 2: kubelab: OSError: boom (raised at kubelab/watching.py:5) [test_x]",
        "  run 3: diagnosis: WaitTimeout: pod web (raised at kubelab/waits.py:60) [test_y]",
        (
            "failures from kubelab's code: 1; diagnoses: 1 (of the cluster, or kubelab's own "
            "mistake: read the line and where it was raised)"
        ),
    ]


def test_new_cluster_each_run_refuses_a_kind_cluster_already_there(monkeypatch, capsys):
    # Each run would reuse it and leave it in place (it did not create it): none would be new.
    from kubelab.cluster.kind import engine, nodes

    monkeypatch.setattr(engine, "docker_answers", lambda: True)
    monkeypatch.setattr(nodes, "node_images", lambda name: {"kubelab-control-plane": "img"})

    def no_run(*args: object) -> None:
        raise AssertionError("no run starts")

    monkeypatch.setattr(soak, "_run", no_run)
    assert soak.main(["--runs", "2", "--new-cluster-each-run", "--cluster", "kind"]) == 2
    assert capsys.readouterr().err == (
        "kubelab soak: kind cluster kubelab exists (kubelab-control-plane): with "
        "--new-cluster-each-run every run creates its own; delete it first (`kind delete "
        "cluster --name kubelab`)\n"
    )


def test_only_a_kind_soak_looks_for_a_kind_cluster():
    assert soak.asks_for_kind(["--cluster=kind", "-x"])
    assert soak.asks_for_kind(["-k", "Every node", "--cluster", "kind"])
    assert not soak.asks_for_kind(["--cluster=local"])
    assert soak.asks_for_kind(["--kubelab-cluster=kind"])
    assert not soak.asks_for_kind([])


def test_a_failed_run_is_reported_though_the_run_moved_its_reports_aside(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run moves what it finds in its reports directory into ``.previous/`` as it starts;
    the soak still reads the failed run's output."""

    def failing_run(command: list[str], stdout: object, **kwargs: object) -> int:
        out = tmp_path / "run-1"
        (out / ".previous").mkdir()
        for found in out.iterdir():
            if found.name != ".previous":
                found.rename(out / ".previous" / found.name)
        stdout.write("E   EnvironmentProblem: the cluster has no node\n")  # type: ignore[attr-defined]
        stdout.flush()  # type: ignore[attr-defined]
        return 1

    monkeypatch.setattr(soak.commands, "run_child", failing_run)
    failure = soak._run(1, [], tmp_path)
    assert failure is not None
    assert "the cluster has no node" in failure.shown()


@pytest.mark.parametrize(
    ("before", "deleted"),
    [
        (
            soak.KindBefore(engine=False, cluster=False, network=False),
            ["cluster", "network", "dockerd"],
        ),
        (soak.KindBefore(engine=True, cluster=False, network=True), ["cluster"]),
        (soak.KindBefore(engine=True, cluster=True, network=True), []),
    ],
)
def test_a_kind_soak_takes_down_only_what_it_created(
    before: soak.KindBefore, deleted: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from kubelab.cluster.kind import engine, nodes, tools

    done: list[str] = []
    monkeypatch.setattr(engine, "docker_answers", lambda: True)
    monkeypatch.setattr(tools, "kind_cli", lambda cache: Path("kind"))
    monkeypatch.setattr(nodes, "delete_left_behind", lambda kind: done.append("cluster") or [])
    monkeypatch.setattr(nodes, "network_exists", lambda: True)
    monkeypatch.setattr(nodes, "remove_network", lambda: done.append("network"))
    monkeypatch.setattr(engine.DockerEngine, "stop", lambda self: done.append("dockerd"))
    before.take_down()
    assert done == deleted


def test_a_soak_sets_the_earlier_soaks_runs_aside(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A soak of one run after one of three: only this soak's run-1 is left beside its log; the
    earlier soak's three are in .previous/, as a lab run does with its reports directory."""
    from kubelab.cluster.local import LocalCluster

    soak_dir = tmp_path / "soak"
    for n in (1, 2, 3):
        (soak_dir / f"run-{n}").mkdir(parents=True)
        (soak_dir / f"run-{n}" / "junit.xml").write_text("earlier")
        (soak_dir / f"run-{n}.log").write_text("earlier")
    (soak_dir / "kind").mkdir()  # not a run of a soak: left alone

    def passing_run(command: list[str], stdout: object, **kwargs: object) -> int:
        stdout.write("1 passed\n")  # type: ignore[attr-defined]
        return 0

    monkeypatch.setattr(soak.commands, "run_child", passing_run)
    monkeypatch.setattr(LocalCluster, "has_processes", lambda self: False)
    assert soak.main(["--runs", "1", f"--soak-dir={soak_dir}"]) == 0
    assert sorted(p.name for p in soak_dir.iterdir()) == [".previous", "kind", "run-1", "run-1.log"]
    assert list((soak_dir / "run-1").iterdir()) == []
    assert (soak_dir / "run-1.log").read_text() == "1 passed\n"
    assert sorted(p.name for p in (soak_dir / ".previous").iterdir()) == [
        "run-1",
        "run-1.log",
        "run-2",
        "run-2.log",
        "run-3",
        "run-3.log",
    ]


def test_an_interrupted_soak_ends_in_one_line_and_takes_its_cluster_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C (or SIGTERM, which the soak turns into one) in a run: the run was told to stop
    (commands.run_child), the cluster the soak started goes down, exit 130, no traceback."""
    from kubelab.cluster.local import LocalCluster

    def interrupted_run(command: list[str], stdout: object, **kwargs: object) -> int:
        raise KeyboardInterrupt

    up = [False]
    downs: list[str] = []
    monkeypatch.setattr(soak.commands, "run_child", interrupted_run)
    monkeypatch.setattr(LocalCluster, "has_processes", lambda self: up[0])
    monkeypatch.setattr(LocalCluster, "down", lambda self: downs.append("down"))
    real_run = soak._run

    def run_booting(*args: object, **kwargs: object) -> object:
        up[0] = True  # the run booted the cluster before it was interrupted
        return real_run(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(soak, "_run", run_booting)
    assert soak.main(["--runs", "3", f"--soak-dir={tmp_path}"]) == 130
    assert downs == ["down"]
