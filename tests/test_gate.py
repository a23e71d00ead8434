"""The change chapter's and the gate's pure parts: the upgrade's order and skew, the drain's
choices, the gate's options, which scenario a change runs, how containers changed."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from kubelab import (
    change,
    commands,
    containers,
    drain,
    gate,
    gateplan,
    gatereport,
    releases,
    upgrade,
)
from kubelab.errors import KubelabError, UsageError
from kubelab.waits import wait_until
from tests import stand_in_api
from tests.cli import kubelab_cli

# The releases the gate's tests name, from kubelab's table (a new row moves them): they upgrade
# from OLD (--from FROM) to NEW (--to TO), the two newest; OLDER is the one before OLD. OLDEST is
# the oldest supported minor, GONE the one before it (past its end of life), NEXT the minor after
# the newest (not known yet) and FAR one further still.
OLDER, OLD, NEW = releases.RELEASES[-3:]
FROM, TO = f"1.{OLD.minor}", f"1.{NEW.minor}"
OLDEST, GONE = f"1.{releases.live()[0].minor}", f"1.{releases.live()[0].minor - 1}"
NEXT, FAR = f"1.{NEW.minor + 1}", f"1.{NEW.minor + 3}"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _as_root_on_linux(monkeypatch: pytest.MonkeyPatch) -> None:
    """The local gate plans as on the host it needs (tests/test_gate_guard.py: refused elsewhere)."""
    from kubelab.cluster.local import hostdeps

    monkeypatch.setattr(hostdeps, "check_platform", lambda: None)


def test_upgrade_goes_control_plane_first_then_coredns_then_each_node_in_turn() -> None:
    steps = upgrade.upgrade_plan("cp", ["w1", "w2"])
    assert [(s.node, s.action) for s in steps[:5]] == [
        ("cp", "etcd"),
        ("cp", "kube-apiserver"),
        ("cp", "kube-controller-manager"),
        ("cp", "kube-scheduler"),
        ("cluster", "coredns"),  # kubeadm upgrade apply: the add-ons after the control plane
    ]
    nodes = [s.node for s in steps[5:]]
    assert nodes == ["cp"] * 5 + ["w1"] * 5 + ["w2"] * 5
    assert [s.action for s in steps[5:10]] == [
        "cordon",
        "drain",
        "kubelet",
        "kube-proxy",
        "uncordon",
    ]


def test_the_plan_keeps_the_skew_policy() -> None:
    assert upgrade.skew_violations(upgrade.upgrade_plan("cp", ["w1", "w2"]), 36, 37) == []


def test_coredns_is_no_component_the_skew_policy_holds_to() -> None:
    steps = upgrade.upgrade_plan("cp", ["w1"])
    coredns = next(s for s in steps if s.action == "coredns")
    first = [coredns, *(s for s in steps if s != coredns)]  # before the API server: allowed
    assert upgrade.skew_violations(first, 36, 37) == []
    assert "coredns" not in upgrade.COMPONENTS


def test_a_kubelet_upgraded_before_the_api_server_breaks_the_skew_policy() -> None:
    steps = upgrade.upgrade_plan("cp", ["w1"])
    kubelet = next(s for s in steps if s.node == "w1" and s.action == "kubelet")
    reordered = [kubelet, *(s for s in steps if s != kubelet)]
    problems = upgrade.skew_violations(reordered, 36, 37)
    assert problems[0] == (
        "after step 1 (w1 kubelet): kubelet on w1 at 1.37, the API server at 1.36"
    )


def test_a_scheduler_left_behind_breaks_the_skew_policy_once_two_minors_behind() -> None:
    plan = upgrade.upgrade_plan("cp", ["w1"])
    scheduler = next(s for s in plan if s.action == "kube-scheduler")
    late = [*(s for s in plan if s != scheduler), scheduler]
    assert upgrade.skew_violations(late, 36, 37) == []  # one minor behind is allowed
    problems = upgrade.skew_violations(late, 36, 38)
    assert (
        "after step 2 (cp kube-apiserver): kube-scheduler on cp at 1.36, the API server at 1.38"
        in problems
    )


def test_an_interrupted_upgrade_says_which_node_is_between_releases() -> None:
    up = upgrade.Upgrade.__new__(upgrade.Upgrade)
    up.versions = {
        ("cp", "kube-apiserver"): "1.37.2",
        ("cp", "kubelet"): "1.37.2",
        ("w1", "kubelet"): "1.37.2",
        ("w1", "kube-proxy"): "1.36.3",
        ("w2", "kubelet"): "1.36.3",
    }
    assert up.between_releases() == (
        "the cluster is between releases: cp at 1.37.2; w1 between releases (kubelet 1.37.2, "
        "kube-proxy 1.36.3); w2 at 1.36.3"
    )
    up.versions = dict.fromkeys(up.versions, "1.37.2")
    assert up.between_releases() == ""


@pytest.mark.parametrize(
    ("interrupted", "w1"),
    [
        ("cordon", f"w1 at {OLD.version}"),
        ("drain", f"w1 at {OLD.version}"),
        ("kube-proxy", f"w1 between releases (kubelet {NEW.version}, kube-proxy stopped)"),
    ],
)
def test_an_upgrade_interrupted_at_a_node_uncordons_it_and_says_so_on_stderr(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    interrupted: str,
    w1: str,
) -> None:
    nodes = [SimpleNamespace(name="cp", control_plane=True)] + [
        SimpleNamespace(name=n, control_plane=False) for n in ("w1", "w2")
    ]
    cluster = SimpleNamespace(k8s_version=OLD.version, nodes=lambda: nodes)
    unschedulable: list[tuple[str, bool]] = []

    def interrupt(node: str, action: str) -> None:
        if (node, action) == ("w1", interrupted):
            raise KeyboardInterrupt

    def set_unschedulable(kube: Any, node: str, cordon: bool) -> None:
        unschedulable.append((node, cordon))  # an interrupted cordon may have landed
        interrupt(node, "cordon" if cordon else "uncordon")

    monkeypatch.setattr(upgrade.drain, "set_unschedulable", set_unschedulable)
    monkeypatch.setattr(upgrade.drain, "drain", lambda kube, node, say: interrupt(node, "drain"))
    monkeypatch.setattr(
        upgrade.changing, "restart_component", lambda c, node, action, bins: interrupt(node, action)
    )
    for method in ("_wait_serving", "_check_skew", "_upgrade_coredns"):
        monkeypatch.setattr(upgrade.Upgrade, method, lambda *args: None)
    built = SimpleNamespace(bins=None)
    up = upgrade.Upgrade(cluster, None, releases.choose(TO), built)  # type: ignore[arg-type]
    with pytest.raises(KeyboardInterrupt):
        up.run(change.Progress(reports=tmp_path))
    assert unschedulable[-2:] == [("w1", True), ("w1", False)]
    said = [
        "w1: uncordoned (the upgrade stopped)",
        (
            f"the upgrade stopped: the cluster is between releases: cp at {NEW.version}; {w1}; "
            f"w2 at {OLD.version}"
        ),
    ]
    assert capsys.readouterr().err.splitlines() == [f"kubelab: {line}" for line in said]
    assert change.stopped(tmp_path) == said  # for kubelab gate's summary


class _Stops:
    """A change that leaves a node for the user to know about, then fails with ``error``."""

    description = "a change that stops half-way"

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def run(self, progress: change.Progress) -> None:
        progress.alert("w1: uncordoned (the upgrade stopped)")
        raise self.error


def test_a_change_that_stops_names_what_it_left_in_its_error_or_its_interrupt() -> None:
    failed = change.make(_Stops(RuntimeError("kubelet did not start")), change.Progress())
    assert failed == "RuntimeError: kubelet did not start; w1: uncordoned (the upgrade stopped)"
    # pytest shows an interrupt's message on the terminal, and nothing the test printed.
    with pytest.raises(KeyboardInterrupt, match=r"^w1: uncordoned \(the upgrade stopped\)$"):
        change.make(_Stops(KeyboardInterrupt()), change.Progress())
    assert change.make(SimpleNamespace(run=lambda progress: None), change.Progress()) == ""


def test_a_step_interrupted_is_not_reported_done() -> None:
    progress = change.Progress()
    with pytest.raises(KeyboardInterrupt), progress.step("w2", "drain"):
        raise KeyboardInterrupt
    assert (
        progress.lines[-1]
        .split("  ", 1)[1]
        .startswith("w2: drain stopped (failed or interrupted) after")
    )


def _pod(name: str, owner: str | None, phase: str = "Running") -> Any:
    refs = [SimpleNamespace(controller=True, kind=owner)] if owner else []
    return SimpleNamespace(
        metadata=SimpleNamespace(namespace="ns", name=name, owner_references=refs),
        status=SimpleNamespace(phase=phase),
    )


def test_a_drain_evicts_controlled_pods_and_keeps_bare_daemonset_and_finished_ones() -> None:
    found = drain.plan_drain(
        [
            _pod("web-1", "ReplicaSet"),
            _pod("redis", None),
            _pod("proxy", "DaemonSet"),
            _pod("job-1", "Job", phase="Succeeded"),
            _pod("rc-1", "ReplicationController"),
        ]
    )
    assert found.evict == [("ns", "rc-1"), ("ns", "web-1")]
    assert [(n, why.split(":")[0]) for _, n, why in found.kept] == [
        ("job-1", "Succeeded"),
        ("proxy", "DaemonSet pod"),
        ("redis", "bare pod"),
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("local", TO, FROM), f"--from {TO} is not older than --to {FROM}"),
        # OLDER is supported on the tests' day (tests/conftest.py): the gate skips a minor.
        (("local", f"1.{OLDER.minor}", TO), "skips a minor release"),
        (("local", GONE, OLDEST), f"--from {GONE}: Kubernetes {GONE} reached end of life"),
        (("local", FROM, FAR), f"--to {FAR}: Kubernetes {FAR} is not a release kubelab knows"),
        (("local", f"{FROM}.1", OLD.version), f"a patch upgrade within {FROM}"),
        (("kind", TO, FROM), f"--from {TO} is not older than --to {FROM}"),
        (("kind", f"1.{OLDER.minor}", TO), "skips a minor release"),
        (("kind", None, OLDEST), f"--from {GONE}: Kubernetes {GONE} reached end of life"),
        (("local", TO, None), f"--to {NEXT}: Kubernetes {NEXT} is not a release kubelab knows"),
        (("podman", FROM, TO), "--cluster=podman: the gate runs on local, kind or existing"),
    ],
)
def test_bad_releases_are_refused_in_one_line(args: tuple[Any, ...], message: str) -> None:
    with pytest.raises(UsageError) as refused:
        gateplan.plan(args[0], args[1], args[2], None, None)
    assert message in str(refused.value)
    assert "\n" not in str(refused.value)


def test_one_minor_up_is_a_plan() -> None:
    chosen = gateplan.plan("local", FROM, TO, None, None)
    assert (chosen.source.version, chosen.target.version) == (OLD.version, NEW.version)  # type: ignore[union-attr]
    assert chosen.phases == ("before", "change", "after")


def test_the_gate_goes_from_the_second_newest_release_to_the_newest_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    chosen = gateplan.plan("kind", None, None, None, None)
    assert (chosen.source, chosen.target) == (
        releases.choose(f"1.{releases.RELEASES[-2].minor}"),
        releases.choose(None),
    )
    # A release added to the table moves the defaults, and nothing in the gate changes.
    newer = dataclasses.replace(releases.DEFAULT, version=f"{NEXT}.0")
    monkeypatch.setattr(releases, "RELEASES", (*releases.RELEASES, newer))
    monkeypatch.setattr(releases, "DEFAULT", newer)
    chosen = gateplan.plan("local", None, None, None, None)
    assert (chosen.source.version, chosen.target.version) == (NEW.version, newer.version)  # type: ignore[union-attr]
    # One given: the other is a minor away, as upstream upgrades.
    assert gateplan.plan("local", FROM, None, None, None).versions()[1].version == NEW.version
    assert gateplan.plan("kind", None, TO, None, None).versions()[0].version == OLD.version


def test_on_kind_the_lab_runs_at_each_release_with_no_change_in_between() -> None:
    chosen = gateplan.plan("kind", FROM, TO, None, None)
    assert chosen.phases == ("before", "after")
    reports = Path("/r")
    before = gate.pytest_argv(chosen, "before", reports, ["-x"])
    after = gate.pytest_argv(chosen, "after", reports, ["-x"])
    # A minor: on a user's own Docker, kind runs its node image of it, whatever its patch.
    assert before[-3:] == ["--cluster=kind", f"--k8s-version={FROM}", "-x"]
    assert after[-3:] == ["--cluster=kind", f"--k8s-version={TO}", "-x"]
    assert "--reports-dir=/r/after" in after
    assert "--cucumberjson=/r/after/cucumber.json" in after
    assert "change" not in before[3:] + after[3:]  # the lab, not the change chapter
    with pytest.raises(UsageError, match="the kind gate has no change phase"):
        gate.pytest_argv(chosen, "change", reports, [])
    patched = gateplan.plan("kind", f"{FROM}.1", TO, None, None)
    assert gate.pytest_argv(patched, "before", reports, [])[-1] == f"--k8s-version={FROM}.1"


def test_the_local_gate_upgrades_in_its_change_phase() -> None:
    chosen = gateplan.plan("local", FROM, TO, None, None)
    argv = gate.pytest_argv(chosen, "change", Path("/r"), [])
    assert argv[-5:] == [
        "--cluster=local",
        f"--k8s-version={OLD.version}",
        "-m",
        "change",
        "--cluster-change=upgrade",
    ]


def test_the_kind_gate_says_in_one_line_that_the_upgrade_is_not_performed() -> None:
    line = gateplan.describe(gateplan.plan("kind", FROM, TO, None, None))
    assert line == (
        "kind has no in-place upgrade (kind#1972): the upgrade itself is not performed on kind; "
        f"instead the lab runs on a new kind cluster at Kubernetes {OLD.version}, then on another "
        f"at {NEW.version}"
    )


KIND_CHANGE_REFUSED = (
    "--change is for --cluster=existing; kind has no in-place upgrade (kind#1972): on kind the "
    "gate runs the lab on a cluster at --from and on a new one at --to"
)
KEEP_REFUSED = (
    "--keep-cluster: the kind gate creates a cluster at each release and deletes it; a kept "
    "--from cluster would stand in the way of the --to one"
)


@pytest.mark.parametrize(
    ("change", "extra", "message"),
    [("./upgrade.sh", (), KIND_CHANGE_REFUSED), (None, ("-x", "--keep-cluster"), KEEP_REFUSED)],
)
def test_the_kind_gate_refuses_a_change_and_a_kept_cluster_in_one_line(
    change: str | None, extra: tuple[str, ...], message: str
) -> None:
    with pytest.raises(UsageError) as refused:
        gateplan.plan("kind", FROM, TO, None, change, extra)
    assert str(refused.value) == message


@pytest.fixture
def kubeconfig(tmp_path: Path) -> Iterator[Path]:
    """The kubeconfig of an existing cluster: a stand-in API server (tests/stand_in_api.py)."""
    with stand_in_api.serve() as api:
        yield stand_in_api.kubeconfig(tmp_path, api.url)


def test_an_existing_cluster_needs_a_change_that_exists(tmp_path: Path, kubeconfig: Path) -> None:
    with pytest.raises(UsageError, match="needs the change to gate"):
        gateplan.plan("existing", None, None, kubeconfig, None)
    with pytest.raises(UsageError, match="no-such-upgrade-script is not a program"):
        gateplan.plan("existing", None, None, kubeconfig, "no-such-upgrade-script --now")
    with pytest.raises(UsageError, match="needs --kubeconfig FILE"):
        gateplan.plan("existing", None, None, tmp_path / "missing", "true")
    assert gateplan.plan("existing", None, None, kubeconfig, "true").change == "true"


def test_the_existing_gate_gives_its_change_timeout_to_the_change_phase(
    tmp_path: Path, kubeconfig: Path
) -> None:
    chosen = gateplan.plan("existing", None, None, kubeconfig, "true", change_timeout=45.0)
    assert gate.pytest_argv(chosen, "change", tmp_path, [])[-4:] == [
        "-m",
        "change",
        "--change=true",
        "--change-timeout=45",
    ]
    assert not any("--change" in a for a in gate.pytest_argv(chosen, "after", tmp_path, []))
    default = gateplan.plan("existing", None, None, kubeconfig, "true")
    assert gate.pytest_argv(default, "change", tmp_path, [])[-1] == "--change=true"


def test_a_phase_past_its_time_is_stopped_and_named_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid = tmp_path / "pid"
    hangs = f"import os, time; open({str(pid)!r}, 'w').write(str(os.getpid())); time.sleep(300)"
    monkeypatch.setattr(gate, "pytest_argv", lambda *a: [sys.executable, "-c", hangs])
    monkeypatch.setattr(gate, "COLD", 2.0)
    monkeypatch.setattr(gate, "_kind_host", lambda g: gate.Host())
    with pytest.raises(KubelabError) as stopped:
        gate.run(gateplan.plan("kind", FROM, TO, None, None), tmp_path, [])
    line = f"the before phase did not finish within 2 s: stopped (reports in {tmp_path / 'before'})"
    assert str(stopped.value) == line
    assert not commands.running(int(pid.read_text()))
    text = (tmp_path / "gate.md").read_text()
    assert text.startswith("# kubelab gate: FAILED")
    assert f"\n{line}\n" in text


def test_an_existing_cluster_is_reached_before_anything_runs(
    tmp_path: Path, kubeconfig: Path
) -> None:
    with pytest.raises(UsageError) as refused:
        gateplan.plan("existing", None, None, kubeconfig, "true", ["-x", "--kube-context", "other"])
    assert str(refused.value).startswith(f"kubeconfig {kubeconfig} is not usable: ")
    assert "other" in str(refused.value)
    assert gateplan.plan("existing", None, None, kubeconfig, "true", ["--kube-context=x"]).change


def test_an_unusable_kubeconfig_ends_the_gate_in_one_line_before_it_starts(tmp_path: Path) -> None:
    with socket.socket() as closed:  # a loopback port nothing listens on
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}"
    unreachable = stand_in_api.kubeconfig(tmp_path, url)
    malformed = tmp_path / "malformed"
    malformed.write_text("{}")
    for config, said in (
        (malformed, f"kubelab: kubeconfig {malformed} is not usable: Invalid kube-config file."),
        (unreachable, f"kubelab: cannot reach the API server at {url}: "),
    ):
        result = kubelab_cli(
            "gate",
            f"--reports-dir={tmp_path / 'r'}",
            "--cluster=existing",
            f"--kubeconfig={config}",
            "--change=true",
            timeout=60,
        )
        assert result.returncode == 1
        assert len(result.stderr.splitlines()) == 1
        assert result.stderr.startswith(said), result.stderr
        assert result.stdout == ""
        assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    "command",
    [
        "no-such-upgrade-script --now",
        "FOO=1 no-such-upgrade-script",
        "FOO=1 BAR='a b' no-such-upgrade-script",
        "env KUBECONFIG=/k no-such-upgrade-script",
        "FOO=1 env BAR=2 no-such-upgrade-script",
    ],
)
def test_a_change_whose_program_does_not_exist_is_refused_after_its_assignments(
    command: str,
) -> None:
    from kubelab.changes import check_command

    with pytest.raises(UsageError) as refused:
        check_command(command)
    assert str(refused.value) == (
        f"--change {command!r}: no-such-upgrade-script is not a program on PATH or an "
        "executable file"
    )


@pytest.mark.parametrize(
    "command",
    ["FOO=1 true", "env FOO=1 true", "FOO=1", "env -i true", "for n in 1 2; do true; done"],
)
def test_a_change_that_runs_a_program_or_a_shell_construct_is_taken(command: str) -> None:
    from kubelab.changes import check_command

    check_command(command)


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["--from", TO, "--to", FROM],
            (
                f"--from {TO} is not older than --to {FROM}: the gate upgrades, from an older "
                "release to a newer one"
            ),
        ),
        (
            ["--cluster=kind", "--from", FROM, "--to", TO, "--change", "./upgrade.sh"],
            KIND_CHANGE_REFUSED,
        ),
        (
            ["--cluster=kind", "--from", FROM, "--to", TO, "--", "--keep-cluster"],
            KEEP_REFUSED,
        ),
        (
            ["--from", FROM, "--to", TO, "--change-timeout", "30"],
            (
                "--change-timeout bounds the --change command of --cluster=existing; the local "
                "gate runs none"
            ),
        ),
        (
            ["--cluster=existing", "--change", "true", "--change-timeout", "0"],
            "--change-timeout must be a positive number of seconds",
        ),
    ],
)
def test_the_gate_refuses_bad_input_before_anything_starts(
    tmp_path: Path, args: list[str], line: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "kubelab.cli", "gate", "--reports-dir", str(tmp_path / "r"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [f"kubelab: {line}"]
    assert not (tmp_path / "r").exists()


def test_the_change_of_a_scenario_is_known_by_its_when_step() -> None:
    assert change.kind_of(["the redis pod is running", change.WHEN["upgrade"]]) == "upgrade"
    assert change.kind_of(["I roll the web pods to version 2.0"]) is None


def _c(pod: str, cid: str, restarts: int = 0) -> containers.Container:
    return containers.Container(pod, "w1", cid, restarts)


def test_a_replaced_or_restarted_container_is_named() -> None:
    before = {"redis": _c("redis", "aaa"), "web-1": _c("web-1", "bbb"), "web-2": _c("web-2", "c")}
    after = {"redis": _c("redis", "aaa", 1), "web-1": _c("web-1", "zzz")}
    assert containers.changed_containers(before, after, ["redis", "web-1", "web-2"]) == [
        "pod redis on w1: container aaa restarted (0 -> 1 restarts)",
        "pod web-1 on w1: container bbb replaced by zzz",
        "pod web-2: gone after the change (it ran on w1)",
    ]
    assert containers.changed_containers(before, before, ["redis"]) == []


def test_redis_must_never_have_restarted_not_only_not_during_the_change() -> None:
    once = {"redis": _c("redis", "aaa", 1)}  # restarted before the change, not during it
    assert containers.changed_containers(once, once, ["redis"]) == []
    assert containers.changed_containers(once, once, ["redis"], never_restarted=True) == [
        "pod redis on w1: container aaa has restarted (restartCount 1, expected 0)"
    ]
    fresh = {"redis": _c("redis", "aaa")}
    assert containers.changed_containers(fresh, fresh, ["redis"], never_restarted=True) == []


def test_the_gate_puts_the_lab_before_and_after_side_by_side() -> None:
    results = [
        gatereport.PhaseResult("before", 0, 60.0, {"a": "passed", "b": "passed"}),
        gatereport.PhaseResult("change", 0, 90.0, {"u": "passed"}),
        gatereport.PhaseResult("after", 1, 61.0, {"a": "passed", "b": "failed"}),
    ]
    table = gatereport.side_by_side(results).splitlines()
    assert table[2:] == [
        "| a | passed | - | passed |",
        "| b | passed | - | failed |",
        "| u | - | passed | - |",
        "| **exit status, time** | 0, 60 s | 0, 90 s | 1, 61 s |",
    ]


def _command(command: str, timeout: float = 30.0) -> Any:
    from kubelab.changes import CommandChange

    return CommandChange(command, Path("/nonexistent/kubeconfig"), "ns-1", timeout=timeout)


def test_a_change_command_that_fails_names_its_status_and_last_output() -> None:
    from kubelab.change import Progress
    from kubelab.errors import EnvironmentProblem

    failing = _command('echo "$KUBELAB_NAMESPACE $KUBECONFIG"; echo broken >&2; exit 3')
    progress = Progress()
    with pytest.raises(EnvironmentProblem) as failed:
        failing.run(progress)
    assert str(failed.value) == (
        f"the change {failing.command!r} exited with status 3; its output ended: "
        "ns-1 /nonexistent/kubeconfig | broken"
    )
    assert [b.step for b in progress.bands] == [f"$ {failing.command}"]


def test_a_change_command_past_its_timeout_is_killed_with_what_it_started() -> None:
    from kubelab.change import Progress
    from kubelab.errors import EnvironmentProblem

    slow = _command("echo started; sleep 30 & wait", timeout=0.5)
    with pytest.raises(
        EnvironmentProblem,
        match=r"did not finish within 0.5 s \(--change-timeout\); killed; its output ended: started",
    ):
        slow.run(Progress())
    assert slow.status is None


@pytest.mark.parametrize("traps", ["", "trap '' TERM; "], ids=["ends-on-sigterm", "ignores-it"])
def test_an_interrupted_change_command_leaves_nothing_of_it_running(
    tmp_path: Path, traps: str
) -> None:
    pids = tmp_path / "pids"
    command = f"{traps}sleep 300 & echo $$ $! > {pids}; wait"
    script = (
        "import signal; from pathlib import Path\n"
        "from kubelab import changes; from kubelab.change import Progress\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "changes.STOP_GRACE = 1.0\n"
        f"changes.CommandChange({command!r}, Path('/nonexistent'), 'ns-1').run(Progress())\n"
    )
    run = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, start_new_session=True)
    started: list[int] = []
    try:
        wait_until(
            lambda: pids.read_text().split() if pids.is_file() else [],
            lambda words: len(words) == 2,
            timeout=60,
            what="the change command started",
            interval=0.1,
        )
        started += [int(p) for p in pids.read_text().split()]
        run.send_signal(signal.SIGINT)
        run.wait(timeout=60)
        assert run.returncode == -signal.SIGINT  # the interrupt went on, once the group was ended
        assert [p for p in started if commands.running(p)] == [], (
            f"still running of {started} (sh, sleep)"
        )
    finally:
        run.kill()
        for pid in started:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_a_change_command_that_succeeds_keeps_its_output() -> None:
    from kubelab.change import Progress

    fine = _command("echo upgraded")
    fine.run(Progress())
    assert (fine.status, fine.output) == (0, "upgraded\n")


def test_a_web_pod_gone_without_a_graceful_shutdown_is_named_as_killed() -> None:
    from kubelab.rollout import PodLife

    graceful = PodLife("web-a", "web:1.0", before=True, stopping=105.0, exited=108.0, grace=30)
    forced = PodLife("web-b", "web:1.0", before=True, stopping=104.4, exited=104.5, grace=0)
    died = PodLife("web-c", "web:1.0", before=True, exited=103.0)
    running = PodLife("web-d", "web:1.0", started=106.0, ready=107.0)
    run = change.ChangeRun.__new__(change.ChangeRun)
    object.__setattr__(run, "lives", [graceful, forced, died, running])
    object.__setattr__(run, "record", SimpleNamespace(started=100.0))
    assert run.killed() == [
        (
            "web pod web-b ended at +4.50 s with no graceful shutdown (it was deleted with a grace "
            "period of 0 s)"
        ),
        (
            "web pod web-c ended at +3.00 s with no graceful shutdown (the watch never saw it asked "
            "to stop: its container died)"
        ),
    ]


def test_the_rate_is_reported_per_node_as_well_as_in_all() -> None:
    from kubelab import evidence, traffic

    sent = ["10.0.0.2:30080", "10.0.0.3:30080", "10.0.0.4:30080", "10.0.0.5:30080"] * 125
    record = traffic.Record(
        [traffic.Request(i * 0.004, 0.001, t, 200) for i, t in enumerate(sent)], 100.0, 2.0
    )
    run = change.ChangeRun.__new__(change.ChangeRun)
    object.__setattr__(run, "record", record)
    nodes = {f"10.0.0.{i}:30080": f"w{i - 1}" for i in range(2, 6)}
    object.__setattr__(run, "nodes_by_target", nodes)
    blocks = evidence.start()
    try:
        assert run.asked_rate() == 250.0
    finally:
        evidence.stop()
    per_node = "w1 62.5/s, w2 62.5/s, w3 62.5/s, w4 62.5/s"
    assert [b.text for b in blocks] == [f"250.0/s in all; per node: {per_node}"]
    object.__setattr__(run, "description", "a change")
    object.__setattr__(run, "bands", [])
    assert "(250/s), 0 failed" in run.summary()
    assert f"; per node: {per_node}; the change took" in run.summary()


def _element(test: str, name: str, *statuses: str) -> dict[str, Any]:
    """A scenario as kubelab's cucumber JSON has it (kubelab.report.cucumber): its id is the
    test's name as JUnit knows it."""
    return {
        "keyword": "Scenario",
        "id": test,
        "name": name,
        "line": 7,
        "type": "scenario",
        "steps": [
            {"keyword": "Then", "name": f"step {i}", "result": {"status": s, "duration": 1}}
            for i, s in enumerate(statuses)
        ],
    }


