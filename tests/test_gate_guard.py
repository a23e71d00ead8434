"""What guards the gate and its neighbours: a reports directory that holds the project refused
by each command that moves an earlier run's files aside; extra pytest options that would change
what a phase runs refused before anything starts; a change phase that never ran the change
failing the gate; the gate's own report naming what failed; an interrupted upgrade leaving no
node cordoned or misreported; the upgrade's skew check and the drain's answers to a
PodDisruptionBudget, against the stand-in API server of tests/stand_in_api.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubelab import gate, gateplan, soak
from kubelab.errors import UsageError
from kubelab.report import refuse_reports_dir


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
    chosen = gateplan.plan("kind", "1.36", "1.37", None, None)
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
    change, source = (None, "1.36") if cluster == "local" else ("true", None)
    with pytest.raises(UsageError) as refused:
        gateplan.plan(cluster, source, None, tmp_path / "kubeconfig", change, extra)
    assert str(refused.value) == line


def test_the_local_gate_refuses_other_workers_the_kind_gate_takes_them(
    as_root_on_linux: None,
) -> None:
    for extra in (["--workers", "2"], ["--workers=2"], ["--kubelab-workers", "2"]):
        with pytest.raises(UsageError) as refused:
            gateplan.plan("local", "1.36", "1.37", None, None, extra)
        assert str(refused.value) == (
            f"{' '.join(extra)} after --: the local gate boots its cluster, with kubelab's "
            "default workers, before the first phase; every phase runs on it"
        )
    assert gateplan.plan("kind", "1.36", "1.37", None, None, ["--workers", "2"]).cluster == "kind"


def test_extra_options_that_change_nothing_the_gate_decides_are_taken(
    as_root_on_linux: None,
) -> None:
    fine = ["-x", "-rm", "-vv", "-o", "log_cli=true", "--wait-timeout=60", "--tb", "short"]
    fine += ["-n", "2", "--web-image", "registry/web:1", "-p", "no:randomly", "--kube-context=c"]
    assert gateplan.plan("local", "1.36", "1.37", None, None, fine).cluster == "local"


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
        gateplan.plan("local", "1.36", "1.37", None, None)
    assert str(refused.value) == line
    assert gateplan.plan("kind", "1.36", "1.37", None, None).cluster == "kind"  # no root needed


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
