"""What guards the gate and its neighbours: a reports directory that holds the project refused
by each command that moves an earlier run's files aside; extra pytest options that would change
what a phase runs refused before anything starts; a change phase that never ran the change
failing the gate; the gate's own report naming what failed; an interrupted upgrade leaving no
node cordoned or misreported; the upgrade's skew check and the drain's answers to a
PodDisruptionBudget, against the stand-in API server of tests/stand_in_api.py."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from kubelab import gate, gateplan, gatereport, releases, soak
from kubelab.errors import UsageError
from kubelab.report import refuse_reports_dir
from tests import stand_in_api

# The second-newest release and the newest: the local gate's one-minor step (a new row moves them).
OLD, NEW = (f"1.{r.minor}" for r in releases.RELEASES[-2:])


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project of a user's: its files, kubelab's steps beside them ($KUBELAB_STEPS), and the
    command run from it."""
    root = tmp_path / "project"
    (root / "steps").mkdir(parents=True)
    for name in ("README.md", "pyproject.toml", "tox.ini"):
        (root / name).write_text(name)
    monkeypatch.setenv("KUBELAB_STEPS", str(root / "steps"))
    monkeypatch.chdir(root)
    return root


def _untouched(root: Path) -> None:
    assert sorted(p.name for p in root.iterdir()) == [
        "README.md",
        "pyproject.toml",
        "steps",
        "tox.ini",
    ]


@pytest.mark.parametrize(
    ("where", "held"),
    [
        (".", "the project itself"),
        ("..", "the project itself"),
        ("/", "the project itself"),
        ("home", "the home directory"),
    ],
)
def test_a_reports_directory_holding_the_project_or_home_is_refused_in_one_line(
    project: Path, monkeypatch: pytest.MonkeyPatch, where: str, held: str
) -> None:
    home = project.parent / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    directory = Path(str(home) if where == "home" else where)
    with pytest.raises(UsageError) as refused:
        refuse_reports_dir(directory, "--reports-dir", [project])
    assert str(refused.value) == (
        f"--reports-dir={directory} holds {held}, and kubelab moves an earlier run's files out of "
        "the reports directory: name a directory of its own (e.g. reports)"
    )
    refuse_reports_dir(project / "reports", "--reports-dir", [project])
    refuse_reports_dir(home / "reports", "--reports-dir", [project])