# Test and scenario names as a real run has them (kubelab gate --cluster=kind, before/).
POD_TEST = "test_the_pod_pod_runs_on_a_worker_node_in_that_nodes_container_runtime[{}]"
REDIS = "The redis pod runs on a worker node, in that node's container runtime"
WEB = "The web pod runs on a worker node, in that node's container runtime"
NO_DNS = "The web pod cannot resolve redis before its Service exists"
NODEPORT = "The web Service answers on every node, and the counter continues across nodes"
NO_DNS_TEST = "test_the_web_pod_cannot_resolve_redis_before_its_service_exists"
NODEPORT_TEST = "test_the_web_service_answers_on_every_node_and_the_counter_continues_across_nodes"
CUCUMBER = [
    {
        "keyword": "Feature",
        "uri": "pods.feature",
        "name": "Create pods",
        "elements": [
            _element(POD_TEST.format("redis"), REDIS, "passed", "passed"),
            _element(POD_TEST.format("web"), WEB, "passed", "failed", "skipped"),
        ],
    },
    {
        "keyword": "Feature",
        "uri": "services.feature",
        "name": "Create services",
        "elements": [
            _element(NO_DNS_TEST, NO_DNS),
            _element(NODEPORT_TEST, NODEPORT, "passed"),
        ],
    },
]
# pytest's JUnit verdicts: the Service scenario failed in its teardown (its steps all passed).
JUNIT = f"""<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">
<testcase classname="steps.test_lab" name="{POD_TEST.format("redis")}" time="1.0"/>
<testcase classname="steps.test_lab" name="{POD_TEST.format("web")}" time="1.0">
<failure message="no">no</failure></testcase>
<testcase classname="steps.test_lab" name="{NO_DNS_TEST}" time="1.0">
<error message="teardown">namespace not deleted</error></testcase>
</testsuite></testsuites>
"""


