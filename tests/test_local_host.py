"""Host checks and process bookkeeping of the local provider (no cluster, no root needed)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
from pathlib import Path

import pytest

from kubelab import commands
from kubelab.cluster.local import LocalCluster, hostdeps, proc, teardown
from kubelab.cluster.local import cluster as cluster_module
from kubelab.errors import EnvironmentProblem
from kubelab.hostpkgs import install
from kubelab.waits import SHORT, wait_until


def test_missing_programs_map_to_debian_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        hostdeps.shutil, "which", lambda prog: None if prog == "conntrack" else "/x"
    )
    monkeypatch.setattr(hostdeps, "CNI_DIR", Path("/nonexistent"))
    pkgs = hostdeps.missing_packages()
    assert "conntrack" in pkgs
    assert "containernetworking-plugins" in pkgs
    assert "runc" not in pkgs


def test_not_debian_names_the_exact_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hostdeps, "check_platform", lambda: None)
    monkeypatch.setattr(hostdeps, "missing_packages", lambda: ["conntrack", "runc"])
    monkeypatch.setattr("kubelab.hostpkgs._is_debian", lambda: False)
    with pytest.raises(EnvironmentProblem, match=r"apt-get install -y conntrack runc"):
        hostdeps.ensure_host_packages()


def test_non_root_is_a_one_line_environment_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hostdeps.sys, "platform", "linux")
    monkeypatch.setattr(hostdeps.os, "geteuid", lambda: 1000)
    with pytest.raises(EnvironmentProblem) as err:
        hostdeps.check_platform()
    assert "root" in str(err.value)
    assert "\n" not in str(err.value)


def test_not_linux_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hostdeps.sys, "platform", "darwin")
    with pytest.raises(EnvironmentProblem, match="Linux"):
        hostdeps.check_platform()


def test_started_processes_are_recorded_and_stopped(tmp_path: Path) -> None:
    argv = [sys.executable, "-c", "import time; time.sleep(60)"]
    pid = proc.start("w1-sleeper", argv, tmp_path / "logs" / "w1-sleeper.log", tmp_path / "pids")
    assert proc.records(tmp_path / "pids")["w1-sleeper"]["pid"] == pid
    assert proc.dead(tmp_path / "pids") == []
    proc.stop(tmp_path / "pids", ["w1-sleeper"])
    assert proc.records(tmp_path / "pids") == {}
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()


# A process whose first thread exits while another still holds a listening port (and ignores
# SIGTERM, as a thread still tearing the process down does not answer it): what a Go component's
# exit looks like for a moment, its first thread a zombie, its port not yet closed.
FIRST_THREAD_GONE = """
import ctypes, signal, socket, threading, time
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
held = socket.socket()
held.bind(("127.0.0.1", 0))
held.listen()
print(held.getsockname()[1], flush=True)
threading.Thread(target=time.sleep, args=(3600,)).start()
ctypes.CDLL(None).pthread_exit(None)
"""


def _bind(port: int) -> None:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen()


def test_a_process_is_stopped_only_once_every_thread_has_exited(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A replacement started on the same port must find it free once stop returns."""
    monkeypatch.setattr(proc, "STOP_TIMEOUT", 0.5)
    log, pids = tmp_path / "held.log", tmp_path / "pids"
    pid = proc.start("cp-held", [sys.executable, "-c", FIRST_THREAD_GONE], log, pids)
    try:
        port = wait_until(log.read_text, str.strip, timeout=10, what="the port")
        wait_until(
            lambda: commands.process_state(pid),
            lambda state: state == "Z",
            timeout=10,
            what="the first thread to exit",
        )
        with pytest.raises(OSError, match="Address already in use"):
            _bind(int(port))
        assert proc.dead(pids) == []
        proc.stop(pids, ["cp-held"])
        _bind(int(port))
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def test_run_reports_the_failing_command() -> None:
    with pytest.raises(EnvironmentProblem, match=r"sh -c exit 3 failed with exit 3"):
        commands.run(["sh", "-c", "exit 3"])