def test_the_gate_refuses_a_reports_directory_holding_the_project(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[str] = []
    monkeypatch.setattr(gate, "run_phase", lambda *a: ran.append("phase"))
    monkeypatch.setattr(gate, "_kind_host", lambda g: gate.Host(up=lambda: ran.append("up")))
    chosen = gateplan.plan("kind", OLD, NEW, None, None)
    for reports in (project, Path.cwd().parent):
        with pytest.raises(UsageError, match=r"^--reports-dir=\S+ holds the project itself, "):
            gate.run(chosen, reports, [])
    assert ran == []
    _untouched(project)


def test_the_soak_refuses_a_soak_directory_holding_the_project(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from kubelab.cluster.local import LocalCluster

    ran: list[object] = []
    monkeypatch.setattr(soak.commands, "run_child", lambda *a, **k: ran.append(a) or 0)
    monkeypatch.setattr(LocalCluster, "has_processes", lambda self: False)
    monkeypatch.setattr(soak, "ROOT", project / "steps")  # kubelab's own tree, in the project
    elsewhere = project / "steps" / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    for directory in (project, project / "steps"):
        assert soak.main(["--runs", "1", f"--soak-dir={directory}"]) == 2
        said = (
            f"kubelab soak: --soak-dir={directory} holds the project itself, and kubelab moves an "
            "earlier run's files out of the reports directory: name a directory of its own (e.g. "
            "reports/soak)"
        )
        assert capsys.readouterr().err.splitlines() == [said]
    assert ran == []
    _untouched(project)


def test_the_plugin_refuses_a_reports_directory_holding_the_home_directory(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = pytester.path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    pytester.makepyfile(test_plain="def test_one():\n    pass\n")
    result = pytester.runpytest_subprocess(f"--reports-dir={home}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*--reports-dir={home} holds the home directory, *"])


@pytest.fixture
def as_root_on_linux(monkeypatch: pytest.MonkeyPatch) -> None:
    """The host the local gate needs, whatever runs the tests."""
    from kubelab.cluster.local import hostdeps

    monkeypatch.setattr(hostdeps, "check_platform", lambda: None)


SELECTS = (
    "the gate chooses what each phase runs (the lab, then the change chapter alone); an option "
    "that selects tests could leave the change unrun"
)
REPORTS = (
    "the gate puts each phase's reports under its own --reports-dir (before/, change/, after/); "
    "give --reports-dir before --"
)
CLUSTER = "the gate sets each phase's cluster: give --cluster (and --kubeconfig) before --"
CHANGE = "the gate runs the change: give --change (and --change-timeout) before --"
NOTHING = "pytest would list or show rather than run: a phase would pass having run nothing"


@pytest.mark.parametrize(
    ("extra", "line"),
    [
        (["-m", "services"], f"-m services after --: {SELECTS}"),
        (["-x", "-mservices"], f"-mservices after --: {SELECTS}"),
        (["-m=services"], f"-m=services after --: {SELECTS}"),
        (["-xvm", "services"], f"-xvm services after --: {SELECTS}"),
        (["-k", "redis"], f"-k redis after --: {SELECTS}"),
        (["--deselect", "steps/x.py::t"], f"--deselect steps/x.py::t after --: {SELECTS}"),
        (["--ignore=steps"], f"--ignore=steps after --: {SELECTS}"),
        (["--cluster=kind"], f"--cluster=kind after --: {CLUSTER}"),
        (["--cluster", "kind"], f"--cluster kind after --: {CLUSTER}"),
        (["--kubelab-cluster=kind"], f"--kubelab-cluster=kind after --: {CLUSTER}"),
        (["--kubelab-reports-dir", "r"], f"--kubelab-reports-dir r after --: {REPORTS}"),
        (["--kubelab-change-timeout=5"], f"--kubelab-change-timeout=5 after --: {CHANGE}"),
        (["--cluster-name", "x"], f"--cluster-name x after --: {CLUSTER}"),
        (["--kubeconfig=k"], f"--kubeconfig=k after --: {CLUSTER}"),
        (
            ["--cluster-change=upgrade"],
            (
                "--cluster-change=upgrade after --: the gate chooses the change: the upgrade on the "
                "local cluster, the --change command on an existing one"
            ),
        ),
        (["--change", "./x.sh"], f"--change ./x.sh after --: {CHANGE}"),
        (["--change-timeout=5"], f"--change-timeout=5 after --: {CHANGE}"),
        (
            ["--k8s-version", "1.36"],
            (
                "--k8s-version 1.36 after --: the gate sets each phase's release: give --from and "
                "--to before --"
            ),
        ),
        (
            ["--proxy-mode=nftables"],
            (
                "--proxy-mode=nftables after --: the gate's clusters run kube-proxy in its default "
                "mode (an existing one: in the mode it runs); every phase runs on the same"
            ),
        ),
        (["--reports-dir", "r"], f"--reports-dir r after --: {REPORTS}"),
        (["--junitxml=j.xml"], f"--junitxml=j.xml after --: {REPORTS}"),
        (["--junit-xml", "j.xml"], f"--junit-xml j.xml after --: {REPORTS}"),
        (["--cucumberjson", "c.json"], f"--cucumberjson c.json after --: {REPORTS}"),
        (["--cucumber-json=c.json"], f"--cucumber-json=c.json after --: {REPORTS}"),
        (["--rootdir=/"], f"--rootdir=/ after --: {REPORTS}"),
        (["--co", "steps"], f"--co after --: {NOTHING}"),
        (["--collect-only"], f"--collect-only after --: {NOTHING}"),
        (["--setup-plan"], f"--setup-plan after --: {NOTHING}"),
        (["--fixtures", "-x"], f"--fixtures after --: {NOTHING}"),
        (["--markers"], f"--markers after --: {NOTHING}"),
        (["-xh"], f"-xh after --: {NOTHING}"),
        (["--help"], f"--help after --: {NOTHING}"),
        (
            ["--keep-cluster", "-x"],
            (
                "--keep-cluster after --: the gate takes down the cluster it created and leaves an "
                "existing one as it is"
            ),
        ),
        (
            ["@more-options.txt"],
            (
                "@more-options.txt after --: pytest would read more options from the file, which the "
                "gate cannot check; give them on the command line"
            ),
        ),
    ],
)
@pytest.mark.parametrize("cluster", ["local", "existing"])
def test_an_extra_option_the_gate_sets_or_that_changes_what_a_phase_runs_is_refused(
    tmp_path: Path, as_root_on_linux: None, cluster: str, extra: list[str], line: str
) -> None:
    # Refused before an existing cluster is reached (this one is not even there).
    change, source = (None, OLD) if cluster == "local" else ("true", None)
    with pytest.raises(UsageError) as refused:
        gateplan.plan(cluster, source, None, tmp_path / "kubeconfig", change, extra)
    assert str(refused.value) == line


def test_the_local_gate_refuses_other_workers_the_kind_gate_takes_them(
    as_root_on_linux: None,
) -> None:
    for extra in (["--workers", "2"], ["--workers=2"], ["--kubelab-workers", "2"]):
        with pytest.raises(UsageError) as refused:
            gateplan.plan("local", OLD, NEW, None, None, extra)
        assert str(refused.value) == (
            f"{' '.join(extra)} after --: the local gate boots its cluster, with kubelab's "
            "default workers, before the first phase; every phase runs on it"
        )
    assert gateplan.plan("kind", OLD, NEW, None, None, ["--workers", "2"]).cluster == "kind"


def test_extra_options_that_change_nothing_the_gate_decides_are_taken(
    as_root_on_linux: None,
) -> None:
    fine = ["-x", "-rm", "-vv", "-o", "log_cli=true", "--wait-timeout=60", "--tb", "short"]
    fine += ["-n", "2", "--web-image", "registry/web:1", "-p", "no:randomly", "--kube-context=c"]
    assert gateplan.plan("local", OLD, NEW, None, None, fine).cluster == "local"


@pytest.mark.parametrize(
    ("platform", "euid", "line"),
    [
        ("darwin", 0, "the local cluster needs Linux (this is darwin): use --cluster=kind"),
        (
            "linux",
            1000,
            "the local cluster needs root (network namespaces, mounts, cgroups): run as root",
        ),
    ],
)
def test_the_local_gate_refuses_a_host_it_cannot_boot_on_before_it_builds(
    monkeypatch: pytest.MonkeyPatch, platform: str, euid: int, line: str
) -> None:
    import os
    import sys

    from kubelab import upgrade
    from kubelab.errors import EnvironmentProblem

    monkeypatch.setattr(sys, "platform", platform)
    monkeypatch.setattr(os, "geteuid", lambda: euid)
    monkeypatch.setattr(upgrade, "build", lambda target: pytest.fail("built"))
    with pytest.raises(EnvironmentProblem) as refused:
        gateplan.plan("local", OLD, NEW, None, None)
    assert str(refused.value) == line
    assert gateplan.plan("kind", OLD, NEW, None, None).cluster == "kind"  # no root needed


def test_the_gate_says_in_one_line_that_it_refuses_a_marker_after_dash_dash(tmp_path: Path) -> None:
    from tests.cli import kubelab_cli

    # The kubeconfig does not exist: were -m taken, the gate would stop on that instead.
    result = kubelab_cli(
        "gate",
        f"--reports-dir={tmp_path / 'r'}",
        "--cluster=existing",
        f"--kubeconfig={tmp_path / 'kubeconfig'}",
        "--change=true",
        "--",
        "-m",
        "services",
        timeout=60,
    )
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.splitlines() == [f"kubelab: -m services after --: {SELECTS}"]
    assert not (tmp_path / "r").exists()


UPGRADE_TEST = "test_upgrading_the_cluster_one_minor_release_in_place_drops_no_request"
UPGRADE = "Upgrading the cluster one minor release in place drops no request"
CHANGE_FEATURE = "Change the cluster without an outage"
SUMMARY = (
    "Kubernetes 1.36.3 upgraded in place to 1.37.2: 50000 requests in 200.0 s (250/s), 2 failed, "
    "versions seen {1.0: 49998}, longest gap between answers 1200 ms; per node: w1 62.5/s; the "
    "change took 180.0 s"
)
FAILED = [
    (
        "  61.250 s  node kubelab-worker1 (172.30.0.11:30080) during kubelab-worker1: drain: "
        "connection refused"
    ),
    (
        "  61.254 s  node kubelab-worker1 (172.30.0.11:30080) during kubelab-worker1: drain: "
        "connection refused"
    ),
]


def _scenario(test: str, name: str, when: str, failed: list[str] | None = None) -> dict[str, Any]:
    """A scenario as kubelab's cucumber JSON has it (kubelab.report.cucumber), its When step with
    the failed requests it recorded as its output."""
    from kubelab import change

    output = [f"{change.FAILED_REQUESTS}\n" + "\n".join(failed)] if failed else []
    steps = [
        {"keyword": "When", "name": when, "result": {"status": "passed"}, "output": output},
        {"keyword": "Then", "name": "no request failed during the change", "result": {}},
    ]
    steps[1]["result"]["status"] = "failed" if failed else "passed"
    return {"keyword": "Scenario", "id": test, "name": name, "type": "scenario", "steps": steps}


def _write_phase(
    reports: Path, phase: str, elements: list[dict[str, Any]], junit: str = ""
) -> None:
    out = reports / phase
    out.mkdir(parents=True, exist_ok=True)
    feature = {"keyword": "Feature", "name": CHANGE_FEATURE, "elements": elements}
    (out / "cucumber.json").write_text(json.dumps([feature]))
    if junit:
        (out / "junit.xml").write_text(junit)


def _gate_with_phases(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    change_phase: Callable[[Path], int],
    output: str = "",
) -> int:
    """A local gate whose phases are stood in for: before and after pass (one lab scenario
    each), the change phase writes its reports with ``change_phase`` and exits with what it
    returns (``output``: what it printed)."""

    def run_phase(g: gateplan.GatePlan, phase: str, reports: Path, extra: list[str]) -> Any:
        if phase == "change":
            status = change_phase(reports)
        else:
            _write_phase(reports, phase, [_scenario(f"test_{phase}", "A lab scenario", "x")])
            status = 0
        return gate.phase_result(phase, status, 1.0, reports, output)

    monkeypatch.setattr(gate, "run_phase", run_phase)
    monkeypatch.setattr(gate, "_local_host", lambda g: gate.Host())
    return gate.run(gateplan.plan("local", OLD, NEW, None, None), tmp_path, [])


def test_a_change_phase_that_ran_no_change_scenario_fails_the_gate_with_a_line_saying_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, as_root_on_linux: None
) -> None:
    from kubelab import change

    def no_change(reports: Path) -> int:  # as `-m services` after `-m change` would leave it
        _write_phase(reports, "change", [_scenario("test_s", "A Service answers", "x")])
        return 0

    assert _gate_with_phases(tmp_path, monkeypatch, no_change) == 1
    text = (tmp_path / "gate.md").read_text()
    assert text.startswith("# kubelab gate: FAILED in ")
    line = (
        f"the change phase ran no change scenario (none whose When is {change.WHEN['upgrade']!r}):"
        " the change was not gated"
    )
    assert f"\n{line}\n" in text


def test_a_phase_that_ran_no_scenario_fails_the_gate_though_it_exited_0(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, as_root_on_linux: None
) -> None:
    """As a phase run with an option that lists rather than runs would, or a conftest.py that
    deselects everything: exit 0, no scenario."""

    def run_phase(g: gateplan.GatePlan, phase: str, reports: Path, extra: list[str]) -> Any:
        if phase != "before":
            _write_phase(reports, phase, [_scenario(f"test_{phase}", "A lab scenario", "x")])
        return gate.phase_result(phase, 0, 1.0, reports, "")

    monkeypatch.setattr(gate, "run_phase", run_phase)
    monkeypatch.setattr(gate, "_kind_host", lambda g: gate.Host())
    assert gate.run(gateplan.plan("kind", OLD, NEW, None, None), tmp_path, []) == 1
    text = (tmp_path / "gate.md").read_text()
    assert text.startswith("# kubelab gate: FAILED in ")
    assert "\nthe before phase ran no scenario: nothing was gated there\n" in text
    assert "the after phase ran no scenario" not in text


def test_a_change_phase_whose_change_scenario_did_not_pass_fails_the_gate_though_it_exited_0(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, as_root_on_linux: None
) -> None:
    from kubelab import change

    def skipped(reports: Path) -> int:
        scenario = _scenario(UPGRADE_TEST, UPGRADE, change.WHEN["upgrade"])
        scenario["steps"][0]["result"]["status"] = "skipped"
        _write_phase(reports, "change", [scenario])
        return 0

    assert _gate_with_phases(tmp_path, monkeypatch, skipped) == 1
    text = (tmp_path / "gate.md").read_text()
    assert f"\nthe change scenario '{CHANGE_FEATURE}: {UPGRADE}' skipped\n" in text


def test_a_gate_whose_change_scenario_passed_passes_and_shows_the_changes_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, as_root_on_linux: None
) -> None:
    from kubelab import change

    def upgraded(reports: Path) -> int:
        junit = _junit(f'<property name="change" value="{SUMMARY}"/>')
        _write_phase(
            reports, "change", [_scenario(UPGRADE_TEST, UPGRADE, change.WHEN["upgrade"])], junit
        )
        return 0

    assert _gate_with_phases(tmp_path, monkeypatch, upgraded) == 0
    text = (tmp_path / "gate.md").read_text()
    assert text.startswith("# kubelab gate: passed in ")
    assert f"\n## The change\n\n{SUMMARY}\n" in text + "\n"
    assert "What failed" not in text


