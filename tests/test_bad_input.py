"""Bad input and bad environments end the lab run before any scenario: one line, the fix, exit != 0.

The 401 and 403 cases need an API server that refuses us: tests/stand_in_api.py, a stand-in.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubelab import releases
from tests.cli import refused
from tests.stand_in_api import kubeconfig, serve

ROOT = Path(__file__).resolve().parents[1]
# From kubelab's release table: the oldest release it knows, a minor older than that (past its
# end of life: 1.34), and a patch of the newest release that kubelab does not know (1.37.99).
OLDEST = f"1.{releases.RELEASES[0].minor}"
GONE = f"1.{releases.RELEASES[0].minor - 1}"
UNKNOWN_PATCH = f"1.{releases.DEFAULT.minor}.99"


def run_lab(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "pytest", "steps", "-p", "no:cacheprovider", *args]
    return subprocess.run(
        argv,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "KUBECONFIG": "", **(env or {})},
    )


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The error the run ended with; also checks that no traceback and no scenario came first."""
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert re.search(r"\d+ (passed|failed|error)", output) is None, output
    lines = [
        line
        for line in output.splitlines()
        if "kubelab:" in line or line.startswith(("ERROR", "pytest: error"))
    ]
    assert lines, output
    return lines[0]


@pytest.fixture
def fake_api(request: pytest.FixtureRequest) -> Iterator[str]:
    """A stand-in API server (see tests/stand_in_api.py); param: (version status, allowed)."""
    status, allowed = request.param
    with serve(status, allowed) as stand_in:
        yield stand_in.url


def test_unknown_cluster_value():
    result = run_lab("--cluster=vagrant")
    assert result.returncode == 4
    assert (
        one_line_error(result)
        == "ERROR: --cluster=vagrant is not one of auto, kind, local, existing"
    )


def test_missing_kubeconfig(tmp_path):
    result = run_lab("--cluster=existing", f"--kubeconfig={tmp_path / 'nope'}")
    assert result.returncode == 2
    assert one_line_error(result).endswith(
        f"kubeconfig {tmp_path / 'nope'} does not exist; pass --kubeconfig or set KUBECONFIG !"
    )


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["-k", "chapter and"], "ERROR: Wrong expression passed to '-k': chapter and:"),
        (["-m", "lab or"], "ERROR: Wrong expression passed to '-m': lab or:"),
        (["steps/no_such_chapter.py"], "ERROR: file or directory not found: steps/no_such"),
    ],
)
def test_a_failed_collection_reaches_no_cluster(tmp_path, args, said):
    """pytest calls pytest_collection_finish even when the collection failed: kubelab must not
    reach (or boot) a cluster then. The missing kubeconfig is what it would say if it did."""
    result = run_lab("--cluster=existing", f"--kubeconfig={tmp_path / 'nope'}", *args)
    assert result.returncode == 4
    assert one_line_error(result).startswith(said)
    assert "kubelab:" not in result.stdout + result.stderr


def test_a_release_asked_of_an_existing_cluster(tmp_path):
    newest = f"1.{releases.DEFAULT.minor}"
    result = run_lab(
        "--cluster=existing", f"--kubeconfig={tmp_path / 'config'}", f"--k8s-version={newest}"
    )
    assert result.returncode != 0
    said = f"--k8s-version {newest}: kubelab runs on the existing cluster of"
    assert said in one_line_error(result)


def test_malformed_kubeconfig(tmp_path):
    bad = tmp_path / "kubeconfig"
    bad.write_text("clusters: [this is not: a kubeconfig\n")
    result = run_lab("--cluster=existing", f"--kubeconfig={bad}")
    assert result.returncode == 2
    assert f"kubeconfig {bad} is not usable" in one_line_error(result)


def test_unreachable_api_server(tmp_path):
    result = run_lab(
        "--cluster=existing", f"--kubeconfig={kubeconfig(tmp_path, 'https://127.0.0.1:9')}"
    )
    assert result.returncode == 2
    assert "cannot reach the API server at https://127.0.0.1:9" in one_line_error(result)


@pytest.mark.parametrize("fake_api", [(401, True)], indirect=True)
def test_rejected_credentials(tmp_path, fake_api):
    result = run_lab("--cluster=existing", f"--kubeconfig={kubeconfig(tmp_path, fake_api)}")
    assert result.returncode == 2
    assert "rejected the credentials in the kubeconfig (401 Unauthorized)" in one_line_error(result)