def test_apt_output_goes_to_stderr_never_stdout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """stdout carries a command's result (`kubelab images push` prints the lab's options there):
    installing a missing package on a fresh machine must not add dpkg's lines to it. A stand-in
    apt-get (named as such) prints what the real one prints on stdout."""
    fake = tmp_path / "apt-get"
    fake.write_text("#!/bin/sh\necho 'Unpacking debootstrap (stand-in apt-get) ...'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    monkeypatch.setattr("kubelab.hostpkgs.os.geteuid", lambda: 0)
    monkeypatch.setattr("kubelab.hostpkgs._is_debian", lambda: True)
    install(["debootstrap"], "a test")
    out, err = capfd.readouterr()
    assert out == ""
    assert "Unpacking debootstrap (stand-in apt-get)" in err
    assert "[hostdeps] installing debootstrap for a test" in err


def _boots_beside_the_survivor() -> None:
    raise AssertionError("up went on to boot a cluster beside a process down could not stop")


def test_a_process_that_survives_sigkill_keeps_its_record_and_blocks_the_next_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`down` must not forget a process it could not stop: with its record gone, the next `up`
    would boot beside it (or blame another state directory) and the next `down` would not try
    again. Stand-in for a process in uninterruptible sleep (state D), which no signal ends:
    kubelab's signals are not delivered. The host's network is not this test's business; the
    cluster's name is its own, so no real cluster's files or processes are touched."""
    monkeypatch.setenv("KUBELAB_STATE_DIR", str(tmp_path))
    cluster = LocalCluster(name="ksurvivor", workers=1)
    layout = cluster.layout
    argv = [sys.executable, "-c", "import time; print('asleep', flush=True); time.sleep(60)"]
    log = layout.logs / "w1-kubelet.log"
    pid = proc.start("w1-kubelet", argv, log, layout.pids)
    layout.meta.write_text('{"name": "ksurvivor", "workers": 1}')
    wait_until(log.read_text, lambda said: "asleep" in said, timeout=SHORT, what="it to sleep")
    wait_until(lambda: commands.process_state(pid), "S".__eq__, timeout=SHORT, what="its state")
    real_kill = os.kill
    try:
        monkeypatch.setattr(teardown.network, "teardown", lambda cluster, host_state: None)
        monkeypatch.setattr(proc, "STOP_TIMEOUT", 0.2)
        monkeypatch.setattr(proc, "SHORT", 0.2)
        with monkeypatch.context() as undelivered:
            undelivered.setattr(proc.os, "kill", lambda pid, sig: None)
            undelivered.setattr(proc.os, "killpg", lambda pid, sig: None)
            with pytest.raises(EnvironmentProblem) as failed:
                teardown.teardown(layout, [])
        survivor = f"w1-kubelet, pid {pid}, state S"
        assert str(failed.value).startswith(
            f"down left something behind: {survivor} survived SIGKILL"
        )
        assert set(proc.records(layout.pids)) == {"w1-kubelet"}
        # Were up to go on, it would boot a cluster beside the survivor: stopped at its first
        # step that touches the host.
        monkeypatch.setattr(cluster_module, "ensure_host_packages", _boots_beside_the_survivor)
        with pytest.raises(EnvironmentProblem) as refused:
            cluster.up()
        assert str(refused.value).startswith(
            f"cluster ksurvivor is not whole: {survivor} survived an earlier `kubelab local down`"
        )
        assert cluster.status() == (
            f"cluster ksurvivor: taken down but {survivor} survived an earlier `kubelab local down`"
        )
        teardown.teardown(layout, [])  # once it can be stopped, the next down does it
        assert not commands.running(pid)
        assert not layout.pids.exists()
        assert log.exists()
    finally:
        with contextlib.suppress(ProcessLookupError):
            real_kill(pid, signal.SIGKILL)