def _junit(properties: str, failure: str = "") -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">'
        f'<testcase classname="steps.test_change" name="{UPGRADE_TEST}" time="200.0">'
        f"<properties>{properties}</properties>{failure}</testcase></testsuite></testsuites>"
    )


def test_gate_md_names_each_failed_phases_first_failure_and_the_changes_failed_requests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, as_root_on_linux: None
) -> None:
    from kubelab import change

    error = (
        "EnvironmentProblem: the change './upgrade.sh' exited with status 3; its output ended: "
        "draining w1 | error: cannot evict pod"
    )
    message = "AssertionError: " + SUMMARY.split(":")[0] + ": 2 failed"

    def failed(reports: Path) -> int:
        junit = _junit(
            f'<property name="change" value="{SUMMARY}"/>'
            f'<property name="change-error" value="{error}"/>',
            f'<failure message="{message}">traceback</failure>',
        )
        scenario = _scenario(UPGRADE_TEST, UPGRADE, change.WHEN["upgrade"], FAILED)
        _write_phase(reports, "change", [scenario], junit)
        return 1

    assert _gate_with_phases(tmp_path, monkeypatch, failed) == 1
    text = (tmp_path / "gate.md").read_text()
    assert (
        f"\n## What failed first, phase by phase\n\n- change: {soak.DIAGNOSIS}: {message} [" in text
    )
    assert f"\n## The change\n\n{SUMMARY}\n\nThe change failed: {error}\n" in text
    assert "\n2 failed requests:\n\n```\n" + "\n".join(FAILED) + "\n```" in text
    page = (tmp_path / "gate.html").read_text()
    assert "The change failed: EnvironmentProblem: the change './upgrade.sh' exited" in page
    assert FAILED[0].strip() in page