def _phase(reports: Path, phase: str, cucumber: list[dict[str, Any]], junit: str | None) -> Path:
    out = reports / phase
    out.mkdir(parents=True)
    (out / "cucumber.json").write_text(json.dumps(cucumber))
    if junit is not None:
        (out / "junit.xml").write_text(junit)
    return out


def test_each_scenario_is_named_as_the_features_name_it_with_its_outcome(tmp_path: Path) -> None:
    assert gatereport.outcomes(_phase(tmp_path, "before", CUCUMBER, JUNIT)) == {
        f"Create pods: {REDIS}": "passed",
        f"Create pods: {WEB}": "failed",
        f"Create services: {NO_DNS}": "error",  # JUnit's verdict: its teardown failed
        f"Create services: {NODEPORT}": "passed",  # not in the JUnit file: its steps say
    }


def test_without_junit_the_steps_tell_the_outcome(tmp_path: Path) -> None:
    skipped = _element("test_s", "Nothing ran", "skipped", "skipped")
    sample = [{"name": "F", "elements": [*CUCUMBER[0]["elements"], skipped]}]
    assert list(gatereport.outcomes(_phase(tmp_path, "after", sample, None)).values()) == [
        "passed",
        "failed",
        "skipped",
    ]
    assert gatereport.outcomes(tmp_path / "never-ran") == {}


