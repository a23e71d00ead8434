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