def test_gate_md_lists_the_first_failed_requests_and_says_where_the_rest_are() -> None:
    many = tuple(
        f"{n:8.3f} s  node w1 (10.0.0.2:30080) during w1: drain: refused" for n in range(45)
    )
    section = gatereport.change_section(gatereport.ChangeFound("F: s", "failed", "sum", "", many))
    assert "45 failed requests (the first 20; all in change/lab.html):" in section
    assert section.count("during w1: drain") == gatereport.SHOWN_REQUESTS == 20


def test_the_properties_the_change_records_are_read_back_from_pytests_junit(
    pytester: pytest.Pytester,
) -> None:
    from kubelab import change

    pytester.makepyfile(
        test_recorded=(
            "def test_one(record_property):\n"
            f"    record_property({change.SUMMARY_PROPERTY!r}, 'a summary')\n"
            f"    record_property({change.ERROR_PROPERTY!r}, 'exited with status 3')\n"
        )
    )
    junit = pytester.path / "junit.xml"
    pytester.runpytest("-p", "no:kubelab", f"--junitxml={junit}", "-o", "junit_family=xunit1")
    assert gatereport.junit_properties(junit) == {
        "test_one": {"change": "a summary", "change-error": "exited with status 3"}
    }


def test_a_phase_s_output_is_shown_kept_and_its_first_failure_named_from_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A run that fails outside any test: its kubelab line is on stderr, its JUnit file missing.
    run = (
        "import sys; print('collected 12 items', flush=True)\n"
        "print('kubelab: the local cluster did not come up: node w1 not Ready', file=sys.stderr)\n"
        "sys.exit(2)\n"
    )
    monkeypatch.setattr(gate, "pytest_argv", lambda *a: [sys.executable, "-c", run])
    chosen = gateplan.plan("kind", OLD, NEW, None, None)
    result = gate.run_phase(chosen, "before", tmp_path, [])
    said = "kubelab: the local cluster did not come up: node w1 not Ready"
    assert result.first_failure == f"{soak.DIAGNOSIS}: {said}"
    assert (tmp_path / "before.log").read_text().splitlines() == ["collected 12 items", said]
    shown = capsys.readouterr().out
    assert "collected 12 items\n" in shown
    assert f"{said}\n" in shown
    page = gatereport.html("# kubelab gate", tmp_path, ["before"])
    assert '(its output: <a href="before.log">before.log</a>)' in page


