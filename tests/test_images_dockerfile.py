"""The local builder reads app/Dockerfile itself and refuses what it cannot honour."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubelab.errors import UsageError
from kubelab.images import dockerfile

APP = Path(__file__).resolve().parents[1] / "app"


def test_app_dockerfile_plans_the_web_image_for_each_version() -> None:
    for version in ("1.0", "2.0"):
        plan = dockerfile.load_plan(APP, {"VERSION": version})
        config = plan.image_config().to_json()
        assert plan.base == "python:3.11-slim"
        assert f"APP_VERSION={version}" in config["Env"]
        assert "PYTHONUNBUFFERED=1" in config["Env"]
        assert config["User"] == "10001"
        assert config["WorkingDir"] == "/app"
        assert config["ExposedPorts"] == {"5000/tcp": {}}
        assert config["Cmd"] == ["gunicorn", "--config", "/app/gunicorn.conf.py", "app:app"]
        assert sorted(plan.copy_sources) == ["app.py", "gunicorn.conf.py", "requirements.txt"]
        kinds = [s.instruction.keyword for s in plan.steps]
        assert kinds == ["WORKDIR", "COPY", "RUN", "COPY", "RUN"]


def test_run_sees_build_args_and_env_but_build_args_do_not_persist() -> None:
    plan = dockerfile.load_plan(APP, {"VERSION": "2.0"})
    run = next(s for s in plan.steps if s.instruction.keyword == "RUN")
    assert run.env["VERSION"] == "2.0"
    assert run.env["APP_VERSION"] == "2.0"
    assert run.args[:2] == ["/bin/sh", "-c"]
    assert not any(e.startswith("VERSION=") for e in plan.image_config().env)


def test_default_build_arg_is_used_when_none_is_given() -> None:
    plan = dockerfile.load_plan(APP, {})
    assert plan.env["APP_VERSION"] == "1.0"


def test_copy_destination_resolves_against_workdir() -> None:
    text = "FROM python:3.11-slim\nWORKDIR /srv\nWORKDIR sub\nCOPY a.txt b/\n"
    plan = dockerfile.plan(dockerfile.parse(text), {})
    assert plan.steps[-1].args == ["a.txt", "/srv/sub/b/"]


def test_unsupported_instruction_is_refused_with_its_line_number() -> None:
    text = "FROM python:3.11-slim\n# comment\nRUN true \\\n  && true\nHEALTHCHECK CMD true\n"
    with pytest.raises(UsageError, match=r"line 5: HEALTHCHECK is not supported"):
        dockerfile.parse(text)


def test_other_base_images_are_refused() -> None:
    with pytest.raises(UsageError, match=r"line 1: FROM alpine:3"):
        dockerfile.plan(dockerfile.parse("FROM alpine:3\n"), {})


def test_undeclared_build_arg_is_refused() -> None:
    with pytest.raises(UsageError, match="NOPE"):
        dockerfile.load_plan(APP, {"NOPE": "1"})


def test_copy_flags_are_refused_with_line() -> None:
    text = "FROM python:3.11-slim\nCOPY --from=build /x /y\n"
    with pytest.raises(UsageError, match="line 2"):
        dockerfile.plan(dockerfile.parse(text), {})


def test_substitution_forms() -> None:
    scope = {"A": "x", "E": ""}
    assert dockerfile.substitute("$A-${A}-${B:-d}-${E:-e}-$B.", scope) == "x-x-d-e-."


def test_inputs_hash_follows_copied_files_and_args(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM python:3.11-slim\nARG V=1\nENV X=${V}\nCOPY f /f\n")
    (tmp_path / "f").write_text("one")
    (tmp_path / "unrelated").write_text("u")
    first = dockerfile.inputs_hash(tmp_path, {"V": "1"})
    assert dockerfile.inputs_hash(tmp_path, {"V": "2"}) != first
    (tmp_path / "unrelated").write_text("changed")
    assert dockerfile.inputs_hash(tmp_path, {"V": "1"}) == first
    (tmp_path / "f").write_text("two")
    assert dockerfile.inputs_hash(tmp_path, {"V": "1"}) != first