@pytest.mark.parametrize("fake_api", [(200, False)], indirect=True)
def test_rbac_forbids_namespace_creation(tmp_path, fake_api):
    result = run_lab("--cluster=existing", f"--kubeconfig={kubeconfig(tmp_path, fake_api)}")
    assert result.returncode == 2
    assert "does not allow these credentials to create namespaces (RBAC)" in one_line_error(result)


def test_kind_without_docker(tmp_path):
    # Not root (stand-in, as below): kubelab cannot start a Docker engine of its own.
    (tmp_path / "pretend_not_root.py").write_text("import os\nos.geteuid = lambda: 1000\n")
    result = run_lab(
        "--cluster=kind",
        "-p",
        "pretend_not_root",
        env={"PYTHONPATH": str(tmp_path), "DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock"},
    )
    assert result.returncode == 2
    assert "--cluster=kind needs a Docker engine and none answers" in one_line_error(result)


def test_local_without_root(tmp_path):
    # Stand-in for a non-root user: a plugin that makes os.geteuid() answer 1000 in the run
    # (a real unprivileged user cannot use this machine's root-owned Python).
    (tmp_path / "pretend_not_root.py").write_text("import os\nos.geteuid = lambda: 1000\n")
    result = run_lab("--cluster=local", "-p", "pretend_not_root", env={"PYTHONPATH": str(tmp_path)})
    assert result.returncode == 2
    assert (
        "--cluster=local runs Kubernetes as processes on this host and needs Linux and root"
        in one_line_error(result)
    )


def test_wait_timeout_shorter_than_any_step():
    result = run_lab("--wait-timeout=2")
    assert result.returncode == 4
    assert "--wait-timeout=2 is shorter than a pod can ever take" in one_line_error(result)


@pytest.mark.parametrize(
    ("options", "said"),
    [
        (("--cluster-change=bogus",), "ERROR: --cluster-change=bogus is not one of "),
        (("--cluster-change=command",), "ERROR: --cluster-change=command needs the command"),
        (("--change-timeout=0",), "ERROR: --change-timeout must be a positive number of seconds"),
    ],
)
def test_a_change_asked_wrongly(options: tuple[str, ...], said: str) -> None:
    # A kubeconfig that does not exist: were the option let through, the run would end on that.
    result = run_lab("--cluster=existing", "--kubeconfig=/nonexistent", *options)
    assert result.returncode == 4
    assert one_line_error(result).startswith(said)


@pytest.mark.parametrize(
    ("option", "said"),
    [
        (
            f"--k8s-version={GONE}",
            (
                f"ERROR: --k8s-version {GONE}: Kubernetes {GONE} reached end of life (it is older "
                f"than {OLDEST}, the oldest release kubelab knows); give {releases.supported()}"
            ),
        ),
        (
            "--k8s-version=banana",
            (
                f"ERROR: --k8s-version 'banana' is not a Kubernetes version: give "
                f"{releases.supported()} (a minor, or a full version such as "
                f"{releases.DEFAULT.version})"
            ),
        ),
        (
            "--proxy-mode=ipvs",
            (
                "ERROR: --proxy-mode ipvs: kube-proxy's ipvs mode is deprecated since Kubernetes 1.35 "
                "and kubelab does not offer it; give iptables or nftables"
            ),
        ),
    ],
)
def test_a_release_or_mode_not_offered(option: str, said: str) -> None:
    result = run_lab("--cluster=local", option)
    assert result.returncode == 4
    assert one_line_error(result) == said


@pytest.mark.parametrize(
    ("option", "said"),
    [
        (
            f"--k8s-version={GONE}",
            f"kubelab: --k8s-version {GONE}: Kubernetes {GONE} reached end of life",
        ),
        (
            f"--k8s-version={UNKNOWN_PATCH}",
            (
                f"kubelab: --k8s-version {UNKNOWN_PATCH}: the newest 1.{releases.DEFAULT.minor} patch "
                f"kubelab knows is {releases.DEFAULT.version}; give"
            ),
        ),
        ("--proxy-mode=ipvs", "kubelab: --proxy-mode ipvs: kube-proxy's ipvs mode is deprecated"),
    ],
)
def test_local_up_refuses_a_release_or_mode_not_offered(
    option: str, said: str, tmp_path: Path
) -> None:
    result = refused("kubelab.cli", "local", "up", option, state=tmp_path / "state")
    assert result.returncode == 1
    assert result.stderr.startswith(said), result.stderr