def _upgrade(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    restart: Callable[[str, str], None] = lambda node, action: None,
    uncordon: Callable[[str], None] = lambda node: None,
    serving: Callable[[str, str], None] = lambda node, action: None,
) -> tuple[Any, list[tuple[str, bool]]]:
    """An upgrade of cp, w1, w2 from OLD to NEW with the cluster stood in for: ``restart``
    in place of restarting a component, ``uncordon`` called as a node is uncordoned,
    ``serving`` in place of waiting for a restarted component to serve; the cordons and
    uncordons, in order."""
    from kubelab import upgrade

    nodes = [SimpleNamespace(name="cp", control_plane=True)] + [
        SimpleNamespace(name=n, control_plane=False) for n in ("w1", "w2")
    ]
    cluster = SimpleNamespace(k8s_version=releases.choose(OLD).version, nodes=lambda: nodes)
    cordons: list[tuple[str, bool]] = []

    def set_unschedulable(kube: Any, node: str, cordon: bool) -> None:
        if not cordon:
            uncordon(node)
        cordons.append((node, cordon))

    monkeypatch.setattr(upgrade.drain, "set_unschedulable", set_unschedulable)
    monkeypatch.setattr(upgrade.drain, "drain", lambda kube, node, say: None)
    monkeypatch.setattr(
        upgrade.changing, "restart_component", lambda c, node, action, bins: restart(node, action)
    )
    monkeypatch.setattr(
        upgrade.Upgrade, "_wait_serving", lambda self, step, t: serving(step.node, step.action)
    )
    for method in ("_check_skew", "_upgrade_coredns"):
        monkeypatch.setattr(upgrade.Upgrade, method, lambda *args: None)
    built = SimpleNamespace(bins=None)
    return upgrade.Upgrade(cluster, None, releases.choose(NEW), built), cordons  # type: ignore[arg-type]