def test_gate_md_lists_the_scenarios_by_name_phase_by_phase(tmp_path: Path) -> None:
    before = gatereport.outcomes(_phase(tmp_path, "before", CUCUMBER, None))
    after = gatereport.outcomes(_phase(tmp_path, "after", CUCUMBER[1:], JUNIT))
    table = gatereport.side_by_side(
        [
            gatereport.PhaseResult("before", 1, 50.0, before),
            gatereport.PhaseResult("after", 1, 52.0, after),
        ]
    )
    assert table.splitlines() == [
        "| scenario | before | after |",
        "|---|---|---|",
        f"| Create pods: {REDIS} | passed | - |",
        f"| Create pods: {WEB} | failed | - |",
        f"| Create services: {NO_DNS} | skipped | error |",
        f"| Create services: {NODEPORT} | passed | passed |",
        "| **exit status, time** | 1, 50 s | 1, 52 s |",
    ]
    assert "test_" not in table


def test_the_kind_gate_runs_the_lab_before_and_after_and_says_why_in_gate_md(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chosen = gateplan.plan("kind", FROM, TO, None, None)
    ran: list[str] = []

    def run_phase(g: gateplan.GatePlan, phase: str, reports: Path, extra: list[str]) -> Any:
        ran.append(phase)
        return gatereport.PhaseResult(phase, 0, 1.0, {"F: s": "passed"})

    monkeypatch.setattr(gate, "run_phase", run_phase)
    monkeypatch.setattr(
        gate, "_kind_host", lambda g: gate.Host(down=lambda: ran.append("down") or [])
    )
    assert gate.run(chosen, tmp_path, []) == 0
    assert ran == ["before", "after", "down"]
    text = (tmp_path / "gate.md").read_text().splitlines()
    assert text[0].startswith("# kubelab gate: passed in ")
    assert text[2] == gateplan.describe(chosen)
    assert text[4:] == [
        "| scenario | before | after |",
        "|---|---|---|",
        "| F: s | passed | passed |",
        "| **exit status, time** | 0, 1 s | 0, 1 s |",
    ]


def test_a_kind_cluster_left_behind_fails_the_gate_even_when_each_phase_passed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chosen = gateplan.plan("kind", FROM, TO, None, None)
    monkeypatch.setattr(
        gate, "run_phase", lambda g, phase, r, e: gatereport.PhaseResult(phase, 0, 1.0, {})
    )
    left = "kind cluster kubelab was left behind (kubelab-control-plane): deleted"
    monkeypatch.setattr(gate, "_kind_host", lambda g: gate.Host(down=lambda: [left]))
    assert gate.run(chosen, tmp_path, []) == 1
    text = (tmp_path / "gate.md").read_text()
    assert text.startswith("# kubelab gate: FAILED in ")
    assert f"\n{left}\n" in text


class _Engine:
    """Stands in for kubelab's DockerEngine: started by the gate, stopped at its end."""

    started_here = False
    stopped = False

    def ensure(self) -> None:
        _Engine.started_here = True

    def kubelabs(self) -> int | None:
        return 4242  # kubelab's own dockerd: offline, node images built here

    def stop(self) -> None:
        _Engine.stopped = True


@pytest.fixture
def kind_host(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The kind gate's host with Docker, kind and the node image build stood in for."""
    from kubelab.cluster.kind import engine, nodeimage, nodes, tools

    seen: dict[str, Any] = {"built": [], "nodes": {}, "deleted": 0, "network": False}
    _Engine.started_here = _Engine.stopped = False
    monkeypatch.setattr(engine, "DockerEngine", _Engine)
    monkeypatch.setattr(tools, "kind_cli", lambda cache: Path("/cache/kind"))
    monkeypatch.setattr(
        nodeimage, "ensure_node_image", lambda cache, chosen: seen["built"].append(chosen.version)
    )
    monkeypatch.setattr(nodes, "node_images", lambda name="kubelab": dict(seen["nodes"]))
    monkeypatch.setattr(nodes, "network_exists", lambda: seen["network"])

    def delete(argv: list[Any], timeout: float) -> str:
        seen["deleted"] += 1
        assert [str(a) for a in argv] == ["/cache/kind", "delete", "cluster", "--name", "kubelab"]
        return ""

    monkeypatch.setattr(nodes.commands, "run", delete)
    return seen


def test_the_kind_gate_builds_both_node_images_first_and_stops_its_docker(
    kind_host: dict[str, Any],
) -> None:
    host = gate._kind_host(gateplan.plan("kind", FROM, TO, None, None))
    assert kind_host["built"] == [OLD.version, NEW.version]
    assert not _Engine.stopped
    assert host.down() == []
    assert (kind_host["deleted"], _Engine.stopped) == (0, True)


def test_the_kind_gate_refuses_a_kind_cluster_it_did_not_create(
    kind_host: dict[str, Any],
) -> None:
    kind_host["nodes"] = {"kubelab-control-plane": "kubelab.local/kind-node:v1.36.3"}
    with pytest.raises(KubelabError) as refused:
        gate._kind_host(gateplan.plan("kind", FROM, TO, None, None))
    assert str(refused.value) == (
        "kind cluster kubelab exists (kubelab-control-plane): the gate creates its own at each "
        "release; delete it first (`/cache/kind delete cluster --name kubelab`)"
    )
    assert (kind_host["built"], _Engine.stopped) == ([], True)


def test_the_kind_gate_deletes_a_cluster_a_phase_left_behind(kind_host: dict[str, Any]) -> None:
    host = gate._kind_host(gateplan.plan("kind", FROM, TO, None, None))
    kind_host["nodes"] = {"kubelab-control-plane": "i", "kubelab-worker": "i"}
    assert host.down() == [
        "kind cluster kubelab was left behind (kubelab-control-plane, kubelab-worker): deleted"
    ]
    assert (kind_host["deleted"], _Engine.stopped) == (1, True)


def test_a_phase_runs_in_a_process_group_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A Ctrl-C in the terminal then reaches the gate alone, which tells the run to stop once.
    own_group = "import os, sys; sys.exit(0 if os.getpgrp() == os.getpid() else 3)"
    monkeypatch.setattr(gate, "pytest_argv", lambda *a: [sys.executable, "-c", own_group])
    chosen = gateplan.plan("kind", FROM, TO, None, None)
    assert gate.run_phase(chosen, "before", tmp_path, []).status == 0


def _gate_script(tmp_path: Path, body: str) -> subprocess.Popen[str]:
    """A gate in a process of its own, Ctrl-C raising KeyboardInterrupt there (as in a
    terminal), ``body`` run after ``from kubelab import gate, gateplan`` with ``reports`` its
    directory."""
    script = (
        "import os, signal, sys, time; from pathlib import Path; from kubelab import gate, gateplan\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        f"reports = Path({str(tmp_path)!r})\n"
        f"chosen = gateplan.plan('kind', {FROM!r}, {TO!r}, None, None)\n" + body
    )
    return subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def test_an_interrupted_phase_is_told_to_stop_once_and_waited_for(tmp_path: Path) -> None:
    # The phase's run: on SIGTERM it cleans up for a second, says so, and ends.
    run = (
        "import signal, sys, time; from pathlib import Path\n"
        "def stop(signum, frame):\n"
        "    Path(sys.argv[1], 'stopping').touch(); time.sleep(1)\n"
        "    Path(sys.argv[1], 'stopped').write_text(str(signum)); sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, stop)\n"
        "Path(sys.argv[1], 'pid').write_text(str(__import__('os').getpid())); time.sleep(300)\n"
    )
    body = (
        f"gate.pytest_argv = lambda *a: [sys.executable, '-c', {run!r}, str(reports)]\n"
        "gate.run_phase(chosen, 'before', reports, [])\n"
    )
    gating = _gate_script(tmp_path, body)
    pid = tmp_path / "pid"
    try:
        wait_until(pid.is_file, bool, timeout=60, what="the phase's run started", interval=0.1)
        gating.send_signal(signal.SIGINT)
        stopping = tmp_path / "stopping"
        wait_until(stopping.exists, bool, timeout=10, what="the run told to stop", interval=0.05)
        gating.send_signal(signal.SIGINT)  # a second Ctrl-C while it cleans up
        _, err = gating.communicate(timeout=60)
        assert (tmp_path / "stopped").read_text() == str(int(signal.SIGTERM))
        assert not commands.running(int(pid.read_text()))
        assert "kubelab: still cleaning up; it ends by itself" in err
        assert gating.returncode == -signal.SIGINT  # the first Ctrl-C goes on once the run ended
    finally:
        gating.kill()
        if pid.is_file():  # the run, were it left behind
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid.read_text()), signal.SIGKILL)


