"""`kubelab images`: bad input ends with one line and a non-zero exit, no traceback."""

from __future__ import annotations

from pathlib import Path

from tests.cli import kubelab_cli


def test_a_missing_app_directory_is_one_line(tmp_path: Path) -> None:
    result = kubelab_cli("images", "build", "--app-dir", str(tmp_path / "nope"))
    assert (result.returncode, result.stderr) == (
        1,
        f"kubelab: {tmp_path / 'nope' / 'Dockerfile'} does not exist: pass --app-dir\n",
    )


def test_a_registry_that_does_not_answer_is_one_line() -> None:
    result = kubelab_cli("images", "push", "127.0.0.1:9", "--plain-http")
    last = result.stderr.strip().splitlines()[-1]
    assert "Traceback" not in result.stderr, result.stderr
    assert (result.returncode, result.stdout) == (1, ""), result.stderr
    assert last == (
        "kubelab: registry 127.0.0.1:9 does not answer (connection refused); "
        "is it running and serving plain HTTP?"
    )