def _interrupt_at(node: str, action: str) -> Callable[[str, str], None]:
    def interrupt(at_node: str, at_action: str) -> None:
        if (at_node, at_action) == (node, action):
            raise KeyboardInterrupt

    return interrupt


@pytest.mark.parametrize(
    ("where", "w1"),
    [
        ("restart", "w1 between releases (kubelet stopped, kube-proxy {old})"),
        ("serving", "w1 between releases (kubelet {new}, kube-proxy {old})"),
    ],
)
def test_a_component_interrupted_between_its_stop_and_its_start_is_reported_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str, w1: str
) -> None:
    from kubelab import change

    old, new = releases.choose(OLD).version, releases.choose(NEW).version
    up, cordons = _upgrade(tmp_path, monkeypatch, **{where: _interrupt_at("w1", "kubelet")})
    with pytest.raises(KeyboardInterrupt):
        up.run(change.Progress(reports=tmp_path))
    assert cordons[-2:] == [("w1", True), ("w1", False)]
    assert change.stopped(tmp_path) == [
        "w1: uncordoned (the upgrade stopped)",
        (
            f"the upgrade stopped: the cluster is between releases: cp at {new}; "
            f"{w1.format(old=old, new=new)}; w2 at {old}"
        ),
    ]


def test_an_uncordon_that_fails_after_the_upgrade_stopped_names_the_node_left_cordoned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kubelab import change
    from kubelab.errors import EnvironmentProblem

    def refused(node: str) -> None:
        if node == "w1":  # cp's own uncordon step went through
            raise EnvironmentProblem("the API server at https://172.30.0.10:6443 does not answer")

    up, _ = _upgrade(
        tmp_path, monkeypatch, restart=_interrupt_at("w1", "kube-proxy"), uncordon=refused
    )
    with pytest.raises(KeyboardInterrupt):  # the interrupt goes on, not the uncordon's error
        up.run(change.Progress(reports=tmp_path))
    assert change.stopped(tmp_path)[0] == (
        "w1: still cordoned: the uncordon failed (EnvironmentProblem: the API server at "
        "https://172.30.0.10:6443 does not answer); run `kubectl uncordon w1`"
    )