def test_a_second_ctrl_c_does_not_cut_the_gates_teardown_short(tmp_path: Path) -> None:
    body = (
        "def interrupted(*args): raise KeyboardInterrupt\n"
        "def down():\n"
        "    os.kill(os.getpid(), signal.SIGINT)  # a second Ctrl-C while the gate ends\n"
        "    time.sleep(0.5); print('host down', flush=True); return []\n"
        "gate.run_phase = interrupted\n"
        "gate._kind_host = lambda g: gate.Host(down=down)\n"
        "gate.run(chosen, reports, [])\n"
    )
    gating = _gate_script(tmp_path, body)
    try:
        out, err = gating.communicate(timeout=60)
    finally:
        gating.kill()
    assert "host down" in out.splitlines()
    assert "kubelab: still cleaning up; it ends by itself" in err
    assert gating.returncode == -signal.SIGINT
    assert (tmp_path / "gate.md").read_text().startswith("# kubelab gate: FAILED")


def test_an_interrupted_gate_says_during_which_phase_and_ends_its_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ended: list[bool] = []

    def interrupted(*args: Any) -> Any:
        _phase(tmp_path, "before", CUCUMBER[:1], None)  # what the run wrote before it stopped
        raise KeyboardInterrupt

    monkeypatch.setattr(gate, "run_phase", interrupted)
    monkeypatch.setattr(
        gate, "_kind_host", lambda g: gate.Host(down=lambda: ended.append(True) or [])
    )
    with pytest.raises(KeyboardInterrupt):
        gate.run(gateplan.plan("kind", FROM, TO, None, None), tmp_path, [])
    assert ended == [True]
    text = (tmp_path / "gate.md").read_text()
    assert text.startswith("# kubelab gate: FAILED in ")
    assert f"\ninterrupted during the before phase (reports in {tmp_path / 'before'})\n" in text
    assert f"| Create pods: {REDIS} | passed |" in text  # as far as the phase got
    assert "| **exit status, time** | 130, " in text
    page = (tmp_path / "gate.html").read_text()
    assert "<table>" in page
    assert f"Create pods: {REDIS}" in page
    assert "before: no report (the phase did not run to its end)" in page


