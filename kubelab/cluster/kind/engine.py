"""A Docker engine for kind: the one that answers, else Debian's docker.io started for the run.

kubelab's dockerd runs with ``--iptables=false --bridge=none``: it adds no iptables chains, leaves
the FORWARD policy alone and creates no docker0, so the host's firewall (and a local cluster
booted later in the same boot) is as it was. kind's nodes need none of it: they talk on the
``kind`` bridge, the API server's published port goes through docker-proxy, and nothing leaves
the host.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from kubelab import commands, hostpkgs
from kubelab.console import say
from kubelab.errors import EnvironmentProblem
from kubelab.paths import state_dir
from kubelab.waits import MEDIUM

# Not a tier: `docker info` is the probe for an engine, and a host without one must hear so
# quickly (kubelab then starts its own dockerd).
INFO_TIMEOUT = 10.0
# kind's known-issues page: every node's systemd and kubelet take inotify instances; 128 (this
# host's default) runs out with four nodes.
INOTIFY = {"fs/inotify/max_user_instances": 512, "fs/inotify/max_user_watches": 524288}
DOCKERD_FLAGS = ("--iptables=false", "--ip-masq=false", "--bridge=none")


def docker_answers() -> bool:
    """A Docker engine answers on this host (``docker info`` succeeds within 10 s)."""
    if shutil.which("docker") is None:
        return False
    try:
        return commands.query(["docker", "info"], timeout=INFO_TIMEOUT) is not None
    except (commands.CommandFailed, OSError):
        return False


def full_bounding_set() -> bool:
    """This process may hold every capability the kernel knows (its bounding set is full)."""
    last = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    with open("/proc/self/status") as f:
        mask = next(int(line.split()[1], 16) for line in f if line.startswith("CapBnd:"))
    return mask & ((1 << (last + 1)) - 1) == (1 << (last + 1)) - 1


@dataclass
class DockerEngine:
    """The engine kind uses; ``ensure`` starts kubelab's own when none answers, ``stop`` ends it."""

    workdir: Path = field(default_factory=lambda: state_dir() / "docker")
    started_here: bool = False
    _saved_sysctls: dict[str, str] = field(default_factory=dict)

    @property
    def pidfile(self) -> Path:
        return self.workdir / "dockerd.pid"

    @property
    def log_file(self) -> Path:
        return self.workdir / "dockerd.log"

    def kubelabs(self) -> int | None:
        """The pid of a dockerd kubelab started (this run or a kept one), if it runs."""
        try:
            pid = int(self.pidfile.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if commands.running(pid) else None

    def cgroup_version(self) -> str:
        """The engine's cgroup version ("1" or "2"), as ``docker info`` reports it."""
        return commands.run(
            ["docker", "info", "--format", "{{.CgroupVersion}}"], timeout=INFO_TIMEOUT
        ).strip()

    def ensure(self) -> None:
        """A Docker engine answers afterwards; as root on Linux, install and start one if needed."""
        if docker_answers():
            return
        if os.geteuid() != 0 or not Path("/proc/self/mountinfo").exists():
            raise EnvironmentProblem(
                "--cluster=kind needs a Docker engine and none answers (`docker info` failed); "
                "start Docker, or run as root on Linux (kubelab then starts Debian's docker.io), "
                "or use --cluster=existing"
            )
        hostpkgs.ensure_programs(
            {"dockerd": "docker.io", "docker": "docker.io"}, "--cluster=kind (a Docker engine)"
        )
        self.start()

    def start(self) -> None:
        """Start dockerd (no iptables changes) and wait until it answers (120 s)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._raise_sysctls()
        flags = [*DOCKERD_FLAGS, f"--pidfile={self.workdir / 'dockerd.docker.pid'}"]
        if not full_bounding_set():
            # Docker 20.10 asks runc for every capability in a privileged container (each
            # kind node); where root's bounding set lacks one, runc cannot start it.
            wrapper = self.workdir / "kubelab-runc"
            wrapper.write_bytes(
                resources.files("kubelab.cluster.kind")
                .joinpath("files", "kubelab-runc")
                .read_bytes()
            )
            wrapper.chmod(0o755)
            flags += [f"--add-runtime=kubelab-runc={wrapper}", "--default-runtime=kubelab-runc"]
        say("[kind] starting dockerd (Debian's docker.io) for this run")
        proc = commands.spawn(["dockerd", *flags], output=self.log_file)
        self.pidfile.write_text(f"{proc.pid}\n")
        self.started_here = True
        deadline = time.monotonic() + MEDIUM
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                self.stop()
                raise EnvironmentProblem(
                    f"dockerd exited with status {proc.returncode} while starting "
                    f"(log: {self.log_file})"
                )
            if docker_answers():
                return
            time.sleep(0.5)
        self.stop()
        raise EnvironmentProblem(
            f"dockerd did not answer within {MEDIUM:.0f} s (log: {self.log_file})"
        )

    def stop(self) -> None:
        """Stop the dockerd kubelab started (its containerd with it); restore the sysctls."""
        pid = self.kubelabs()
        if pid is not None:
            say("[kind] stopping dockerd")
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + MEDIUM
            while commands.running(pid) and time.monotonic() < deadline:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)
                time.sleep(0.2)
            if commands.running(pid):
                os.killpg(pid, signal.SIGKILL)
        self.pidfile.unlink(missing_ok=True)
        self.started_here = False
        self._restore_sysctls()

    def _raise_sysctls(self) -> None:
        saved = self.workdir / "sysctls"
        for key, wanted in INOTIFY.items():
            path = Path("/proc/sys") / key
            current = path.read_text().strip()
            if int(current) < wanted:
                self._saved_sysctls[key] = current
                path.write_text(str(wanted))
        if self._saved_sysctls and not saved.exists():
            saved.write_text("".join(f"{k}={v}\n" for k, v in self._saved_sysctls.items()))

    def _restore_sysctls(self) -> None:
        saved = self.workdir / "sysctls"
        if saved.exists():
            for line in saved.read_text().splitlines():
                key, _, value = line.partition("=")
                (Path("/proc/sys") / key).write_text(value)
            saved.unlink()