def test_a_second_ctrl_c_does_not_cut_the_uncordon_after_an_interrupted_upgrade_short(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import os
    import signal
    import time

    from kubelab import change

    def interrupted_again(node: str) -> None:
        if node == "w1":  # a second Ctrl-C as the node is uncordoned after the first
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.2)

    up, cordons = _upgrade(
        tmp_path, monkeypatch, restart=_interrupt_at("w1", "kubelet"), uncordon=interrupted_again
    )
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal
    try:
        with pytest.raises(KeyboardInterrupt):
            up.run(change.Progress(reports=tmp_path))
    finally:
        signal.signal(signal.SIGINT, previous)
    assert cordons[-1] == ("w1", False)
    assert change.stopped(tmp_path)[0] == "w1: uncordoned (the upgrade stopped)"
    assert "kubelab: still cleaning up; it ends by itself" in capsys.readouterr().err


def _node(name: str, kubelet: str) -> dict[str, Any]:
    """A node as the API server lists it, its kubelet reporting ``kubelet``."""
    info = dict.fromkeys(
        (
            "architecture",
            "bootID",
            "containerRuntimeVersion",
            "kernelVersion",
            "kubeProxyVersion",
            "machineID",
            "operatingSystem",
            "osImage",
            "systemUUID",
        ),
        "",
    )
    return {
        "metadata": {"name": name},
        "spec": {},
        "status": {"nodeInfo": {**info, "kubeletVersion": kubelet}},
    }