def test_an_interrupted_upgrade_says_in_gate_md_which_node_it_left_between_releases(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    between = "the upgrade stopped: the cluster is between releases: cp at 1.37.2; w1 at 1.36.3"

    def run_phase(g: gateplan.GatePlan, phase: str, reports: Path, extra: list[str]) -> Any:
        if phase == "change":  # what the upgrade in the phase's run does when it is stopped
            change.Progress(reports=reports / phase).alert(between)
            raise KeyboardInterrupt
        return gatereport.PhaseResult(phase, 0, 1.0, {})

    monkeypatch.setattr(gate, "run_phase", run_phase)
    monkeypatch.setattr(gate, "_local_host", lambda g: gate.Host())
    with pytest.raises(KeyboardInterrupt):
        gate.run(gateplan.plan("local", FROM, TO, None, None), tmp_path, [])
    text = (tmp_path / "gate.md").read_text()
    assert f"reports in {tmp_path / 'change'})\n\n{between}\n" in text


def test_a_gate_sets_the_earlier_runs_files_aside_and_names_only_its_own_phases(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    earlier = ["gate.md", "before/lab.html", "change/lab.html", "change/change-ns-1.png"]
    earlier += ["after/lab.html"]
    for name in earlier:
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("an earlier run's")

    def before_fails(g: gateplan.GatePlan, phase: str, reports: Path, extra: list[str]) -> Any:
        (reports / phase / "lab.html").write_text("this run's")
        return gatereport.PhaseResult(phase, 1, 1.0, {})

    monkeypatch.setattr(gate, "run_phase", before_fails)
    monkeypatch.setattr(gate, "_local_host", lambda g: gate.Host())
    assert gate.run(gateplan.plan("local", FROM, TO, None, None), tmp_path, []) == 1
    for name in earlier:
        kept = tmp_path / Path(name).parent / ".previous" / Path(name).name
        assert kept.read_text() == "an earlier run's", name
    page = (tmp_path / "gate.html").read_text()
    assert '<a href="before/lab.html">' in page
    assert [phase for phase in ("change", "after") if phase in page] == []
    said = capsys.readouterr().out.splitlines()[-1]
    assert said == (
        f"[gate] reports: {tmp_path}/gate.html (gate.md) and each phase's own: before/lab.html"
    )


def test_gate_html_links_each_phase_and_shows_the_change(tmp_path: Path) -> None:
    for phase in ("before", "change"):
        (tmp_path / phase).mkdir()
        (tmp_path / phase / "lab.html").write_text("<html></html>")
    (tmp_path / "change" / "change-kubelab-1.png").write_bytes(b"\x89PNG")
    page = gatereport.html(
        "# kubelab gate: FAILED\n\n<script>x</script>", tmp_path, gateplan.PHASES
    )
    assert '<a href="before/lab.html">' in page
    assert '<a href="change/lab.html">' in page
    assert "after: no report" in page
    assert '<img src="change/change-kubelab-1.png"' in page
    assert "<script>" not in page  # text from the run is shown, never run
    assert "<img" not in gatereport.html("# kubelab gate", tmp_path, ["before"])  # no change ran


def test_a_phase_output_ending_inside_a_character_is_kept_to_its_last_byte(tmp_path: Path) -> None:
    """What a stopped phase printed last is what a reader looks for in its log."""
    read, write = os.pipe()
    os.write(write, "done: 3 passed \u2713".encode()[:-1])  # its last character cut short
    os.close(write)
    gate._copy(read, tmp_path / "before.log")
    assert (tmp_path / "before.log").read_text() == "done: 3 passed \ufffd"