def test_the_skew_check_records_a_kubelet_newer_than_the_api_server(tmp_path: Path) -> None:
    from kubelab import upgrade
    from kubelab.client import Kube

    older, old, new = (f"v{r.version}" for r in releases.RELEASES[-3:])
    with stand_in_api.serve() as api:
        api.version["gitVersion"] = old
        api.nodes = [_node("cp", old), _node("w1", new), _node("w2", older)]
        kube = Kube.from_kubeconfig(stand_in_api.kubeconfig(tmp_path, api.url))
        cluster = SimpleNamespace(k8s_version=old.lstrip("v"))
        target = releases.choose(new.lstrip("v"))
        up = upgrade.Upgrade(cluster, kube, target, None)  # type: ignore[arg-type]
        up._check_skew(upgrade.Step("w1", "kubelet"))
        minor = releases.RELEASES[-1].minor
        assert up.skew_seen == [
            f"after w1 kubelet: kubelet of w1 1.{minor}, API server 1.{minor - 1}"
        ]
        api.version["gitVersion"] = new  # the API server upgraded: no kubelet is newer
        up._check_skew(upgrade.Step("cp", "kube-apiserver"))
        assert len(up.skew_seen) == 1


def _pod(name: str, node: str) -> dict[str, Any]:
    """A web pod of a ReplicaSet, bound to ``node``."""
    owner = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-1", "uid": "u"}
    return {
        "metadata": {
            "name": name,
            "namespace": "lab",
            "ownerReferences": [{**owner, "controller": True}],
        },
        "spec": {"nodeName": node, "containers": [{"name": "web"}]},
        "status": {"phase": "Running"},
    }


@pytest.fixture
def pods(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Any]]:
    """The stand-in API server with web-a and web-b on w1 and web-c on w2, and a client of it;
    the drain asks again at once after a refusal."""
    from kubelab import drain
    from kubelab.client import Kube

    monkeypatch.setattr(drain, "EVICT_AGAIN", 0.05)
    with stand_in_api.serve() as api:
        for name, node in (("web-a", "w1"), ("web-b", "w1"), ("web-c", "w2")):
            api.objects[f"/api/v1/namespaces/lab/pods/{name}"] = _pod(name, node)
        yield api, Kube.from_kubeconfig(stand_in_api.kubeconfig(tmp_path, api.url))


def test_a_drain_asks_again_while_a_disruption_budget_refuses_an_eviction(
    pods: tuple[Any, Any],
) -> None:
    from kubelab import drain

    api, kube = pods
    web_a = "/api/v1/namespaces/lab/pods/web-a"
    api.refusals[web_a] = 2  # the budget allows it at the third ask
    said: list[str] = []
    found = drain.drain(kube, "w1", say=said.append, timeout=30)
    assert found.evict == [("lab", "web-a"), ("lab", "web-b")]
    assert api.evictions == [web_a] * 3 + ["/api/v1/namespaces/lab/pods/web-b"]
    assert said == [
        "w1: evicting lab/web-a would break its PodDisruptionBudget; waiting",
        "w1: evicted lab/web-a",
        "w1: evicted lab/web-b",
    ]
    assert sorted(api.objects) == ["/api/v1/namespaces/lab/pods/web-c"]  # w2's stays


def test_a_drain_a_disruption_budget_refuses_past_its_timeout_ends_in_one_line(
    pods: tuple[Any, Any],
) -> None:
    from kubelab import drain
    from kubelab.errors import WaitTimeout

    api, kube = pods
    api.refusals["/api/v1/namespaces/lab/pods/web-a"] = 200  # 10 s of refusals: past 1 s
    with pytest.raises(WaitTimeout) as late:
        drain.drain(kube, "w1", say=lambda line: None, timeout=1.0)
    refused = api.evictions.count("/api/v1/namespaces/lab/pods/web-a")
    assert refused > 2
    assert str(late.value) == (
        f"evicting lab/web-a from w1: its PodDisruptionBudget refused it {refused} times within 1 s"
    )
    assert "/api/v1/namespaces/lab/pods/web-b" in api.objects  # nothing evicted past the refusal
